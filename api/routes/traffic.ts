/**
 * @module api/routes/traffic
 * `POST /v1/traffic`: batch ingestion of production LLM calls. The whole batch is validated first
 * (every fault reported with its JSON path), then every task and prompt version it names is
 * checked, then personal data and secrets are redacted (privacy/redact.ts), then it is stored in
 * one statement: a batch is stored whole or not at all. A record's
 * `id` is the client's idempotency key: sending the same batch twice stores it once.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { and, inArray } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../../db/client.js'
import { promptVersions, tasks, traffic } from '../../db/schema.js'
import { newTrafficId, trafficIdOf } from '../../db/queries/traffic-ids.js'
import { Redactor } from '../../privacy/redact.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import { authResponses, errorResponse } from '../schemas.js'
import type { ApiMetrics } from '../metrics.js'

export const MAX_BATCH = 1_000

const count = z.number().int().min(0).max(10_000_000)

export const TrafficRecord = z
  .object({
    id: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .openapi({ description: 'Idempotency key of this call (unique per task); a record sent again is stored once.' }),
    task: z.string().min(1).max(200),
    promptVersion: z
      .string()
      .min(1)
      .max(200)
      .openapi({ description: 'The prompt version id that served the call (from the resolve endpoint).' }),
    routingKey: z
      .string()
      .min(1)
      .max(500)
      .openapi({ description: 'The sticky routing key (user, session, tenant) the version was resolved for.' }),
    input: z
      .record(z.string(), z.string().max(100_000))
      .openapi({ description: 'The input variables the prompt was rendered with.' }),
    output: z.string().max(1_000_000).nullable().default(null),
    model: z.string().min(1).max(200),
    provider: z.string().min(1).max(100).default('external'),
    inputTokens: count.default(0),
    outputTokens: count.default(0),
    latencyMs: z.number().int().min(0).max(86_400_000).default(0),
    costUsd: z
      .number()
      .min(0)
      .max(1_000_000)
      .optional()
      .openapi({
        description:
          'What the call cost (USD). Absent: priced from the model and tokens at the call time by the ' +
          "server's price table (list prices, KAIZEN_PRICES_FILE); 0 when the model has no price.",
      }),
    error: z.string().max(10_000).nullable().default(null),
    simulated: z
      .boolean()
      .default(false)
      .openapi({
        description:
          'The answer came from a simulated model (e.g. `kaizen sim serve`, whose answers carry the ' +
          'system_fingerprint `kaizen-simulation`); such records are labelled simulation.',
      }),
    canaryId: z
      .string()
      .min(1)
      .max(300)
      .nullable()
      .default(null)
      .openapi({ description: 'From the resolve response, when a canary was running.' }),
    arm: z.enum(['baseline', 'canary']).nullable().default(null),
    routingWeight: z.number().min(0).max(1).nullable().default(null),
    startedAt: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: 'When the call started (ISO 8601); default: when it is received.' }),
  })
  .strict()
  .openapi('TrafficRecord')

export const TrafficBatch = z
  .object({
    records: z
      .array(TrafficRecord)
      .min(1, 'send at least one record')
      .max(MAX_BATCH, `send at most ${MAX_BATCH} records per batch`),
  })
  .strict()
  .openapi('TrafficBatch')

const Accepted = z.object({ stored: z.number().int(), duplicates: z.number().int() }).openapi('TrafficAccepted')

const route = createRoute({
  method: 'post',
  path: '/v1/traffic',
  summary: 'Ingest a batch of LLM calls',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: TrafficBatch } } } },
  responses: {
    202: {
      description: 'Stored (all of the batch; duplicates of earlier records are skipped)',
      content: { 'application/json': { schema: Accepted } },
    },
    400: errorResponse('Malformed body: the JSON paths at fault'),
    ...authResponses('ingest'),
    404: errorResponse('Unknown task or prompt version (named)'),
    413: errorResponse('Body too large'),
  },
})

export type TrafficRecordInput = z.infer<typeof TrafficRecord>

/** Check every task and version a batch names; throws NOT_FOUND naming the first unknown one and where it is. */
export async function checkReferences(db: Db, records: readonly TrafficRecordInput[]): Promise<void> {
  const taskIds = [...new Set(records.map((r) => r.task))]
  const versionIds = [...new Set(records.map((r) => r.promptVersion))]
  const knownTasks = new Set(
    (await db.select({ id: tasks.id }).from(tasks).where(inArray(tasks.id, taskIds))).map((t) => t.id),
  )
  const versions = new Map(
    (
      await db
        .select({ id: promptVersions.id, taskId: promptVersions.taskId })
        .from(promptVersions)
        .where(and(inArray(promptVersions.id, versionIds)))
    ).map((v) => [v.id, v.taskId]),
  )
  records.forEach((r, i) => {
    if (!knownTasks.has(r.task))
      throw new KaizenError(
        'NOT_FOUND',
        `unknown task "${r.task}" at records[${i}].task; define it with \`kaizen task apply -f task.yaml\``,
        { details: { fields: [`records[${i}].task`] } },
      )
    const owner = versions.get(r.promptVersion)
    if (owner !== r.task) {
      throw new KaizenError(
        'NOT_FOUND',
        `unknown prompt version "${r.promptVersion}" of task "${r.task}" at ` +
          `records[${i}].promptVersion${owner ? ` (it belongs to task "${owner}")` : ''}`,
        {
          details: { fields: [`records[${i}].promptVersion`] },
        },
      )
    }
  })
}

/** Personal data and secrets out of every input value, output and error, for the whole batch at once. */
async function redacted(records: readonly TrafficRecordInput[], redactor: Redactor): Promise<TrafficRecordInput[]> {
  const clean = await redactor.json(records.map((r) => ({ input: r.input, output: r.output, error: r.error })))
  return records.map((r, i) => ({ ...r, ...clean[i] }))
}

/** What a call cost (USD) by the price table in effect at its time, when its model has a price. */
export type CostOf = (model: string, usage: { inputTokens: number; outputTokens: number }, at: Date) => number | null

/** Store a validated batch whole (one statement), redacted first; returns how many were new. */
export async function storeTraffic(
  db: Db,
  batch: readonly TrafficRecordInput[],
  redactor: Redactor = new Redactor(),
  /** Prices a record sent without its cost (the server's price table); none: such records cost 0. */
  cost?: CostOf,
): Promise<{ stored: number; duplicates: number }> {
  await checkReferences(db, batch)
  const records = await redacted(batch, redactor)
  const rows = records.map((r) => ({
    id: r.id ? trafficIdOf(r.task, r.id) : newTrafficId(r.task),
    taskId: r.task,
    promptVersionId: r.promptVersion,
    routingKey: r.routingKey,
    canaryId: r.canaryId,
    arm: r.arm,
    routingWeight: r.routingWeight,
    input: r.input,
    output: r.output,
    provider: r.provider,
    model: r.model,
    simulated: r.simulated,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    latencyMs: r.latencyMs,
    costUsd: r.costUsd ?? cost?.(r.model, r, r.startedAt ? new Date(r.startedAt) : new Date()) ?? 0,
    error: r.error,
    ...(r.startedAt ? { createdAt: new Date(r.startedAt) } : {}),
  }))
  const inserted = await db
    .insert(traffic)
    .values(rows)
    .onConflictDoNothing({ target: traffic.id })
    .returning({ id: traffic.id })
  return { stored: inserted.length, duplicates: rows.length - inserted.length }
}

export function registerTraffic(
  app: OpenAPIHono<AuthEnv>,
  deps: { db: Db; tokens: TokenCache; metrics: ApiMetrics; redactor: Redactor; cost?: CostOf },
): void {
  app.use(route.path, requireScope(deps.tokens, 'ingest'))
  app.openapi(route, async (c) => {
    const { records } = c.req.valid('json')
    requireTasks(
      c.get('token'),
      records.map((r) => r.task),
      'records[].task',
    )
    const result = await storeTraffic(deps.db, records, deps.redactor, deps.cost)
    deps.metrics.ingested.inc({ source: 'api' }, result.stored)
    return c.json(result, 202)
  })
}
