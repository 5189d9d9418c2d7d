/**
 * @module core/fanout
 * Evaluation fan-out, the protocol between a campaign step and the workflow: a step that would
 * make many model calls (the baseline's score, a search round's candidates, the holdout gate)
 * does not make them itself; it answers with the evaluations it needs, in chunks. The workflow
 * runs the chunks as activities on the evaluation task queue, where any worker takes them, and
 * then calls the step again, which finds every answer in the cache and goes on.
 *
 * Pure module: safe to import from workflow code.
 */

/** One chunk of evaluation work: a prompt (by content key) on a few dataset items (traffic ids). */
export interface EvalChunk {
  contentKey: string
  itemIds: string[]
}

/** What a step answers instead of its result while evaluations are missing. */
export interface NeedsEvaluations {
  needs: EvalChunk[]
}

/** How a step fans out; the workflow decides, so every attempt and replay uses the same values. */
export interface FanOutSettings {
  /** Fewer missing evaluations than this are made in the step itself (a chunk round trip costs more). */
  minItems: number
  /** Items per chunk activity. */
  chunkItems: number
}

/** The settings campaigns use: chunks of 4 items, fanned out from 8 missing evaluations up. */
export const FAN_OUT: FanOutSettings = { minItems: 8, chunkItems: 4 }

export function isNeeds(value: unknown): value is NeedsEvaluations {
  return typeof value === 'object' && value !== null && Array.isArray((value as NeedsEvaluations).needs)
}

/** Split each prompt's missing items into chunks of at most `size` (order kept, duplicates dropped). */
export function chunksOf(byContent: ReadonlyMap<string, readonly string[]>, size: number): EvalChunk[] {
  const out: EvalChunk[] = []
  for (const [contentKey, ids] of byContent) {
    const unique = [...new Set(ids)]
    for (let i = 0; i < unique.length; i += size) out.push({ contentKey, itemIds: unique.slice(i, i + size) })
  }
  return out
}

/** A stable fingerprint of a set of chunks (a step that asks twice for the same work makes no progress). */
export function needsKey(needs: readonly EvalChunk[]): string {
  return needs
    .map((c) => `${c.contentKey}:${c.itemIds.join(',')}`)
    .sort()
    .join('|')
}
