/**
 * @module sdk/client
 * `kaizen/client`: the small typed client an application uses to serve its prompts through Kaizen.
 * It needs only `fetch` (any runtime that has it: Node ≥ 20, Deno, Bun, browsers, workers).
 *
 *   import { KaizenClient } from 'kaizen/client'
 *   const kaizen = new KaizenClient({ baseUrl: 'http://127.0.0.1:8787', token: process.env.KAIZEN_TOKEN! })
 *   const prompt = await kaizen.resolve('support-reply', userId)    // cached, revalidated with ETag
 *   const messages = kaizen.render(prompt.version, { ticket })      // rendered as the gateway renders
 *   // … call the model with messages …
 *   kaizen.record({ prompt, input: { ticket }, output, latencyMs })  // batched, retried, idempotent
 *   await kaizen.close()                                            // flushes what is queued
 *
 * Or let Kaizen make the call (gateway mode): `await kaizen.complete({ task, key, input })`.
 * Every failure is a {@link KaizenClientError} with the HTTP status and the API's error code.
 */
import { KaizenClientError } from './errors.js'
import { sendJson, withRetries, type FetchLike, type RetryPolicy, type Transport } from './http.js'
import { Recorder, type BatchOptions, type RecordErrorHandler } from './recorder.js'
import { toTrafficRecord } from './records.js'
import { render } from './render.js'
import { PromptCache } from './resolve.js'
import type {
  ChatMessage,
  CompleteInput,
  CompleteResult,
  FeedbackInput,
  FeedbackResult,
  FlushResult,
  PromptContent,
  RecordInput,
  ResolvedPrompt,
} from './types.js'

export { KaizenClientError, type ClientErrorCode } from './errors.js'
export type { FetchLike, RetryPolicy } from './http.js'
export type { BatchOptions, RecordErrorHandler } from './recorder.js'
export { render } from './render.js'
export type * from './types.js'

export interface KaizenClientOptions {
  /** Where `kaizen serve` listens, e.g. `http://127.0.0.1:8787`. */
  baseUrl: string
  /** An API token: scope `read` to resolve, `ingest` to record, complete and send feedback. */
  token: string
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike
  /** Longest wait for resolve, record and feedback requests, in ms (default 5,000). */
  timeoutMs?: number
  /** Longest wait for a gateway call, which includes the model's answer, in ms (default 120,000). */
  completeTimeoutMs?: number
  /** (task, key) pairs whose resolved prompt is cached (default 10,000; 0: no cache). */
  cacheSize?: number
  /** Batching of recorded calls (defaults: 100 per request, sent within 1 s, at most 10,000 waiting). */
  batch?: Partial<BatchOptions>
  /** Retries of record batches and feedback (defaults: 5 attempts, from 200 ms up to 10 s apart). */
  retry?: Partial<RetryPolicy>
  /** Told about recorded calls that were not stored (default: one line on console.error per batch). */
  onError?: RecordErrorHandler
  /** The clock, in ms (for tests). */
  now?: () => number
}

const MAX_BATCH = 1_000

/** A random UUID from Web Crypto (every runtime with `fetch` has it; the fallback is for non-secure browser pages). */
function newId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (c?.randomUUID) return c.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`
}

const defaultOnError: RecordErrorHandler = (err, records) =>
  console.error(`kaizen: ${records.length} recorded call(s) not stored: ${err.message}`)

export class KaizenClient {
  private readonly transport: Transport
  private readonly completeTimeoutMs: number
  private readonly retry: RetryPolicy
  private readonly prompts: PromptCache
  private readonly recorder: Recorder
  private readonly now: () => number
  private closed = false

  constructor(options: KaizenClientOptions) {
    if (!options.baseUrl) throw new KaizenClientError('INVALID_INPUT', 'KaizenClient: give baseUrl', {})
    if (!options.token) throw new KaizenClientError('INVALID_INPUT', 'KaizenClient: give an API token', {})
    const fetchImpl = options.fetch ?? (globalThis.fetch ? (url, init) => globalThis.fetch(url, init) : undefined)
    if (!fetchImpl) throw new KaizenClientError('INVALID_INPUT', 'KaizenClient: no global fetch here; pass one')
    this.transport = {
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      token: options.token,
      fetch: fetchImpl,
      timeoutMs: options.timeoutMs ?? 5_000,
    }
    this.completeTimeoutMs = options.completeTimeoutMs ?? 120_000
    this.now = options.now ?? Date.now
    this.retry = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, ...options.retry }
    this.prompts = new PromptCache(this.transport, { maxEntries: options.cacheSize ?? 10_000, now: this.now })
    const batch = { maxSize: 100, intervalMs: 1_000, maxQueue: 10_000, ...options.batch }
    batch.maxSize = Math.max(1, Math.min(MAX_BATCH, batch.maxSize))
    batch.maxQueue = Math.max(1, batch.maxQueue)
    this.recorder = new Recorder(this.transport, batch, this.retry, options.onError ?? defaultOnError)
  }

  /**
   * The prompt version to use for one request, for the routing key (user, session or tenant id:
   * the same key keeps its canary arm). Cached per (task, key) for the server's `max-age`, then
   * revalidated with the ETag; served `stale` from the cache when the server cannot answer.
   */
  resolve(task: string, key: string): Promise<ResolvedPrompt> {
    return this.prompts.resolve(task, key)
  }

  /** The messages `version` sends for `input`, exactly as the gateway renders them; see {@link render}. */
  render(version: { content: PromptContent }, input: Record<string, string>): ChatMessage[] {
    return render(version, input)
  }

  /**
   * Queue one call to be recorded (sent in a batch, retried until stored or reported to `onError`).
   * Returns the record's idempotency id (yours, or a new UUID): name the call by it in `feedback`.
   * A malformed record throws here (`INVALID_INPUT` naming the field) and is not queued.
   */
  record(call: RecordInput): string {
    if (this.closed) throw new KaizenClientError('CLOSED', 'record: the client is closed; nothing was recorded')
    const record = toTrafficRecord(call, newId, this.now())
    this.recorder.add(record)
    return record.id
  }

  /** Recorded calls not yet stored (waiting, or being sent). */
  get pending(): number {
    return this.recorder.pending
  }

  /** Totals since this client was made: records stored, already stored (a retry's repeat), not stored. */
  get recorded(): FlushResult {
    return this.recorder.recorded
  }

  /** Send every queued record now; resolves once each is stored or reported to `onError`. Never throws. */
  flush(): Promise<FlushResult> {
    return this.recorder.flush()
  }

  /** Flush, and take no more records (`record` then throws `CLOSED`). */
  async close(): Promise<FlushResult> {
    this.closed = true
    return this.recorder.flush()
  }

  /**
   * Gateway mode: Kaizen resolves, renders, calls the model, records the call and answers. The
   * request carries an idempotency id (yours, or a new one), so the client sends it again when the
   * server could not be reached (`NETWORK`) or said its database was unavailable (503
   * `INFRA_UNAVAILABLE`, before any model call): a repeat of a call that completed is answered
   * from its record, with no second model call (one still running on another API process may be
   * made twice; docs/api.md). Not retried: a timeout, a provider's refusal or failure (502, 503
   * `PROVIDER_UNAVAILABLE`: the server already retried the model), any 4xx.
   */
  async complete(request: CompleteInput): Promise<CompleteResult> {
    const { task, signal, ...body } = request
    const id = body.id ?? newId()
    return withRetries(
      () =>
        sendJson<CompleteResult>(this.transport, {
          method: 'POST',
          path: `/v1/tasks/${encodeURIComponent(task)}/complete`,
          body: { ...body, id },
          timeoutMs: this.completeTimeoutMs,
          signal,
          what: `complete (task "${task}")`,
        }),
      this.retry,
      (err) => err.code === 'NETWORK' || (err.status === 503 && err.code === 'INFRA_UNAVAILABLE'),
      signal,
    )
  }

  /**
   * An outcome or a rating for a recorded call, named by `trafficId` or by `task` and its record id.
   * A call recorded by this client and still queued is flushed first, so the server knows it.
   */
  async feedback(input: FeedbackInput): Promise<FeedbackResult> {
    if (input.task !== undefined && input.id !== undefined && this.recorder.holds(input.task, input.id))
      await this.recorder.flush()
    return withRetries(
      () =>
        sendJson<FeedbackResult>(this.transport, {
          method: 'POST',
          path: '/v1/feedback',
          body: input,
          what: 'feedback',
        }),
      this.retry,
    )
  }

  /** Forget every cached prompt (the next resolve of each key asks the server). */
  clearCache(): void {
    this.prompts.clear()
  }
}
