/**
 * @module activities/evaluation
 * Evaluation fan-out, the activity side (the protocol: core/fanout.ts).
 *
 * - `EvaluationPlanner`: a campaign step in fan-out mode asks it before evaluating; evaluations
 *   whose model calls are missing from the cache are deferred (their prompt stored by content key,
 *   their items split into chunks) instead of made, and the step answers with the chunks.
 * - `evaluateChunk`: one chunk, on the evaluation task queue: any worker runs it, under the
 *   worker's concurrency bound, idempotent through the evaluation cache (a retried or repeated
 *   chunk pays for nothing twice). Only the content key and item ids travel through history.
 */
import { heartbeat, cancellationSignal } from '@temporalio/activity'
import { inArray } from 'drizzle-orm'
import { chunksOf, type EvalChunk, type FanOutSettings, type NeedsEvaluations } from '../core/fanout.js'
import { KaizenError } from '../core/errors.js'
import type { PromptContent } from '../core/prompt.js'
import { evalContents, traffic } from '../db/schema.js'
import { getGraderSpec } from '../db/queries/graders.js'
import { contentHash } from '../lib/hash.js'
import type { ActivityDeps } from './deps.js'
import { Evaluator, evalItemColumns, type EvalItem } from '../evaluation/evaluator.js'

/** How often a chunk activity heartbeats while it runs (its heartbeat timeout is a few of these). */
export const CHUNK_BEAT_MS = 3_000

/** The key a prompt content is stored and evaluated under. */
export const contentKeyOf = (content: PromptContent): string => `pc_${contentHash(content)}`

/** Thrown through a search strategy when an evaluation was deferred: the step ends and answers with its needs. */
export class Deferred extends Error {
  constructor() {
    super('evaluations deferred to chunk activities')
  }
}

export interface EvaluateChunkInput extends EvalChunk {
  campaignId: string
  graderVersionId: string
  budgetUsd?: number | null
}

export interface ChunkOutcome {
  items: number
  /** Model calls this chunk paid for (cache misses). */
  paid: number
}

/** Dataset items by traffic id, in the order asked. */
export async function itemsById(db: ActivityDeps['db'], ids: readonly string[]): Promise<EvalItem[]> {
  const rows = await db
    .select(evalItemColumns)
    .from(traffic)
    .where(inArray(traffic.id, [...new Set(ids)]))
  const byId = new Map(rows.map((r) => [r.id, r]))
  return ids.map((id) => {
    const item = byId.get(id)
    if (!item) throw new KaizenError('NOT_FOUND', `traffic record ${id} to evaluate is gone (erased by retention?)`)
    return item
  })
}

/**
 * Collects the evaluations a step defers. `defer` is asked before every evaluation: it answers
 * false when the evaluation should be made in the step itself (a simulated model, everything
 * cached, or fewer misses than `minItems`), true when it deferred the missing items instead.
 */
export class EvaluationPlanner {
  private readonly pending = new Map<string, { content: PromptContent; itemIds: string[] }>()
  private readonly evaluator: Evaluator

  constructor(
    private readonly deps: ActivityDeps,
    private readonly settings: FanOutSettings,
    /** Set when a chunk already ran into the spend budget: deferring more is refused with this reason. */
    private readonly budgetExhausted: string | null = null,
  ) {
    this.evaluator = new Evaluator(deps)
  }

  /** Whether anything was deferred (the step's own result is then incomplete and is not returned). */
  get deferred(): boolean {
    return this.pending.size > 0
  }

  async defer(req: { content: PromptContent }, items: readonly EvalItem[]): Promise<boolean> {
    // The simulation answers in-process at once: spreading its calls over workers only adds round trips.
    if (this.deps.providers.resolve(req.content.model).simulated) return false
    const missing = await this.evaluator.uncachedItems(req, items)
    if (missing.length === 0 || (missing.length < this.settings.minItems && !this.deferred)) return false
    if (this.budgetExhausted) throw new KaizenError('BUDGET_EXHAUSTED', this.budgetExhausted)
    const key = contentKeyOf(req.content)
    const entry = this.pending.get(key) ?? { content: req.content, itemIds: [] }
    entry.itemIds.push(...missing.map((i) => i.id))
    this.pending.set(key, entry)
    return true
  }

  /** Store the deferred prompts (content-addressed) and split their items into chunks. */
  async needs(): Promise<NeedsEvaluations> {
    const entries = [...this.pending]
    const needs = chunksOf(new Map(entries.map(([key, e]) => [key, [...e.itemIds]])), this.settings.chunkItems)
    const rows = entries.map(([key, { content }]) => ({ key, content: content as unknown as Record<string, unknown> }))
    if (rows.length > 0) await this.deps.db.insert(evalContents).values(rows).onConflictDoNothing()
    return { needs }
  }
}

/** Counts calls in flight, so a step can wait for the ones still running before it answers. */
export class InFlight {
  private n = 0
  private waiters: Array<() => void> = []

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.n++
    try {
      return await fn()
    } finally {
      if (--this.n === 0) for (const w of this.waiters.splice(0)) w()
    }
  }

  idle(): Promise<void> {
    return this.n === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r))
  }
}

export function createEvaluationActivities(deps: ActivityDeps) {
  const evaluator = new Evaluator(deps)
  /** Contents by key (content-addressed, written once: a cached read is always right). */
  const contents = new Map<string, PromptContent>()
  const contentOf = async (key: string): Promise<PromptContent> => {
    const known = contents.get(key)
    if (known) return known
    const row = await deps.db.query.evalContents.findFirst({ where: (t, { eq }) => eq(t.key, key) })
    if (!row) throw new KaizenError('NOT_FOUND', `no stored prompt content ${key} to evaluate`)
    // Exactly as stored (no schema defaults added): the cache keys depend on every field.
    const content = row.content as unknown as PromptContent
    if (contents.size >= 1_000) contents.clear()
    contents.set(key, content)
    return content
  }
  return {
    /** Evaluate one prompt on a few items: model calls through the cache, grades stored once. */
    async evaluateChunk(input: EvaluateChunkInput): Promise<ChunkOutcome> {
      const content = await contentOf(input.contentKey)
      const spec = await getGraderSpec(deps.db, input.graderVersionId)
      const items = await itemsById(deps.db, input.itemIds)
      // A beat every few seconds while the chunk runs (a slow model call is not a dead worker); a
      // killed worker's chunk is retried elsewhere after the chunks' short heartbeat timeout.
      let done = 0
      heartbeat({ done, total: items.length })
      const beat = setInterval(() => heartbeat({ done, total: items.length }), CHUNK_BEAT_MS)
      const out = await evaluator
        .evaluate({
          campaignId: input.campaignId,
          content,
          items,
          graderVersionId: input.graderVersionId,
          spec,
          signal: cancellationSignal(),
          budgetUsd: input.budgetUsd ?? null,
          onProgress: (n) => (done = n),
        })
        .finally(() => clearInterval(beat))
      return { items: out.length, paid: out.filter((o) => !o.cached).length }
    },
  }
}
