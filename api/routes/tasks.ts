/**
 * @module api/routes/tasks
 * The task routes (scope `operate`), the HTTP equivalents of `kaizen task apply` and
 * `kaizen prompts promote|rollback`:
 * - `PUT /v1/tasks/{task}`: create or update a task from its task file (JSON, the grader inline);
 *   `?promote=true` puts a changed prompt in production (compare-and-swap);
 * - `POST /v1/tasks/{task}/promote`: put version `n` in production, with the reason;
 * - `POST /v1/tasks/{task}/rollback`: production back to the version it served before (or `to`).
 * Audited under the token's person (or the token). A token limited to other tasks gets 403.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { KaizenError } from '../../core/errors.js'
import { modelsOf, parseTaskFile } from '../../core/task-file.js'
import type { Db } from '../../db/client.js'
import { promoteVersion, rollbackProduction } from '../../db/queries/promotion.js'
import { applyTaskFile } from '../../db/queries/task-file.js'
import type { ProviderRegistry } from '../../providers/registry.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import { authResponses, errorResponse } from '../schemas.js'

const Task = z.object({ task: z.string().min(1).max(200) })
const Result = z.record(z.string(), z.unknown())
const json = (schema: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
const Move = z
  .object({
    reason: z.string().trim().min(3, 'say why (recorded with the move)').max(2_000),
  })
  .strict()

const applyRoute = createRoute({
  method: 'put',
  path: '/v1/tasks/{task}',
  summary: 'Create or update a task from its task file (docs/task-files.md); the same file again changes nothing',
  security: [{ bearer: [] }],
  request: {
    params: Task,
    query: z.object({ promote: z.enum(['true', 'false']).optional() }),
    body: { required: true, content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } },
  },
  responses: {
    200: json(Result, 'What was applied'),
    400: errorResponse('The task file is invalid (every problem with its path), or its id is not the path’s'),
    ...authResponses('operate'),
    409: errorResponse('A scenario task has this id, or production moved meanwhile; nothing was promoted'),
    500: errorResponse('A model no configured provider serves (CONFIG_ERROR naming the field)'),
  },
})

const promoteRoute = createRoute({
  method: 'post',
  path: '/v1/tasks/{task}/promote',
  summary: 'Put a prompt version in production by hand (compare-and-swap, audited)',
  security: [{ bearer: [] }],
  request: {
    params: Task,
    body: {
      required: true,
      content: { 'application/json': { schema: Move.extend({ version: z.number().int().min(1) }).strict() } },
    },
  },
  responses: {
    200: json(Result, 'Moved (or already there)'),
    ...authResponses('operate'),
    404: errorResponse('No such version'),
    409: errorResponse('A canary holds the task, or production moved meanwhile'),
  },
})

const rollbackRoute = createRoute({
  method: 'post',
  path: '/v1/tasks/{task}/rollback',
  summary: 'Production back to the version it served before, or to version `to` (audited)',
  security: [{ bearer: [] }],
  request: {
    params: Task,
    body: {
      required: true,
      content: { 'application/json': { schema: Move.extend({ to: z.number().int().min(1).optional() }).strict() } },
    },
  },
  responses: {
    200: json(Result, 'Moved (or already there)'),
    ...authResponses('operate'),
    404: errorResponse('No earlier version'),
    409: errorResponse('A canary holds the task, or production moved meanwhile'),
  },
})

export function registerTasks(
  app: OpenAPIHono<AuthEnv>,
  deps: { db: Db; tokens: TokenCache; providers?: ProviderRegistry },
): void {
  const actor = (c: { get: (k: 'token') => { person: string | null; name: string } }) => {
    const token = c.get('token')
    return token.person ? `user:${token.person}` : `token:${token.name}`
  }
  app.use('/v1/tasks/:task', requireScope(deps.tokens, 'operate'))
  app.openapi(applyRoute, async (c) => {
    const { task: taskId } = c.req.valid('param')
    requireTasks(c.get('token'), [taskId], 'task')
    const task = parseTaskFile(c.req.valid('json'), 'request body')
    if (task.id !== taskId)
      throw new KaizenError('INVALID_INPUT', `id: the task file's id "${task.id}" is not the path's "${taskId}"`, {
        details: { fields: ['id'] },
      })
    if ('file' in task.grader)
      throw new KaizenError('INVALID_INPUT', 'grader: over HTTP, give the grader spec inline (not a file)', {
        details: { fields: ['grader'] },
      })
    deps.providers?.requireModels(modelsOf(task, task.grader))
    const result = await applyTaskFile(deps.db, {
      task,
      grader: task.grader,
      actor: actor(c),
      source: 'PUT /v1/tasks',
      promote: c.req.valid('query').promote === 'true',
    })
    return c.json(result, 200)
  })

  app.use('/v1/tasks/:task/promote', requireScope(deps.tokens, 'operate'))
  app.openapi(promoteRoute, async (c) => {
    const { task } = c.req.valid('param')
    requireTasks(c.get('token'), [task], 'task')
    const { version, reason } = c.req.valid('json')
    return c.json(await promoteVersion(deps.db, `${task}@${version}`, { actor: actor(c), reason }), 200)
  })

  app.use('/v1/tasks/:task/rollback', requireScope(deps.tokens, 'operate'))
  app.openapi(rollbackRoute, async (c) => {
    const { task } = c.req.valid('param')
    requireTasks(c.get('token'), [task], 'task')
    const { to, reason } = c.req.valid('json')
    return c.json(await rollbackProduction(deps.db, task, { actor: actor(c), reason, to: to ?? null }), 200)
  })
}
