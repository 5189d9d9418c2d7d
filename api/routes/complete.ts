/**
 * @module api/routes/complete
 * `POST /v1/tasks/{task}/complete`: gateway mode. Kaizen resolves the version for the routing key,
 * renders it, calls the provider, records the call as traffic and returns the output
 * (serving/gateway.ts). A failed model call is recorded too and answered 502 (refused) or 503
 * (unreachable) with the traffic id in the error message. A call made while the database stayed
 * unavailable is still answered, with `recorded: false` and the header `Kaizen-Recorded: false`,
 * and counted in `kaizen_gateway_records_lost_total`. Needs the `ingest` scope (it writes traffic).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { isKaizenError } from '../../core/errors.js'
import type { Gateway } from '../../serving/gateway.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import type { ApiMetrics } from '../metrics.js'
import { authResponses, errorResponse } from '../schemas.js'

const CompleteRequest = z
  .object({
    key: z.string().min(1).max(500).openapi({
      description: 'Sticky routing key (user, session or tenant id): the same key keeps its arm during a canary.',
    }),
    input: z
      .record(z.string(), z.string().max(100_000))
      .optional()
      .openapi({ description: "The prompt template's input variables." }),
    id: z.string().min(1).max(200).optional().openapi({
      description:
        'Idempotency key (unique per task): a repeated request is answered from its record, with no second model call.',
    }),
    simulation: z
      .object({ exampleKey: z.string().min(1).max(500) })
      .strict()
      .optional()
      .openapi({
        description: 'Simulated models (sim-*) only: the scenario case to answer; its input replaces `input`.',
      }),
  })
  .strict()
  .openapi('CompleteRequest')

const CompleteResponse = z
  .object({
    trafficId: z.string(),
    output: z.string().nullable(),
    error: z.string().nullable().openapi({ description: 'Only on a replay of a recorded failed call.' }),
    version: z.object({ id: z.string(), number: z.number().int() }),
    arm: z.enum(['baseline', 'canary']).nullable(),
    canaryId: z.string().nullable(),
    model: z.string(),
    provider: z.string(),
    simulated: z.boolean().openapi({ description: 'True when the simulation provider answered (not a real model).' }),
    usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int() }),
    latencyMs: z.number().int(),
    costUsd: z.number(),
    replayed: z.boolean(),
    recorded: z.boolean().openapi({
      description:
        'False when the model was called but the database stayed unavailable, so the call is not recorded ' +
        '(trafficId names no record; the header Kaizen-Recorded: false says the same).',
    }),
  })
  .openapi('CompleteResponse')

const route = createRoute({
  method: 'post',
  path: '/v1/tasks/{task}/complete',
  summary: 'Gateway: resolve, render, call the model, record the traffic, return the output',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ task: z.string().min(1).max(200) }),
    body: { required: true, content: { 'application/json': { schema: CompleteRequest } } },
  },
  responses: {
    200: {
      description:
        "The model's answer (recorded as traffic; when the database stayed unavailable, not recorded: " +
        '`recorded: false`, header `Kaizen-Recorded: false`)',
      headers: z.object({
        'Kaizen-Recorded': z
          .enum(['false'])
          .optional()
          .openapi({ description: 'Present (false) when the call was not recorded' }),
      }),
      content: { 'application/json': { schema: CompleteResponse } },
    },
    400: errorResponse('Malformed body, or an input variable the prompt needs is missing (named)'),
    ...authResponses('ingest'),
    404: errorResponse('Unknown task, or no production version'),
    413: errorResponse('Body too large'),
    502: errorResponse('The provider refused the call (recorded as failed traffic)'),
    503: errorResponse(
      'The provider could not be reached (recorded as failed traffic), or the database is unavailable before ' +
        'the model was called',
    ),
  },
})

export function registerComplete(
  app: OpenAPIHono<AuthEnv>,
  deps: { gateway: Gateway; tokens: TokenCache; metrics: ApiMetrics },
): void {
  app.use('/v1/tasks/:task/complete', requireScope(deps.tokens, 'ingest'))
  app.openapi(route, async (c) => {
    const { task } = c.req.valid('param')
    requireTasks(c.get('token'), [task], 'task')
    const body = c.req.valid('json')
    try {
      const r = await deps.gateway.complete(task, body, c.req.raw.signal)
      deps.metrics.gatewayCalls.inc({ arm: r.arm ?? 'none', outcome: r.replayed ? 'replayed' : 'ok' })
      if (!r.replayed) deps.metrics.gatewaySeconds.observe({ provider: r.provider }, r.latencyMs / 1000)
      if (!r.recorded) {
        deps.metrics.gatewayRecordsLost.inc({ outcome: 'ok' })
        c.header('Kaizen-Recorded', 'false')
      }
      return c.json(r, 200)
    } catch (err) {
      if (isKaizenError(err) && typeof err.details?.trafficId === 'string') {
        deps.metrics.gatewayCalls.inc({ arm: String(err.details.arm ?? 'none'), outcome: 'error' })
        if (err.details.recorded === false) {
          deps.metrics.gatewayRecordsLost.inc({ outcome: 'error' })
          c.header('Kaizen-Recorded', 'false')
        }
      }
      throw err
    }
  })
}
