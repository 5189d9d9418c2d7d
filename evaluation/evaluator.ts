/**
 * @module evaluation/evaluator
 * Evaluate a prompt on dataset items: render, call the model through the model client (response
 * cache in Postgres keyed by content hash, limits, retries, spend ledger), grade with the grader
 * version, and store scores idempotently. A cache hit costs nothing; a campaign's rollouts are the
 * task calls it paid for.
 */
import { and, eq, inArray, lt } from 'drizzle-orm'
import pLimit from 'p-limit'
import type { CaseReference } from '../core/decision.js'
import { renderMessages, type PromptContent } from '../core/prompt.js'
import type { ItemScore } from '../core/search/types.js'
import { scores, traffic } from '../db/schema.js'
import { safetyFailures } from '../graders/safety/failures.js'
import type { GradeResult } from '../graders/types.js'
import { grade } from '../graders/engine.js'
import type { StoredSpec } from '../core/grader-spec.js'
import type { CallRecord } from '../providers/client.js'
import type { CompletionRequest } from '../providers/types.js'
import type { EvaluationDeps } from './deps.js'
import { judgeCaller } from './judge-caller.js'

export { cacheKeyOf } from '../providers/client.js'

export interface EvalItem {
  /** The traffic record the item came from. */
  id: string
  taskId: string
  input: Record<string, string>
  reference: CaseReference | null
  simExampleKey: string | null
}

/** The columns of a traffic record an evaluation item is read from (`select(evalItemColumns)`). */
export const evalItemColumns = {
  id: traffic.id,
  taskId: traffic.taskId,
  input: traffic.input,
  reference: traffic.reference,
  simExampleKey: traffic.simExampleKey,
}

export interface EvalOutcome extends ItemScore {
  /** The grader's pass verdict (null: ungradable). */
  pass: boolean | null
  /** Safety checks the answer failed (graders/safety). */
  safety: string[]
  cached: boolean
  error: string | null
  reason: string
  costUsd: number
  latencyMs: number
}

export interface EvaluateRequest {
  campaignId: string | null
  content: PromptContent
  items: readonly EvalItem[]
  graderVersionId: string
  spec: StoredSpec
  replicate?: number
  /** Hard spend limit of the campaign (USD): a call that could pass it is refused (BUDGET_EXHAUSTED). */
  budgetUsd?: number | null
  signal?: AbortSignal
  /** Called after every chunk (activities heartbeat here). */
  onProgress?: (done: number, total: number) => void
}

type RequestPart = Pick<EvaluateRequest, 'content' | 'replicate'>

/** The model call for an item; a simulated task's item carries the reference its provider answers by. */
export function requestFor(deps: Pick<EvaluationDeps, 'models'>, req: RequestPart, item: EvalItem): CompletionRequest {
  const simulation = deps.models.registry.simulation?.refFor(item.taskId, item.simExampleKey) ?? null
  return {
    model: req.content.model,
    messages: renderMessages(req.content, item.input),
    params: req.content.params,
    replicate: req.replicate ?? 0,
    ...(simulation ? { simulation } : {}),
  }
}

/**
 * Runs one item's work under the concurrency bounds: the worker's (shared by every activity of the
 * process, so a worker has at most KAIZEN_EVAL_CONCURRENCY evaluations in flight) and the call's own.
 */
export function itemLimit(
  deps: Pick<EvaluationDeps, 'workerLimit' | 'evalConcurrency'>,
  concurrency?: number,
): <T>(fn: () => Promise<T>) => Promise<T> {
  const own = pLimit(concurrency ?? deps.evalConcurrency)
  const worker = deps.workerLimit
  return worker ? (fn) => own(() => worker(fn)) : (fn) => own(fn)
}

export class Evaluator {
  constructor(private readonly deps: EvaluationDeps) {}

  private keys(req: RequestPart, items: readonly EvalItem[]): string[] {
    return items.map((item) => this.deps.models.keyOf(requestFor(this.deps, req, item)))
  }

  /** The items whose model call is not in the cache (each would cost a call). */
  async uncachedItems(req: RequestPart, items: readonly EvalItem[]): Promise<EvalItem[]> {
    const keys = this.keys(req, items)
    if (keys.length === 0) return []
    const cached = await this.deps.models.lookup(keys)
    return items.filter((_, i) => !cached.has(keys[i] as string))
  }

  /** How many of these items would cost a model call (cache misses). */
  async uncachedCount(req: RequestPart, items: readonly EvalItem[]): Promise<number> {
    const keys = [...new Set(this.keys(req, items))]
    if (keys.length === 0) return 0
    return keys.length - (await this.deps.models.lookup(keys)).size
  }

  /**
   * Scores this prompt already has on these items under this grader version (no model call, no
   * grading); items never evaluated are left out.
   */
  /** Stored grades only (no rollout); with `before`, only grades stored before that time. */
  async knownScores(
    req: RequestPart & Pick<EvaluateRequest, 'graderVersionId'>,
    items: readonly EvalItem[],
    before?: Date,
  ): Promise<ItemScore[]> {
    const keys = this.keys(req, items)
    const graded = await this.graded(keys, req.graderVersionId, before)
    return items.flatMap((item, i) => {
      const row = graded.get(keys[i] as string)
      return row ? [{ itemId: item.id, score: row.score, feedback: null }] : []
    })
  }

  /** Stored grades of these evaluation keys under a grader version, by key. */
  private async graded(
    keys: readonly string[],
    graderVersionId: string,
    before?: Date,
  ): Promise<Map<string, typeof scores.$inferSelect>> {
    const graded = new Map<string, typeof scores.$inferSelect>()
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500)
      const rows = await this.deps.db
        .select()
        .from(scores)
        .where(
          and(
            eq(scores.subjectType, 'evaluation'),
            eq(scores.graderVersionId, graderVersionId),
            inArray(scores.subjectId, chunk),
            before ? lt(scores.createdAt, before) : undefined,
          ),
        )
      for (const row of rows) graded.set(row.subjectId, row)
    }
    return graded
  }

  async evaluate(req: EvaluateRequest): Promise<EvalOutcome[]> {
    const { db, models } = this.deps
    const keys = this.keys(req, req.items)
    const cached = await models.lookup(keys)
    const graded = await this.graded(keys, req.graderVersionId)
    const ctx = {
      campaignId: req.campaignId,
      budgetUsd: req.budgetUsd ?? null,
      ...(req.signal ? { signal: req.signal } : {}),
    }
    const judge = judgeCaller(models, ctx, undefined, this.deps.redactor)

    const limit = itemLimit(this.deps)
    let done = 0
    const one = async (item: EvalItem, key: string): Promise<EvalOutcome> => {
      const hit = cached.get(key) ?? null
      const { record: row, cached: wasCached } = await models.complete(
        requestFor(this.deps, req, item),
        { ...ctx, purpose: 'task' },
        hit,
      )
      let score: Pick<typeof scores.$inferSelect, 'score' | 'reason' | 'pass' | 'dimensions'> | undefined =
        graded.get(key)
      if (!score) {
        // A failed model call produced no decision: it scores 0, as in the canary's analysis.
        // (Only a grader that cannot judge gives null.)
        const result =
          row.error !== null
            ? {
                pass: false,
                score: 0,
                reason: `model call failed: ${row.error}`,
                dimensions: {},
                gates: {},
                transient: false,
              }
            : await grade(
                req.spec,
                {
                  output: row.output ?? '',
                  input: item.input,
                  reference: item.reference,
                  latencyMs: row.latencyMs,
                  costUsd: row.costUsd,
                  model: req.content.model,
                },
                { judge },
              )
        const dimensions = {
          ...result.dimensions,
          ...Object.fromEntries(Object.entries(result.gates).map(([k, v]) => [`gate:${k}`, v])),
        }
        score = { score: result.score, reason: result.reason, pass: result.pass, dimensions }
        // A judge that is unavailable right now gives a null that is not stored: the next evaluation asks again.
        if (!result.transient) {
          await db
            .insert(scores)
            .values({
              subjectType: 'evaluation' as const,
              subjectId: key,
              graderVersionId: req.graderVersionId,
              score: result.score,
              pass: result.pass,
              reason: result.reason,
              dimensions,
            })
            .onConflictDoNothing()
        }
      }
      done++
      if (req.onProgress && (done % 25 === 0 || done === req.items.length)) req.onProgress(done, req.items.length)
      return {
        itemId: item.id,
        score: score.score,
        pass: score.score === null ? null : score.pass,
        safety: safetyFailures(score.dimensions as Record<string, Partial<GradeResult>> | null),
        feedback: score.score !== null && score.score >= 0.999 ? null : (row.feedback ?? score.reason),
        cached: wasCached,
        error: row.error,
        reason: score.reason,
        costUsd: row.costUsd,
        latencyMs: row.latencyMs,
      }
    }
    return Promise.all(req.items.map((item, i) => limit(() => one(item, keys[i] as string))))
  }
}

export type { CallRecord }
