/**
 * @module api/routes/estimate
 * `POST /v1/tasks/{task}/estimate` (scope `read`): what a campaign on the task would spend, and
 * whether it would run — the HTTP equivalent of `kaizen campaign estimate` (client/estimate.ts).
 * Nothing is started or stored. A token limited to other tasks gets 403.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { estimateTaskCampaign, type EstimateDeps } from '../../client/estimate.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import { authResponses, errorResponse } from '../schemas.js'

const Body = z
  .object({
    /** Campaign settings (docs/configuration.md); the task's campaign defaults go under them. */
    config: z.record(z.string(), z.unknown()).optional(),
    /** Share of proposals expected to be accepted (default 0.3). */
    acceptRate: z.number().min(0).max(1).optional(),
  })
  .strict()

const Estimate = z.record(z.string(), z.unknown()).openapi('CampaignEstimate', {
  description:
    'client/estimate.ts CampaignEstimate: items per split, rollouts (baseline, search low/expected/high, ' +
    'holdout gate, total), proposerCalls, usd { expected, high } (null without a price), budget (how ' +
    'search.budgetUsd divides: baselineUsd, holdoutReserveUsd, searchUsd, searchRollouts; null without one), ' +
    'refusal (why a start would be refused now, or null), warnings and assumptions.',
})

const estimateRoute = createRoute({
  method: 'post',
  path: '/v1/tasks/{task}/estimate',
  summary: 'Predict what a campaign on the task would spend (rollouts, proposer calls, dollars) before it runs',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ task: z.string().min(1).max(200) }),
    body: { required: false, content: { 'application/json': { schema: Body } } },
  },
  responses: {
    200: { description: 'The estimate', content: { 'application/json': { schema: Estimate } } },
    400: errorResponse('Invalid settings (every problem with its path under body.config)'),
    ...authResponses('read'),
    404: errorResponse('No such task, or no prompt in production'),
  },
})

export function registerEstimate(app: OpenAPIHono<AuthEnv>, deps: EstimateDeps & { tokens: TokenCache }): void {
  app.use('/v1/tasks/:task/estimate', requireScope(deps.tokens, 'read'))
  app.openapi(estimateRoute, async (c) => {
    const { task } = c.req.valid('param')
    requireTasks(c.get('token'), [task], 'task')
    const body = c.req.valid('json') ?? {}
    const { estimate } = await estimateTaskCampaign(deps, {
      taskId: task,
      input: body.config ?? {},
      where: 'request body',
      path: ['config'],
      ...(body.acceptRate !== undefined ? { acceptRate: body.acceptRate } : {}),
    })
    return c.json(estimate as unknown as Record<string, unknown>, 200)
  })
}
