/**
 * @module api/routes/feedback
 * `POST /v1/feedback`: attach an outcome (what actually resolved the case) or a human rating to a
 * traffic record, named by Kaizen's id or by the task and the client's idempotency key. Feedback is
 * append-only (`feedback` table); an outcome also becomes the record's reference, which is what
 * makes it usable for campaigns and grading (a later outcome replaces the reference, both stay in
 * the feedback log). An outcome is any JSON object, or a decision when the task's grader reads
 * decisions. A rating needs a human identity (`by`).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import { Reference } from '../../core/decision.js'
import { KaizenError, fromZodError } from '../../core/errors.js'
import { readsDecisionReference } from '../../core/grader-spec.js'
import type { Db } from '../../db/client.js'
import { activeGraderVersionId, getGraderSpec } from '../../db/queries/graders.js'
import { feedback, traffic } from '../../db/schema.js'
import { sha256Hex } from '../../lib/hash.js'
import type { Redactor } from '../../privacy/redact.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import type { ApiMetrics } from '../metrics.js'
import { authResponses, errorResponse } from '../schemas.js'
import { trafficIdOf } from '../../db/queries/traffic-ids.js'

export const Feedback = z
  .object({
    trafficId: z.string().min(1).max(200).optional().openapi({ description: 'Kaizen’s id of the record (tr_…)' }),
    task: z.string().min(1).max(200).optional(),
    id: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .openapi({ description: 'The idempotency key the record was ingested with (with task)' }),
    feedbackId: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .openapi({ description: 'Idempotency key of this feedback: sent twice, stored once' }),
    outcome: z
      .record(z.string(), z.unknown())
      .refine((o) => JSON.stringify(o).length <= 100_000, 'an outcome is at most 100,000 characters of JSON')
      .optional()
      .openapi({
        description:
          'What actually resolved the case: a JSON object (it becomes the record’s reference). For a task ' +
          'graded on decisions (Decision Quality, decision-correctness) it is a decision: diagnosis, keywords, ' +
          'actions, risk',
      }),
    rating: z
      .object({
        score: z.number().min(0).max(1).openapi({ description: '0 (useless) to 1 (exactly right)' }),
        by: z.string().trim().min(1, 'a rating needs the identity of the person who gave it'),
        comment: z.string().max(5_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (!f.trafficId && !(f.task && f.id))
      ctx.addIssue({ code: 'custom', path: ['trafficId'], message: 'name the record: trafficId, or task and id' })
    if (!f.outcome && !f.rating)
      ctx.addIssue({ code: 'custom', path: ['outcome'], message: 'send an outcome, a rating, or both' })
  })
  .openapi('Feedback')

const route = createRoute({
  method: 'post',
  path: '/v1/feedback',
  summary: 'Attach an outcome or a human rating to a traffic record',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: Feedback } } } },
  responses: {
    201: {
      description: 'Recorded',
      content: {
        'application/json': {
          schema: z.object({ trafficId: z.string(), recorded: z.array(z.enum(['outcome', 'rating'])) }),
        },
      },
    },
    400: errorResponse('Malformed body (JSON paths at fault)'),
    ...authResponses('ingest'),
    404: errorResponse('Unknown traffic record (named)'),
    409: errorResponse("The record was erased by its task's retention policy"),
  },
})

/**
 * An outcome must have the shape the task's grader reads: a decision for a grader that reads
 * decisions (refused naming each field otherwise); any JSON object for the others.
 */
async function requireOutcomeShape(
  db: Db,
  token: Parameters<typeof requireTasks>[0],
  at: { trafficId: string; field: string },
  outcome: Record<string, unknown>,
): Promise<void> {
  const [row] = await db.select({ taskId: traffic.taskId }).from(traffic).where(eq(traffic.id, at.trafficId))
  if (row) requireTasks(token, [row.taskId], at.field) // nothing about another team's task is told
  const graderId = row ? await activeGraderVersionId(db, row.taskId) : null
  if (!row || !graderId || !readsDecisionReference(await getGraderSpec(db, graderId))) return
  const parsed = Reference.safeParse(outcome)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ ...i, path: ['outcome', ...i.path] }))
    throw fromZodError(
      new z.ZodError(issues),
      `the outcome for task "${row.taskId}"`,
      'its grader reads decisions: send diagnosis, keywords, actions (command, target) and optionally risk',
    )
  }
}

export function registerFeedback(
  app: OpenAPIHono<AuthEnv>,
  deps: { db: Db; tokens: TokenCache; metrics: ApiMetrics; redactor: Redactor },
): void {
  app.use(route.path, requireScope(deps.tokens, 'ingest'))
  app.openapi(route, async (c) => {
    // Outcomes and comments are redacted like traffic before they are stored (an outcome becomes the
    // record's reference); the rater's identity (`by`) is kept as given.
    const body = c.req.valid('json')
    const f = {
      ...body,
      ...(body.outcome ? { outcome: await deps.redactor.json(body.outcome) } : {}),
      ...(body.rating?.comment
        ? { rating: { ...body.rating, comment: await deps.redactor.text(body.rating.comment) } }
        : {}),
    }
    const trafficId = f.trafficId ?? trafficIdOf(f.task as string, f.id as string)
    const token = c.get('token')
    if (body.outcome)
      await requireOutcomeShape(deps.db, token, { trafficId, field: f.trafficId ? 'trafficId' : 'task' }, body.outcome)
    const recorded = await deps.db.transaction(async (tx) => {
      // Locked (FOR NO KEY UPDATE): retention cannot delete or erase the record between this read
      // and the writes below (it waits for this transaction); a delete or erase already under way is
      // waited for and then seen (404 or 409), instead of a foreign-key failure at the insert.
      // Not FOR SHARE: two outcomes for one record would each hold a share lock and then deadlock
      // on their updates; this lock makes them take turns.
      const [row] = await tx
        .select({ id: traffic.id, taskId: traffic.taskId, expiredAt: traffic.expiredAt })
        .from(traffic)
        .where(eq(traffic.id, trafficId))
        .for('no key update')
      if (!row)
        throw new KaizenError(
          'NOT_FOUND',
          `unknown traffic record ${f.trafficId ? `"${f.trafficId}"` : `"${f.id}" of task "${f.task}"`}`,
          { details: { fields: [f.trafficId ? 'trafficId' : 'id'] } },
        )
      requireTasks(token, [row.taskId], f.trafficId ? 'trafficId' : 'task')
      // Retention erased this record's content: an outcome would make an empty record look usable again.
      if (row.expiredAt)
        throw new KaizenError(
          'CONFLICT',
          `traffic record ${trafficId} was erased by the task's retention policy on ` +
            `${row.expiredAt.toISOString()}; feedback on it is not kept`,
          { details: { fields: [f.trafficId ? 'trafficId' : 'id'] } },
        )
      const key = (kind: string) =>
        'fb_' +
        sha256Hex(
          `${trafficId}\u0000${kind}\u0000` +
            `${f.feedbackId ?? JSON.stringify(kind === 'outcome' ? f.outcome : f.rating)}`,
        ).slice(0, 32)
      const out: Array<'outcome' | 'rating'> = []
      if (f.outcome) {
        await tx
          .insert(feedback)
          .values({ id: key('outcome'), trafficId, kind: 'outcome', value: f.outcome, actor: `token:${token.name}` })
          .onConflictDoNothing()
        await tx.update(traffic).set({ reference: f.outcome }).where(eq(traffic.id, trafficId))
        out.push('outcome')
      }
      if (f.rating) {
        await tx
          .insert(feedback)
          .values({
            id: key('rating'),
            trafficId,
            kind: 'rating',
            value: f.rating,
            actor: `user:${f.rating.by} via token:${token.name}`,
          })
          .onConflictDoNothing()
        out.push('rating')
      }
      return out
    })
    return c.json({ trafficId, recorded }, 201)
  })
}
