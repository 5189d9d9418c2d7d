/**
 * @module api/routes/prompt
 * `GET /v1/tasks/{task}/prompt?key=…`: the prompt version to use for this request, with canary
 * routing (sticky per key). Label state is cached for at most a second (`serving/resolver.ts`),
 * so a rollback is visible within one second; responses carry an ETag (304 on a match) and
 * `Cache-Control: private, max-age=1`.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { PromptContent } from '../../core/prompt.js'
import { contentOf } from '../../db/queries/prompts.js'
import type { PromptResolver } from '../../serving/resolver.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import type { ApiMetrics } from '../metrics.js'
import { authResponses, errorResponse } from '../schemas.js'

const Resolved = z
  .object({
    task: z.string(),
    version: z.object({ id: z.string(), number: z.number().int(), content: PromptContent }),
    arm: z.enum(['baseline', 'canary']).nullable().openapi({
      description: 'null when no canary runs; echo it (and canaryId) when sending the call to /v1/traffic',
    }),
    canaryId: z.string().nullable(),
    routingWeight: z.number().nullable(),
  })
  .openapi('ResolvedPrompt')

const route = createRoute({
  method: 'get',
  path: '/v1/tasks/{task}/prompt',
  summary: 'Resolve the prompt version for one request (canary routing)',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ task: z.string().min(1).max(200) }),
    query: z.object({ key: z.string().min(1, 'give the routing key (user, session or tenant id) as ?key=').max(500) }),
  },
  responses: {
    200: { description: 'The version to use', content: { 'application/json': { schema: Resolved } } },
    304: { description: 'Not modified (If-None-Match matched the ETag)' },
    400: errorResponse('Missing routing key'),
    ...authResponses('read'),
    404: errorResponse('Unknown task, or no production version'),
  },
})

export function registerPrompt(
  app: OpenAPIHono<AuthEnv>,
  deps: { resolver: PromptResolver; tokens: TokenCache; metrics: ApiMetrics },
): void {
  app.use('/v1/tasks/:task/prompt', requireScope(deps.tokens, 'read'))
  app.openapi(route, async (c) => {
    const { task } = c.req.valid('param')
    requireTasks(c.get('token'), [task], 'task')
    const { key } = c.req.valid('query')
    const r = await deps.resolver.resolve(task, key)
    deps.metrics.resolved.inc({ arm: r.arm ?? 'none' })
    const etag = `"${r.version.id}.${r.arm ?? 'none'}.${r.canaryId ?? ''}.${r.weight ?? ''}"`
    c.header('ETag', etag)
    c.header('Cache-Control', 'private, max-age=1')
    if (c.req.header('if-none-match') === etag) return c.body(null, 304)
    return c.json(
      {
        task,
        version: { id: r.version.id, number: r.version.version, content: contentOf(r.version) },
        arm: r.arm,
        canaryId: r.canaryId,
        routingWeight: r.weight,
      },
      200,
    )
  })
}
