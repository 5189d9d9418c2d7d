/**
 * @module api/schemas
 * Shapes shared by several routes (for validation and the OpenAPI description).
 */
import { z } from '@hono/zod-openapi'
import { ERROR_CODES } from '../core/errors.js'

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      fields: z.array(z.string()).optional().openapi({ description: 'JSON paths at fault, e.g. records[3].input.summary' }),
    }),
  })
  .openapi('Error')
