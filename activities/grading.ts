/**
 * @module activities/grading
 * Batch grading: a batch of traffic records is planned once (its items numbered in Postgres), then
 * graded chunk by chunk. A chunk activity grades with bounded concurrency, heartbeats its
 * progress, and after a crash resumes where its last heartbeat said it was (scores already stored
 * are skipped too, so nothing is graded or written twice). Only IDs and counts travel through
 * workflow history: it grows with chunks, not items.
 */
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity'
import { and, asc, desc, eq, gte, isNotNull, isNull, lt, sql } from 'drizzle-orm'
import { KaizenError } from '../core/errors.js'
import { appendAudit } from '../db/queries/audit.js'
import { currentGraderVersionId, getGraderSpec } from '../db/queries/graders.js'
import { trafficScores } from '../db/queries/scores.js'
import { requireTask } from '../db/queries/prompts.js'
import { gradingBatches, gradingBatchItems, traffic } from '../db/schema.js'
import type { ActivityDeps } from './deps.js'
import { CHUNK_BEAT_MS } from './evaluation.js'
import { GRADABLE_COLUMNS, gradeTraffic } from '../evaluation/grade-traffic.js'

export interface PlanGradingInput {
  batchId: string
  taskId: string
  graderVersionId?: string | null
  /** Grade the newest records up to this many (default 1,000). */
  limit?: number
  /** Only records created at or after this ISO time. */
  since?: string | null
  chunkSize: number
}

export interface GradingPlan {
  batchId: string
  graderVersionId: string
  itemCount: number
  chunks: number
}

export interface ChunkResult {
  chunk: number
  graded: number
  skipped: number
  nullScores: number
  transient: number
  resumedFrom: number
}

/** Stored scores of a batch's items. */
async function batchScores(db: ActivityDeps['db'], batch: { id: string; graderVersionId: string }) {
  const items = await db
    .select({ id: gradingBatchItems.trafficId })
    .from(gradingBatchItems)
    .where(eq(gradingBatchItems.batchId, batch.id))
  return trafficScores(
    db,
    batch.graderVersionId,
    items.map((i) => i.id),
  )
}

async function requireBatch(db: ActivityDeps['db'], batchId: string) {
  const batch = await db.query.gradingBatches.findFirst({ where: eq(gradingBatches.id, batchId) })
  if (!batch) throw new KaizenError('NOT_FOUND', `unknown grading batch "${batchId}"`)
  return batch
}

/** Number the batch's items in Postgres, once (a retry or a concurrent attempt finds the plan). */
async function planGradingBatch(deps: ActivityDeps, input: PlanGradingInput): Promise<GradingPlan> {
  const { db } = deps
  const existing = await db.query.gradingBatches.findFirst({ where: eq(gradingBatches.id, input.batchId) })
  if (existing)
    return {
      batchId: existing.id,
      graderVersionId: existing.graderVersionId,
      itemCount: existing.itemCount,
      chunks: Math.ceil(existing.itemCount / existing.chunkSize),
    }
  const task = await requireTask(db, input.taskId)
  const graderVersionId = input.graderVersionId ?? (await currentGraderVersionId(db, task))
  await getGraderSpec(db, graderVersionId) // fails clearly on an unknown or unreadable version
  // Items are numbered inside Postgres (INSERT … SELECT): the IDs never travel through the worker.
  const where = and(
    eq(traffic.taskId, task.id),
    isNull(traffic.error),
    isNotNull(traffic.output),
    ...(input.since ? [gte(traffic.createdAt, new Date(input.since))] : []),
  )
  const gvId = graderVersionId
  const planned = await db.transaction(async (tx) => {
    const created = await tx
      .insert(gradingBatches)
      .values({
        id: input.batchId,
        taskId: task.id,
        graderVersionId: gvId,
        itemCount: 0,
        chunkSize: input.chunkSize,
      })
      .onConflictDoNothing({ target: gradingBatches.id })
      .returning({ id: gradingBatches.id })
    if (created.length === 0) {
      // Planned concurrently by another attempt: that plan stands.
      const other = await tx.query.gradingBatches.findFirst({ where: eq(gradingBatches.id, input.batchId) })
      return { itemCount: other?.itemCount ?? 0, graderVersionId: other?.graderVersionId ?? gvId }
    }
    const items = await tx
      .insert(gradingBatchItems)
      .select((qb) =>
        qb
          .select({
            batchId: sql<string>`${input.batchId}`.as('batch_id'),
            position:
              sql<number>`(row_number() over (order by ${traffic.createdAt} desc, ${traffic.id} asc) - 1)::int`.as(
                'position',
              ),
            trafficId: traffic.id,
          })
          .from(traffic)
          .where(where)
          .orderBy(desc(traffic.createdAt), asc(traffic.id))
          .limit(input.limit ?? 1_000),
      )
      .returning({ position: gradingBatchItems.position })
    if (items.length === 0)
      throw new KaizenError(
        'INSUFFICIENT_DATA',
        `task "${task.id}" has no answered traffic to grade${input.since ? ` since ${input.since}` : ''}`,
      )
    await tx.update(gradingBatches).set({ itemCount: items.length }).where(eq(gradingBatches.id, input.batchId))
    return { itemCount: items.length, graderVersionId: gvId }
  })
  return { batchId: input.batchId, ...planned, chunks: Math.ceil(planned.itemCount / input.chunkSize) }
}

/** Grade one chunk of a batch, resuming after the last settled item a previous attempt reported. */
async function gradeChunk(
  deps: ActivityDeps,
  input: { batchId: string; chunk: number; concurrency?: number },
): Promise<ChunkResult> {
  const { db } = deps
  const batch = await requireBatch(db, input.batchId)
  const spec = await getGraderSpec(db, batch.graderVersionId)
  const from = input.chunk * batch.chunkSize
  // Resume: the last heartbeat of a previous attempt says how far that attempt got.
  const previous = activityInfo().heartbeatDetails as { done?: number } | undefined
  const resumedFrom = Math.min(batch.chunkSize, Math.max(0, previous?.done ?? 0))
  const rows = await db
    .select({
      position: gradingBatchItems.position,
      t: GRADABLE_COLUMNS,
    })
    .from(gradingBatchItems)
    .innerJoin(traffic, eq(traffic.id, gradingBatchItems.trafficId))
    .where(
      and(
        eq(gradingBatchItems.batchId, batch.id),
        gte(gradingBatchItems.position, from + resumedFrom),
        lt(gradingBatchItems.position, from + batch.chunkSize),
      ),
    )
    .orderBy(asc(gradingBatchItems.position))
  const stored = await trafficScores(
    db,
    batch.graderVersionId,
    rows.map((r) => r.t.id),
  )
  const done = new Set<string>(stored.map((g) => g.id))
  const todo = rows.filter((r) => !done.has(r.t.id)).map((r) => r.t)
  // Heartbeat the contiguous prefix of this chunk whose items are settled (stored, or
  // already stored before): a retry after a crash starts there.
  const settled = new Set<string>(done)
  let prefix = 0
  const advance = () => {
    while (prefix < rows.length && settled.has((rows[prefix] as (typeof rows)[number]).t.id)) prefix++
    heartbeat({ done: resumedFrom + prefix })
  }
  advance()
  // And a beat every few seconds while a slow judge answers (the chunk's worker is alive).
  const beat = setInterval(() => heartbeat({ done: resumedFrom + prefix }), CHUNK_BEAT_MS)
  const stats = await gradeTraffic(deps, todo, spec, batch.graderVersionId, {
    ...(input.concurrency ? { concurrency: input.concurrency } : {}),
    signal: cancellationSignal(),
    flushEvery: 25,
    onSettled: (ids) => {
      for (const id of ids) settled.add(id)
      advance()
    },
  }).finally(() => clearInterval(beat))
  return {
    chunk: input.chunk,
    graded: stats.graded,
    skipped: rows.length - todo.length + resumedFrom,
    nullScores: stats.nullScores,
    transient: stats.transient,
    resumedFrom,
  }
}

/** Record the batch's summary and its audit event. */
async function finishGradingBatch(
  db: ActivityDeps['db'],
  input: { batchId: string; result: Record<string, unknown> },
): Promise<{ meanScore: number | null; passRate: number | null; scored: number }> {
  const batch = await requireBatch(db, input.batchId)
  const rows = await batchScores(db, batch)
  const valued = rows.filter((r) => r.score !== null)
  const summary = {
    scored: rows.length,
    meanScore: valued.length ? valued.reduce((a, r) => a + (r.score as number), 0) / valued.length : null,
    passRate: rows.length ? rows.filter((r) => r.pass).length / rows.length : null,
  }
  await db
    .update(gradingBatches)
    .set({ result: { ...input.result, ...summary }, finishedAt: new Date() })
    .where(eq(gradingBatches.id, batch.id))
  await appendAudit(db, {
    eventKey: `grading:${batch.id}:finished`,
    actor: 'kaizen',
    action: 'grading.finished',
    taskId: batch.taskId,
    subjectType: 'grading_batch',
    subjectId: batch.id,
    details: { graderVersionId: batch.graderVersionId, itemCount: batch.itemCount, ...input.result, ...summary },
  })
  return summary
}

export function createGradingActivities(deps: ActivityDeps) {
  const { db } = deps
  return {
    planGradingBatch: (input: PlanGradingInput) => planGradingBatch(deps, input),
    gradeChunk: (input: { batchId: string; chunk: number; concurrency?: number }) => gradeChunk(deps, input),
    finishGradingBatch: (input: { batchId: string; result: Record<string, unknown> }) => finishGradingBatch(db, input),
    /** Items of a batch that have a stored score (tests and the CLI read it). */
    async gradingBatchProgress(input: { batchId: string }): Promise<{ itemCount: number; scored: number }> {
      const batch = await requireBatch(db, input.batchId)
      return { itemCount: batch.itemCount, scored: (await batchScores(db, batch)).length }
    },
  }
}
