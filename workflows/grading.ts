/**
 * @module workflows/grading
 * `gradeBatch`: grade a task's recent traffic with a grader version, chunk by chunk.
 *
 *   plan the batch (items numbered in Postgres) → grade chunks, a few at a time → summarise.
 *
 * History grows with chunks (three events per chunk activity), never with items: 1,000 items in
 * chunks of 250 is about two dozen events. Chunks heartbeat and resume after a crash.
 */
import { workflowInfo } from '@temporalio/workflow'
import type { ChunkResult } from '../activities/grading.js'
import { batch, quick } from './activities.js'

export interface GradeBatchInput {
  taskId: string
  batchId?: string
  graderVersionId?: string | null
  limit?: number
  since?: string | null
  /** Items per chunk activity (default 250). */
  chunkSize?: number
  /** Chunk activities in flight at once (default 4); the provider limiter bounds model calls. */
  parallelChunks?: number
  /** Concurrent gradings inside one chunk (default: the worker's setting). */
  concurrency?: number
}

export interface GradeBatchResult {
  batchId: string
  graderVersionId: string
  itemCount: number
  chunks: number
  graded: number
  skipped: number
  nullScores: number
  transient: number
  meanScore: number | null
  passRate: number | null
}

export async function gradeBatch(input: GradeBatchInput): Promise<GradeBatchResult> {
  const batchId = input.batchId ?? workflowInfo().workflowId
  const chunkSize = Math.max(1, Math.min(5_000, input.chunkSize ?? 250))
  const plan = await quick.planGradingBatch({
    batchId,
    taskId: input.taskId,
    graderVersionId: input.graderVersionId ?? null,
    ...(input.limit ? { limit: input.limit } : {}),
    since: input.since ?? null,
    chunkSize,
  })
  const results: ChunkResult[] = []
  let next = 0
  const lane = async () => {
    while (next < plan.chunks) {
      const chunk = next++
      results.push(await batch.gradeChunk({ batchId, chunk, ...(input.concurrency ? { concurrency: input.concurrency } : {}) }))
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.parallelChunks ?? 4, plan.chunks)) }, lane))
  const totals = results.reduce(
    (a, r) => ({ graded: a.graded + r.graded, skipped: a.skipped + r.skipped, nullScores: a.nullScores + r.nullScores, transient: a.transient + r.transient }),
    { graded: 0, skipped: 0, nullScores: 0, transient: 0 },
  )
  const summary = await quick.finishGradingBatch({ batchId, result: { chunks: plan.chunks, ...totals } })
  return { batchId, graderVersionId: plan.graderVersionId, itemCount: plan.itemCount, chunks: plan.chunks, ...totals, meanScore: summary.meanScore, passRate: summary.passRate }
}
