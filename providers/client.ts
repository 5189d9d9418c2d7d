/**
 * @module providers/client
 * Every model call goes through here: the response cache in Postgres (keyed by the content hash
 * of provider, model, parameters, messages, response format and replicate — a hit costs nothing
 * and makes no call), the provider's limits, the one retry loop, and the spend ledger (each paid
 * call is recorded with the campaign that paid for it; a campaign's spend is the sum).
 *
 * A USD budget is a hard stop: before a call, its worst-case cost (input tokens + the maximum
 * output) is reserved; a call that would take spend past the limit is refused with
 * BUDGET_EXHAUSTED. Across several worker processes the in-memory reservations are per process,
 * so spend can pass the limit by at most the calls in flight on the other workers.
 */
import { costAt } from './prices.js'
import { setMaxListeners } from 'node:events'
import { and, eq, inArray, sql } from 'drizzle-orm'
import { KaizenError, isKaizenError } from '../core/errors.js'
import type { Db } from '../db/client.js'
import { evaluations } from '../db/schema.js'
import { contentHash } from '../lib/hash.js'
import type { ProviderRegistry } from './registry.js'
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './retry.js'
import { approxTokens } from '../core/prompt.js'
import type { CompletionRequest, CompletionResult } from './types.js'

export type CallRecord = typeof evaluations.$inferSelect

export interface CallContext {
  /** The campaign paying for the call (its spend ledger), if any. */
  campaignId: string | null
  purpose: 'task' | 'judge' | 'proposer'
  /** Hard spend limit of the campaign in USD. */
  budgetUsd?: number | null
  signal?: AbortSignal
}

export function cacheKeyOf(providerId: string, request: CompletionRequest): string {
  const { signal: _signal, timeoutMs: _timeout, ...rest } = request
  return `ev_${contentHash({ provider: providerId, ...rest })}`
}

export class ModelClient {
  private readonly reserved = new Map<string, number>()
  /** Provider calls made by this client (attempts, retries included): tests and benchmarks read it. */
  attempts = 0

  constructor(
    private readonly db: Db,
    readonly registry: ProviderRegistry,
    private readonly options: { retry?: RetryPolicy; timeoutMs?: number } = {},
  ) {}

  keyOf(request: CompletionRequest): string {
    return cacheKeyOf(this.registry.resolve(request.model).id, request)
  }

  /** Cached calls among these keys. */
  async lookup(keys: readonly string[]): Promise<Map<string, CallRecord>> {
    const found = new Map<string, CallRecord>()
    const unique = [...new Set(keys)]
    for (let i = 0; i < unique.length; i += 500) {
      for (const row of await this.db
        .select()
        .from(evaluations)
        .where(inArray(evaluations.cacheKey, unique.slice(i, i + 500))))
        found.set(row.cacheKey, row)
    }
    return found
  }

  /** What a campaign has paid for model calls so far (USD). */
  async spent(campaignId: string): Promise<number> {
    const [row] = await this.db
      .select({ usd: sql<string>`coalesce(sum(${evaluations.costUsd}), 0)` })
      .from(evaluations)
      .where(eq(evaluations.campaignId, campaignId))
    return Number(row?.usd ?? 0)
  }

  /** Task rollouts a campaign paid for (cache misses of the prompt under evaluation). */
  async rollouts(campaignId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<string>`count(*)` })
      .from(evaluations)
      .where(and(eq(evaluations.campaignId, campaignId), eq(evaluations.purpose, 'task')))
    return Number(row?.n ?? 0)
  }

  /** Worst-case cost of a request: its input plus the maximum output, at the model's price. */
  worstCaseUsd(request: CompletionRequest): number | null {
    const price = this.registry.price(request.model)
    if (!price) return null
    const input = approxTokens(request.messages.map((m) => m.content).join('\n'))
    return costAt(price, { inputTokens: input, outputTokens: request.params.maxTokens })
  }

  /**
   * One live call, no cache and no ledger: the provider's limits and the retry loop only. The
   * gateway serves production requests with it; `complete` builds on it. `tally.attempts` counts
   * the provider attempts made, retries included, whether the call succeeds or not.
   */
  async live(
    request: CompletionRequest,
    signal?: AbortSignal,
    tally: { attempts: number } = { attempts: 0 },
  ): Promise<CompletionResult> {
    // One signal (an activity's cancellation) is shared by every call in flight, each listening to it.
    if (signal) setMaxListeners(0, signal)
    const provider = this.registry.resolve(request.model)
    const limiter = provider.simulated ? null : this.registry.limiter(provider.id)
    const estimate = approxTokens(request.messages.map((m) => m.content).join('\n')) + request.params.maxTokens
    const call = () =>
      provider.complete({
        ...request,
        ...(signal ? { signal } : {}),
        ...(this.options.timeoutMs && !request.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
      })
    return withRetries(
      async () => {
        tally.attempts++
        this.attempts++
        return limiter ? limiter.run(estimate, call, (r) => r.usage.inputTokens + r.usage.outputTokens, signal) : call()
      },
      { policy: this.options.retry ?? DEFAULT_RETRY, ...(signal ? { signal } : {}) },
    )
  }

  /**
   * The answer to a request: from the cache, or from one provider call (with retries). A
   * definitive provider refusal is recorded (as an error row) so it is not paid for twice;
   * transient failures throw and nothing is recorded. `known` is the caller's own cache lookup
   * (null: looked up and missing), so a batch that looked up all its keys is not read twice.
   */
  async complete(
    request: CompletionRequest,
    ctx: CallContext,
    known?: CallRecord | null,
  ): Promise<{ record: CallRecord; cached: boolean }> {
    const provider = this.registry.resolve(request.model)
    const key = cacheKeyOf(provider.id, request)
    const hit = known === undefined ? (await this.lookup([key])).get(key) : known
    if (hit) return { record: hit, cached: true }

    let reservation = 0
    if (ctx.budgetUsd != null && ctx.campaignId) {
      const worst = this.worstCaseUsd(request)
      if (worst === null) {
        throw new KaizenError(
          'CONFIG_ERROR',
          `model "${request.model}" has no price, so a USD budget cannot be enforced; add it to the price ` +
            `file (KAIZEN_PRICES_FILE) or run without a budget`,
        )
      }
      const spent = (await this.spent(ctx.campaignId)) + (this.reserved.get(ctx.campaignId) ?? 0)
      if (spent + worst > ctx.budgetUsd) {
        throw new KaizenError(
          'BUDGET_EXHAUSTED',
          `campaign ${ctx.campaignId} has spent $${spent.toFixed(4)} of its $${ctx.budgetUsd} budget; the ` +
            `next call could cost up to $${worst.toFixed(4)}`,
          {
            details: { campaignId: ctx.campaignId, spentUsd: spent, budgetUsd: ctx.budgetUsd, nextCallUsd: worst },
          },
        )
      }
      reservation = worst
      this.reserved.set(ctx.campaignId, (this.reserved.get(ctx.campaignId) ?? 0) + worst)
    }
    const release = () => {
      if (reservation > 0 && ctx.campaignId)
        this.reserved.set(ctx.campaignId, (this.reserved.get(ctx.campaignId) ?? 0) - reservation)
    }

    const tally = { attempts: 0 }
    let values: typeof evaluations.$inferInsert
    try {
      const result = await this.live(request, ctx.signal, tally)
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
        costUsd: result.costUsd ?? 0,
        campaignId: ctx.campaignId,
        purpose: ctx.purpose,
        attempts: tally.attempts,
      }
    } catch (err) {
      release()
      if (!isKaizenError(err) || err.code !== 'PROVIDER_REJECTED') throw err
      values = {
        cacheKey: key,
        provider: provider.id,
        model: request.model,
        simulated: provider.simulated,
        error: err.message,
        campaignId: ctx.campaignId,
        purpose: ctx.purpose,
        attempts: tally.attempts,
      }
    }
    let inserted: CallRecord[]
    try {
      inserted = await this.db
        .insert(evaluations)
        .values(values)
        .onConflictDoNothing({ target: evaluations.cacheKey })
        .returning()
    } finally {
      if (values.error === undefined) release()
    }
    // Written by a concurrent caller first: theirs is the record.
    const row = inserted[0] ?? (await this.db.select().from(evaluations).where(eq(evaluations.cacheKey, key)))[0]
    return { record: row as CallRecord, cached: false }
  }
}
