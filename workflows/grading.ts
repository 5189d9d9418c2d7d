/**
 * @module workflows/grading
 * `gradeBatch`: grade a task's recent traffic with a grader version, chunk by chunk.
 *
 *   plan the batch (items numbered in Postgres) → grade chunks, many at a time, on the evaluation
 *   task queue (any worker takes them) → summarise.
 *
 * History grows with chunks (a few events per chunk activity), never with items; a long batch
 * continues as new when Temporal suggests it, carrying only its position and totals. Chunks
 * heartbeat and resume after a crash.
 */
import { continueAsNew, patched, workflowInfo } from '@temporalio/workflow'
import type { ChunkResult } from '../activities/grading.js'
import { FAN_OUT } from '../core/fanout.js'
import { batch, evaluationChunks, quick } from './activities.js'

export interface GradeBatchInput {
  taskId: string
  batchId?: string
  graderVersionId?: string | null
  limit?: number
  since?: string | null
  /** Items per chunk activity (default: the evaluation chunk size, 4). */
  chunkSize?: number
  /** Chunk activities scheduled at once (default 32); each worker's evaluation bound decides how many run. */
  parallelChunks?: number
  /** Concurrent gradings inside one chunk (default: the worker's setting). */
  concurrency?: number
  /** Carried across continue-as-new: the next chunk and the totals so far. */
  resume?: { next: number; totals: Totals }
}

type Totals = Pick<GradeBatchResult, 'graded' | 'skipped' | 'nullScores' | 'transient'>

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
  // Batches started before grading moved to the evaluation queue keep their chunking and lanes.
  const spread = patched('grading-on-evaluation-queue')
  const batchId = input.batchId ?? workflowInfo().workflowId
  const chunkSize = Math.max(1, Math.min(5_000, input.chunkSize ?? (spread ? FAN_OUT.chunkItems : 250)))
  const plan = await quick.planGradingBatch({
    batchId,
    taskId: input.taskId,
    graderVersionId: input.graderVersionId ?? null,
    ...(input.limit ? { limit: input.limit } : {}),
    since: input.since ?? null,
    chunkSize,
  })
  const grader = spread ? evaluationChunks(workflowInfo().taskQueue) : batch
  const totals: Totals = input.resume?.totals ?? { graded: 0, skipped: 0, nullScores: 0, transient: 0 }
  let next = input.resume?.next ?? 0
  let continuing = false
  const lane = async () => {
    while (next < plan.chunks && !continuing) {
      const chunk = next++
      const r: ChunkResult = await grader.gradeChunk({
        batchId,
        chunk,
        ...(input.concurrency ? { concurrency: input.concurrency } : {}),
      })
      totals.graded += r.graded
      totals.skipped += r.skipped
      totals.nullScores += r.nullScores
      totals.transient += r.transient
      // A long batch: lanes finish their chunk, then the rest continues in a fresh history.
      if (spread && workflowInfo().continueAsNewSuggested) continuing = true
    }
  }
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(input.parallelChunks ?? (spread ? 32 : 4), plan.chunks - next)) }, lane),
  )
  if (continuing && next < plan.chunks) {
    return await continueAsNew<typeof gradeBatch>({ ...input, batchId, chunkSize, resume: { next, totals } })
  }
  const summary = await quick.finishGradingBatch({ batchId, result: { chunks: plan.chunks, ...totals } })
  return {
    batchId,
    graderVersionId: plan.graderVersionId,
    itemCount: plan.itemCount,
    chunks: plan.chunks,
    ...totals,
    meanScore: summary.meanScore,
    passRate: summary.passRate,
  }
}
