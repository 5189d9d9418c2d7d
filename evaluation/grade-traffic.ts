/**
 * @module evaluation/grade-traffic
 * Grade served requests (traffic rows) with a grader version and store the scores idempotently
 * (one row per request and grader version; a retry writes nothing twice). Used by the canary's
 * analysis and by batch grading. LLM judges run with bounded concurrency (the provider limiter
 * applies on top); a verdict that is unavailable for now is not stored, so a later pass asks again.
 */
import { setMaxListeners } from 'node:events'
import { scores, traffic } from '../db/schema.js'
import { grade, judgeRequestsFor, type GradeItem } from '../graders/engine.js'
import type { StoredSpec } from '../core/grader-spec.js'
import type { EvaluationDeps } from './deps.js'
import { itemLimit } from './evaluator.js'
import { judgeCaller, prefetchJudge } from './judge-caller.js'

/** The columns of a traffic record a grader reads (select them with `...GRADABLE_COLUMNS`). */
export const GRADABLE_COLUMNS = {
  id: traffic.id,
  input: traffic.input,
  output: traffic.output,
  reference: traffic.reference,
  latencyMs: traffic.latencyMs,
  costUsd: traffic.costUsd,
  model: traffic.model,
}

type TrafficRow = Pick<
  typeof traffic.$inferSelect,
  'id' | 'input' | 'output' | 'reference' | 'latencyMs' | 'costUsd' | 'model'
>

export interface GradeTrafficStats {
  graded: number
  nullScores: number
  transient: number
}

export async function gradeTraffic(
  deps: EvaluationDeps,
  rows: readonly TrafficRow[],
  spec: StoredSpec,
  graderVersionId: string,
  options: {
    concurrency?: number
    signal?: AbortSignal
    onProgress?: (done: number) => void
    flushEvery?: number
    onSettled?: (ids: readonly string[]) => void
    /** Who pays for the judge calls this makes (recorded on each call; e.g. `monitor:<check id>`). */
    payer?: string
  } = {},
): Promise<GradeTrafficStats> {
  // Every call in flight listens to the activity's cancellation signal.
  if (options.signal) setMaxListeners(0, options.signal)
  const itemOf = (t: TrafficRow): GradeItem => ({
    output: t.output ?? '',
    input: t.input,
    reference: t.reference,
    latencyMs: t.latencyMs,
    costUsd: t.costUsd,
    model: t.model,
  })
  // One cache query for the whole batch instead of one per judge call.
  const prefetched = await prefetchJudge(
    deps.models,
    rows.flatMap((t) => judgeRequestsFor(spec, itemOf(t))),
    deps.redactor,
  )
  const judge = judgeCaller(
    deps.models,
    { campaignId: options.payer ?? null, ...(options.signal ? { signal: options.signal } : {}) },
    prefetched,
    deps.redactor,
  )
  const limit = itemLimit(deps, options.concurrency)
  const stats: GradeTrafficStats = { graded: 0, nullScores: 0, transient: 0 }
  let pending: Array<typeof scores.$inferInsert> = []
  /** Items finished since the last write (stored now, or transient and left for later). */
  let settled: string[] = []
  const flushEvery = options.flushEvery ?? 50
  let writing: Promise<unknown> = Promise.resolve()
  const flush = () => {
    const batch = pending
    const ids = settled
    pending = []
    settled = []
    writing = writing.then(async () => {
      if (batch.length > 0) await deps.db.insert(scores).values(batch).onConflictDoNothing()
      options.onSettled?.(ids)
    })
    return writing
  }
  await Promise.all(
    rows.map((t) =>
      limit(async () => {
        options.signal?.throwIfAborted()
        const r = await grade(spec, itemOf(t), { judge })
        if (r.transient) {
          stats.transient++
          settled.push(t.id)
          return
        }
        stats.graded++
        if (r.score === null) stats.nullScores++
        pending.push({
          subjectType: 'traffic',
          subjectId: t.id,
          graderVersionId,
          score: r.score,
          pass: r.pass,
          reason: r.reason,
          dimensions: {
            ...r.dimensions,
            ...Object.fromEntries(Object.entries(r.gates).map(([k, v]) => [`gate:${k}`, v])),
          },
        })
        settled.push(t.id)
        if (pending.length >= flushEvery) {
          // Written in the background (in order): the slot goes on grading meanwhile.
          const n = stats.graded + stats.transient
          // A failed write surfaces at the final flush below.
          flush().then(
            () => options.onProgress?.(n),
            () => {},
          )
        }
      }),
    ),
  )
  await flush()
  options.onProgress?.(stats.graded + stats.transient)
  return stats
}
