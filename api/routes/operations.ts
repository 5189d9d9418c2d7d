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
 * The operations themselves, with their checks and messages, are client/operations.ts (shared with
 * the CLI); this server holds the database, so it runs the campaign checks itself.
 *
 * Temporal is reached lazily: the API serves ingestion and resolution even while it is down, and
 * these routes answer 503 until it is back (and while no worker polls, for status reads and decisions).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import type { Client } from '@temporalio/client'
import { temporalError } from '../../client/failures.js'
import { CAMPAIGN_ID_PATTERN, CAMPAIGN_ID_RULE, createOperations, type Operations } from '../../client/operations.js'
import { parseCampaignConfig } from '../../core/config.js'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../../db/client.js'
import { campaignPreflight, type PreflightPricing } from '../../db/queries/preflight.js'
import type { ApiTokenRow } from '../../db/queries/tokens.js'
import { campaigns, canaries } from '../../db/schema.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import { authResponses, errorResponse } from '../schemas.js'

export interface TemporalAccess {
  /** A connected client (connected on first use, then reused). */
  client(): Promise<Client>
  taskQueue: string
}

const Id = z.object({ id: z.string().min(1).max(300) })
const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } })
const Status = z.record(z.string(), z.unknown()).openapi('WorkflowStatus', {
  description:
    'A running workflow: its status query result (workflows/messages.ts: CampaignStatus, CanaryStatus) with ' +
    'workflowStatus RUNNING. ' +
    'An ended one, read from its history: workflowStatus (COMPLETED, FAILED, TERMINATED, CANCELED, ' +
    'TIMED_OUT), its result (campaigns: result; canaries: the final status), ' +
    'or failure { message, code, chain } — the root cause, its Kaizen error code and the whole failure chain ' +
    '(client/operations.ts: CampaignView, CanaryView).',
})
const common = (scope: string) => ({
  ...authResponses(scope),
  404: errorResponse('No such workflow'),
  503: errorResponse('Temporal is unreachable, or no worker is polling the task queue'),
})

/**
 * The same operations as the CLI (client/operations.ts), on a client connected at first use; this
 * server holds the database, so the campaign checks run here rather than on a worker.
 */
export function operationsOf(deps: {
  db: Db
  temporal: TemporalAccess
  /** Prices for the spend-budget check (without them a start's `search.budgetUsd` is not checked). */
  pricing?: PreflightPricing
}): () => Promise<Operations> {
  let cached: { client: Client; ops: Operations } | null = null
  return async () => {
    const client = await deps.temporal.client().catch((e: unknown) => {
      throw temporalError(e, 'Temporal')
    })
    if (cached?.client !== client)
      cached = {
        client,
        ops: createOperations({
          client,
          taskQueue: deps.temporal.taskQueue,
          check: (input) => campaignPreflight(deps.db, input, deps.pricing ? { pricing: deps.pricing } : {}),
        }),
      }
    return cached.ops
  }
}

export function registerOperations(
  app: OpenAPIHono<AuthEnv>,
  deps: { db: Db; temporal: TemporalAccess; tokens: TokenCache; pricing?: PreflightPricing },
): void {
  const { tokens } = deps
  const ops = operationsOf(deps)
  /** The task of a campaign or canary (for tokens limited to some tasks); null when it is not recorded. */
  const taskOf = async (kind: 'campaign' | 'canary', id: string): Promise<string | null> => {
    const table = kind === 'campaign' ? campaigns : canaries
    const [row] = await deps.db.select({ taskId: table.taskId }).from(table).where(eq(table.id, id))
    return row?.taskId ?? null
  }
  /** A token limited to some tasks acts only on their campaigns and canaries. */
  const requireTaskOf = async (kind: 'campaign' | 'canary', id: string, token: ApiTokenRow) => {
    if (!token.tasks) return
    const task = await taskOf(kind, id)
    if (task === null)
      throw new KaizenError('NOT_FOUND', `no ${kind} "${id}" is recorded in this deployment's database`)
    requireTasks(token, [task], 'id')
  }

  // ── Campaigns ──
  const StartCampaign = z
    .object({
      task: z.string().min(1).max(200),
      id: z
        .string()
        .regex(CAMPAIGN_ID_PATTERN, CAMPAIGN_ID_RULE)
        .optional()
        .openapi({ description: 'Campaign id (default campaign-<task>-<time>); single-use.' }),
      config: z
        .record(z.string(), z.unknown())
        .optional()
        .openapi({
          description:
            'Campaign settings as in a campaign config file (docs/configuration.md); validated whole and ' +
            'strictly: an unknown key is 400 naming its path (config.search.serach) and the key probably meant.',
        }),
    })
    .strict()
    .openapi('StartCampaign')
  app.use('/v1/campaigns', requireScope(tokens, 'operate'))
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/campaigns',
      summary: 'Check, then start an optimization campaign',
      security: [{ bearer: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: StartCampaign } } } },
      responses: {
        202: json(
          z.object({
            campaignId: z.string(),
            task: z.string(),
            status: z.literal('started'),
            warnings: z.array(z.string()),
          }),
          'Started',
        ),
        400: errorResponse('Malformed body or campaign settings (JSON paths named)'),
        ...common('operate'),
        404: errorResponse('Unknown task (fields: task)'),
        409: errorResponse('A campaign with this id exists, or the task has no production version'),
        422: errorResponse(
          'The campaign would refuse to run: too little usable traffic (INSUFFICIENT_DATA); nothing was started',
        ),
      },
    }),
    async (c) => {
      const body = c.req.valid('json')
      const token = c.get('token')
      requireTasks(token, [body.task], 'task')
      const config = parseCampaignConfig(body.config ?? {}, 'request body', ['config'])
      const started = await (
        await ops()
      ).startCampaign({
        taskId: body.task,
        ...(body.id ? { campaignId: body.id } : {}),
        config,
        configInput: body.config ?? {},
        trigger: 'api',
        startedBy: token.person ?? `token:${token.name}`,
      })
      return c.json(
        { campaignId: started.campaignId, task: body.task, status: 'started' as const, warnings: started.warnings },
        202,
      )
    },
  )

  app.use('/v1/campaigns/:id', requireScope(tokens, 'read'))
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/campaigns/{id}',
      summary: 'Campaign status, or its outcome (with the root cause of a failure)',
      security: [{ bearer: [] }],
      request: { params: Id },
      responses: { 200: json(Status, 'Status'), ...common('read') },
    }),
    async (c) => {
      const { id } = c.req.valid('param')
      await requireTaskOf('campaign', id, c.get('token'))
      return c.json(await (await ops()).describeCampaign(id), 200)
    },
  )

  for (const verb of ['pause', 'resume', 'stop'] as const) {
    app.use(`/v1/campaigns/:id/${verb}`, requireScope(tokens, 'operate'))
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/campaigns/{id}/${verb}`,
        summary:
          verb === 'stop'
            ? 'Stop searching after the current round (the campaign goes on with its best prompt)'
            : `${verb === 'pause' ? 'Pause' : 'Resume'} the search between rounds`,
        security: [{ bearer: [] }],
        request: { params: Id },
        responses: {
          202: json(
            z.object({ campaignId: z.string(), requested: z.string(), by: z.string(), message: z.string() }),
            'Requested',
          ),
          ...common('operate'),
          409: errorResponse('The campaign has ended'),
        },
      }),
      async (c) => {
        const { id } = c.req.valid('param')
        const token = c.get('token')
        await requireTaskOf('campaign', id, token)
        return c.json(await (await ops()).signalCampaign(id, verb, token.person ?? `token:${token.name}`), 202)
      },
    )
  }

  // ── Canaries ──
  app.use('/v1/canaries/:id', requireScope(tokens, 'read'))
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/canaries/{id}',
      summary: 'Canary status and evidence (an ended canary: its final status, or why it failed)',
      security: [{ bearer: [] }],
      request: { params: Id },
      responses: { 200: json(Status, 'Status'), ...common('read') },
    }),
    async (c) => {
      const { id } = c.req.valid('param')
      await requireTaskOf('canary', id, c.get('token'))
      return c.json(await (await ops()).describeCanary(id), 200)
    },
  )

  const Decision = z
    .object({ comment: z.string().max(2_000).optional() })
    .strict()
    .openapi('CanaryDecision')
  for (const verb of ['approve', 'reject'] as const) {
    app.use(`/v1/canaries/:id/${verb}`, requireScope(tokens, 'approve'))
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/canaries/{id}/${verb}`,
        summary:
          verb === 'approve'
            ? "Approve promotion (recorded under the token's person; repeated by the same person: the recorded " +
              'outcome, nothing new)'
            : 'Reject: roll the canary back — during the bake window, from the approval on, production goes ' +
              "back to the previous version (recorded under the token's person)",
        security: [{ bearer: [] }],
        request: { params: Id, body: { required: false, content: { 'application/json': { schema: Decision } } } },
        responses: {
          200: json(
            z.record(z.string(), z.unknown()).openapi('ApprovalOutcome'),
            'Decision recorded (or, for a repeated approval, the recorded one): the outcome and a message ' +
              'saying what happened',
          ),
          400: errorResponse('Malformed body'),
          ...common('approve'),
          409: errorResponse(
            'The canary cannot take this decision now (not awaiting approval, approved by someone else, ' +
              'ended, role missing); nothing recorded',
          ),
        },
      }),
      async (c) => {
        const { id } = c.req.valid('param')
        const { comment } = c.req.valid('json') ?? {}
        const token = c.get('token')
        // Tokens with the approve scope always name a person (enforced at creation); a token made before that rule is
        // refused here.
        if (!token.person)
          throw new KaizenError(
            'FORBIDDEN',
            `token "${token.name}" names no person, and approvals need a human identity: create one with ` +
              `\`kaizen token create --scopes approve --person <you>\``,
          )
        await requireTaskOf('canary', id, token)
        const { outcome, message } = await (
          await ops()
        ).decideCanary(id, verb, {
          approver: token.person,
          ...(token.role ? { role: token.role } : {}),
          ...(comment ? { comment } : {}),
        })
        return c.json({ ...outcome, message }, 200)
      },
    )
  }
}
