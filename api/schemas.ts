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
      fields: z
        .array(z.string())
        .optional()
        .openapi({ description: 'JSON paths at fault, e.g. records[3].input.summary' }),
    }),
  })
  .openapi('Error')

/** An error response of the OpenAPI description. */
export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorResponse } },
})

/** The 401 and 403 every route behind a token can answer. */
export const authResponses = (scope: string) => ({
  401: errorResponse('No valid API token'),
  403: errorResponse(`The token lacks the ${scope} scope`),
})
