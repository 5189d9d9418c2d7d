/**
 * @module api/routes/operations
 * Campaigns and canaries over HTTP, through Temporal (the same workflows, queries, signals and
 * updates as the CLI):
 *
 * - `POST /v1/campaigns` (operate): start an optimization campaign for a task;
 * - `GET /v1/campaigns/{id}` (read): its live status;
 * - `POST /v1/campaigns/{id}/pause|resume|stop` (operate);
 * - `GET /v1/canaries/{id}` (read): the evidence (arms, effect, verdicts);
 * - `POST /v1/canaries/{id}/approve|reject` (approve): the decision is recorded under the person the
 *   token belongs to (tokens with the approve scope always name one) and that person's role; the
 *   request body adds only a comment. The workflow's validator refuses a decision the canary
 *   cannot take (409), and nothing is recorded then.
 *
 * Temporal is reached lazily: the API serves ingestion and resolution even while it is down, and
 * these routes answer 503 until it is back.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
} from '@temporalio/client'
import { z as zod } from 'zod'
import { CampaignConfig } from '../../core/config.js'
import { KaizenError, fromZodError, isKaizenError } from '../../core/errors.js'
import type { Db } from '../../db/client.js'
import { tasks } from '../../db/schema.js'
import { eq } from 'drizzle-orm'
import {
  approveUpdate,
  campaignIdFor,
  campaignStatusQuery,
  canaryStatusQuery,
  pauseCampaignSignal,
  rejectUpdate,
  stopCampaignSignal,
  type CampaignStatus,
  type CanaryStatus,
} from '../../workflows/messages.js'
import { requireScope, type AuthEnv, type TokenCache } from '../auth.js'
import { authResponses, errorResponse } from '../schemas.js'

export interface TemporalAccess {
  /** A connected client (connected on first use, then reused). */
  client(): Promise<Client>
  taskQueue: string
}

const Id = z.object({ id: z.string().min(1).max(300) })
const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } })
const Status = z.record(z.string(), z.unknown()).openapi('WorkflowStatus', { description: 'The workflow\'s status query result (see workflows/messages.ts: CampaignStatus, CanaryStatus)' })
const common = (scope: string) => ({ ...authResponses(scope), 404: errorResponse('No such workflow'), 503: errorResponse('Temporal is unreachable') })

/** Temporal's failures as Kaizen errors: unknown workflow 404, refused update or duplicate id 409, unreachable 503. */
function temporalError(err: unknown, what: string): never {
  if (isKaizenError(err)) throw err
  if (err instanceof WorkflowNotFoundError) throw new KaizenError('NOT_FOUND', `no ${what}`)
  if (err instanceof WorkflowUpdateFailedError) throw new KaizenError('CONFLICT', `${(err.cause as Error | undefined)?.message ?? err.message}`)
  if (err instanceof WorkflowExecutionAlreadyStartedError) throw new KaizenError('CONFLICT', `${what} already exists; campaign ids are single-use`)
  if (isGrpcServiceError(err) && err.code === 5) throw new KaizenError('NOT_FOUND', `no ${what}`)
  if (isGrpcServiceError(err) || /connect|ECONNREFUSED|unavailable|deadline/i.test(String((err as Error)?.message))) {
    throw new KaizenError('INFRA_UNAVAILABLE', `Temporal cannot be reached (${(err as Error).message}); try again when it is back`)
  }
  throw err
}

async function running(client: Client, id: string, type: 'optimizationCampaign' | 'canaryRelease') {
  const what = type === 'canaryRelease' ? `canary "${id}"` : `campaign "${id}"`
  const handle = client.workflow.getHandle(id)
  const d = await handle.describe().catch((e) => temporalError(e, what))
  if (d.type !== type) throw new KaizenError('NOT_FOUND', `${id} is a ${d.type} workflow, not a ${type === 'canaryRelease' ? 'canary' : 'campaign'}`)
  return { handle, status: d.status.name, what }
}

export function registerOperations(app: OpenAPIHono<AuthEnv>, deps: { db: Db; temporal: TemporalAccess; tokens: TokenCache }): void {
  const { temporal, tokens } = deps
  const client = () => temporal.client().catch((e) => temporalError(e, 'Temporal'))

  // ── Campaigns ──
  const StartCampaign = z
    .object({
      task: z.string().min(1).max(200),
      id: z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/, 'use letters, digits and . _ : - (at most 200)').optional().openapi({ description: 'Campaign id (default campaign-<task>-<time>); single-use.' }),
      config: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Campaign settings as in a campaign config file (docs/configuration.md); validated whole.' }),
    })
    .strict()
    .openapi('StartCampaign')
  app.use('/v1/campaigns', requireScope(tokens, 'operate'))
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/campaigns',
      summary: 'Start an optimization campaign',
      security: [{ bearer: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: StartCampaign } } } },
      responses: {
        202: json(z.object({ campaignId: z.string(), task: z.string(), status: z.literal('started') }), 'Started'),
        400: errorResponse('Malformed body or campaign settings (JSON paths named)'),
        ...common('operate'),
        409: errorResponse('A campaign with this id exists'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const parsed = CampaignConfig.safeParse(body.config ?? {})
      if (!parsed.success) throw fromZodError(new zod.ZodError(parsed.error.issues.map((i) => ({ ...i, path: ['config', ...i.path] }))), 'request body')
      const [task] = await deps.db.select({ id: tasks.id }).from(tasks).where(eq(tasks.id, body.task))
      if (!task) throw new KaizenError('NOT_FOUND', `unknown task "${body.task}" at task; \`kaizen prompts list\` shows the tasks`, { details: { fields: ['task'] } })
      const campaignId = body.id ?? campaignIdFor(body.task, new Date())
      const token = c.get('token')
      await (await client()).workflow
        .start('optimizationCampaign', {
          workflowId: campaignId,
          taskQueue: temporal.taskQueue,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          args: [{ taskId: body.task, campaignId, trigger: 'api', config: parsed.data }],
          memo: { taskId: body.task, startedBy: token.person ?? `token:${token.name}` },
        })
        .catch((e) => temporalError(e, `campaign "${campaignId}"`))
      return c.json({ campaignId, task: body.task, status: 'started' as const }, 202)
    },
  )

  app.use('/v1/campaigns/:id', requireScope(tokens, 'read'))
  app.openapi(
    createRoute({ method: 'get', path: '/v1/campaigns/{id}', summary: 'Campaign status', security: [{ bearer: [] }], request: { params: Id }, responses: { 200: json(Status, 'Status'), ...common('read') } }),
    async (c) => {
      const { id } = c.req.valid('param')
      const { handle, status, what } = await running(await client(), id, 'optimizationCampaign')
      const s: CampaignStatus = await handle.query(campaignStatusQuery).catch((e) => temporalError(e, what))
      return c.json({ ...s, workflowStatus: status }, 200)
    },
  )

  for (const verb of ['pause', 'resume', 'stop'] as const) {
    app.use(`/v1/campaigns/:id/${verb}`, requireScope(tokens, 'operate'))
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/campaigns/{id}/${verb}`,
        summary: verb === 'stop' ? 'Stop searching after the current round (the campaign goes on with its best prompt)' : `${verb === 'pause' ? 'Pause' : 'Resume'} the search between rounds`,
        security: [{ bearer: [] }],
        request: { params: Id },
        responses: { 202: json(z.object({ campaignId: z.string(), requested: z.string(), by: z.string() }), 'Requested'), ...common('operate'), 409: errorResponse('The campaign has ended') },
      }),
      async (c) => {
        const { id } = c.req.valid('param')
        const token = c.get('token')
        const by = token.person ?? `token:${token.name}`
        const { handle, status, what } = await running(await client(), id, 'optimizationCampaign')
        if (status !== 'RUNNING') throw new KaizenError('CONFLICT', `campaign ${id} is ${status.toLowerCase()}, so it cannot be ${verb === 'stop' ? 'stopped' : `${verb}d`}`)
        await (verb === 'stop' ? handle.signal(stopCampaignSignal, { by }) : handle.signal(pauseCampaignSignal, { by, paused: verb === 'pause' })).catch((e) => temporalError(e, what))
        return c.json({ campaignId: id, requested: verb, by }, 202)
      },
    )
  }

  // ── Canaries ──
  app.use('/v1/canaries/:id', requireScope(tokens, 'read'))
  app.openapi(
    createRoute({ method: 'get', path: '/v1/canaries/{id}', summary: 'Canary status and evidence', security: [{ bearer: [] }], request: { params: Id }, responses: { 200: json(Status, 'Status'), ...common('read') } }),
    async (c) => {
      const { id } = c.req.valid('param')
      const { handle, status, what } = await running(await client(), id, 'canaryRelease')
      const s: CanaryStatus = await handle.query(canaryStatusQuery).catch((e) => temporalError(e, what))
      return c.json({ ...s, workflowStatus: status }, 200)
    },
  )

  const Decision = z.object({ comment: z.string().max(2_000).optional() }).strict().openapi('CanaryDecision')
  for (const verb of ['approve', 'reject'] as const) {
    app.use(`/v1/canaries/:id/${verb}`, requireScope(tokens, 'approve'))
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/canaries/{id}/${verb}`,
        summary: verb === 'approve' ? 'Approve promotion (recorded under the token\'s person)' : 'Reject: roll the canary back (recorded under the token\'s person)',
        security: [{ bearer: [] }],
        request: { params: Id, body: { required: false, content: { 'application/json': { schema: Decision } } } },
        responses: {
          200: json(z.record(z.string(), z.unknown()).openapi('ApprovalOutcome'), 'Decision recorded'),
          400: errorResponse('Malformed body'),
          ...common('approve'),
          409: errorResponse('The canary cannot take this decision now (not awaiting approval, ended, role missing); nothing recorded'),
        },
      }),
      async (c) => {
        const { id } = c.req.valid('param')
        const { comment } = c.req.valid('json') ?? {}
        const token = c.get('token')
        // Tokens with the approve scope always name a person (enforced at creation); a token made before that rule is refused here.
        if (!token.person) throw new KaizenError('FORBIDDEN', `token "${token.name}" names no person, and approvals need a human identity: create one with \`kaizen token create --scopes approve --person <you>\``)
        const { handle, status, what } = await running(await client(), id, 'canaryRelease')
        if (status !== 'RUNNING') throw new KaizenError('CONFLICT', `canary ${id} has ended (${status.toLowerCase()}); nothing to ${verb}`)
        const outcome = await handle
          .executeUpdate(verb === 'approve' ? approveUpdate : rejectUpdate, { args: [{ approver: token.person, ...(token.role ? { role: token.role } : {}), ...(comment ? { comment } : {}) }] })
          .catch((e) => temporalError(e, what))
        return c.json({ ...outcome }, 200)
      },
    )
  }
}
