/**
 * @module activities/evaluator
 * Evaluate a prompt on dataset items: render, call the model through the evaluation cache
 * (Postgres, keyed by the content hash of provider, model, parameters, messages and replicate),
 * grade, and store scores idempotently. A cache hit costs nothing; a campaign's rollouts are the
 * cache misses it paid for.
 */
import { and, eq, inArray } from 'drizzle-orm'
import pLimit from 'p-limit'
import type { Reference } from '../core/decision.js'
import { isKaizenError } from '../core/errors.js'
import { renderMessages, type PromptContent } from '../core/prompt.js'
import type { ItemScore } from '../core/search/types.js'
import type { Db } from '../db/client.js'
import { evaluations, scores } from '../db/schema.js'
import { gradeDq } from '../graders/dq.js'
import type { DqSpec } from '../graders/types.js'
import { contentHash } from '../lib/hash.js'
import type { CompletionRequest } from '../providers/types.js'
import type { ActivityDeps } from './deps.js'

export interface EvalItem {
  /** The traffic record the item came from. */
  id: string
  input: Record<string, string>
  reference: Reference | null
  simExampleKey: string | null
}

export interface EvalOutcome extends ItemScore {
  cached: boolean
  error: string | null
  reason: string
  costUsd: number
  latencyMs: number
}

export interface EvaluateRequest {
  campaignId: string | null
  scenarioId: string | null
  content: PromptContent
  items: readonly EvalItem[]
  graderVersionId: string
  spec: DqSpec
  replicate?: number
  signal?: AbortSignal
  /** Called after every chunk (activities heartbeat here). */
  onProgress?: (done: number, total: number) => void
}

function requestFor(req: Pick<EvaluateRequest, 'content' | 'scenarioId' | 'replicate'>, item: EvalItem): CompletionRequest {
  return {
    model: req.content.model,
    messages: renderMessages(req.content, item.input),
    params: req.content.params,
    replicate: req.replicate ?? 0,
    ...(req.scenarioId && item.simExampleKey ? { simulation: { scenario: req.scenarioId, exampleKey: item.simExampleKey } } : {}),
  }
}

export function cacheKeyOf(providerId: string, request: CompletionRequest): string {
  const { signal: _signal, ...rest } = request
  return `ev_${contentHash({ provider: providerId, ...rest })}`
}

export class Evaluator {
  constructor(private readonly deps: ActivityDeps) {}

  private keys(req: Pick<EvaluateRequest, 'content' | 'scenarioId' | 'replicate'>, items: readonly EvalItem[]): string[] {
    const provider = this.deps.providers.resolve(req.content.model)
    return items.map((item) => cacheKeyOf(provider.id, requestFor(req, item)))
  }

  /** How many of these items would cost a model call (cache misses). */
  async uncachedCount(req: Pick<EvaluateRequest, 'content' | 'scenarioId' | 'replicate'>, items: readonly EvalItem[]): Promise<number> {
    const keys = [...new Set(this.keys(req, items))]
    if (keys.length === 0) return 0
    const hits = await this.deps.db.select({ k: evaluations.cacheKey }).from(evaluations).where(inArray(evaluations.cacheKey, keys))
    return keys.length - hits.length
  }

  async evaluate(req: EvaluateRequest): Promise<EvalOutcome[]> {
    const { db } = this.deps
    const provider = this.deps.providers.resolve(req.content.model)
    const keys = this.keys(req, req.items)
    const cached = new Map<string, typeof evaluations.$inferSelect>()
    const graded = new Map<string, typeof scores.$inferSelect>()
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500)
      for (const row of await db.select().from(evaluations).where(inArray(evaluations.cacheKey, chunk))) cached.set(row.cacheKey, row)
      const rows = await db
        .select()
        .from(scores)
        .where(and(eq(scores.subjectType, 'evaluation'), eq(scores.graderVersionId, req.graderVersionId), inArray(scores.subjectId, chunk)))
      for (const row of rows) graded.set(row.subjectId, row)
    }

    const limit = pLimit(this.deps.evalConcurrency)
    let done = 0
    const one = async (item: EvalItem, key: string): Promise<EvalOutcome> => {
      let row = cached.get(key)
      const wasCached = row !== undefined
      if (!row) {
        const request = { ...requestFor(req, item), ...(req.signal ? { signal: req.signal } : {}) }
        let values: typeof evaluations.$inferInsert
        try {
          const result = await provider.complete(request)
          values = {
            cacheKey: key,
            provider: result.provider,
            model: result.model,
            simulated: result.simulated,
            output: result.text,
            feedback: result.simulation?.feedback ?? null,
            inputTokens: result.usage.inputTokens,
            outputTokens: result.usage.outputTokens,
            latencyMs: result.latencyMs,
            costUsd: result.costUsd,
            campaignId: req.campaignId,
          }
        } catch (err) {
          // Transient failures propagate (the activity retries); a definitive refusal is recorded.
          if (!isKaizenError(err) || err.retryable) throw err
          values = { cacheKey: key, provider: provider.id, model: req.content.model, simulated: provider.simulated, error: err.message, campaignId: req.campaignId }
        }
        await db.insert(evaluations).values(values).onConflictDoNothing({ target: evaluations.cacheKey })
        row = (await db.select().from(evaluations).where(eq(evaluations.cacheKey, key)))[0] as typeof evaluations.$inferSelect
      }
      let score = graded.get(key)
      if (!score) {
        // A failed model call produced no decision: it scores 0, as in the canary's analysis.
        // (Only a grader that cannot judge gives null.)
        const result =
          row.error !== null
            ? { pass: false, score: 0, reason: `model call failed: ${row.error}`, dimensions: {} }
            : gradeDq({ output: row.output ?? '', input: item.input, reference: item.reference }, req.spec)
        const values = {
          subjectType: 'evaluation' as const,
          subjectId: key,
          graderVersionId: req.graderVersionId,
          score: result.score,
          pass: result.pass,
          reason: result.reason,
          dimensions: result.dimensions,
        }
        await db.insert(scores).values(values).onConflictDoNothing()
        score = { ...values, createdAt: new Date() }
      }
      done++
      if (req.onProgress && (done % 25 === 0 || done === req.items.length)) req.onProgress(done, req.items.length)
      return {
        itemId: item.id,
        score: score.score,
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
