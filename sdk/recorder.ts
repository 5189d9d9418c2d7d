/**
 * @module sdk/recorder
 * Recorded calls leave in batches (`POST /v1/traffic`): a batch goes when `maxSize` records are
 * queued or `intervalMs` after the first of them, one batch at a time. A batch that gets no answer,
 * a 429 or a 5xx is sent again, the same records with the same ids, after a backoff (or the
 * server's `Retry-After`); the server stores a record once per id, so a batch that was stored but
 * whose answer was lost is not stored twice. A 4xx is not retried: the batch is handed to
 * `onError` with the API's error (so is one whose attempts ran out). The queue is bounded: past
 * `maxQueue` the oldest records are dropped, and reported.
 */
import { KaizenClientError } from './errors.js'
import { sendJson, withRetries, type RetryPolicy, type Transport } from './http.js'
import type { FlushResult, TrafficRecord } from './types.js'

export interface BatchOptions {
  /** Records per request (the API takes at most 1,000). */
  maxSize: number
  /** How long a record may wait for others before its batch is sent, in ms. */
  intervalMs: number
  /** Most records waiting; past it the oldest are dropped and reported to `onError`. */
  maxQueue: number
}

/** Told about records that were not stored, with the reason: the API's error, or the client's. */
export type RecordErrorHandler = (error: KaizenClientError, records: readonly TrafficRecord[]) => void

export class Recorder {
  private queue: TrafficRecord[] = []
  private inFlight: readonly TrafficRecord[] = []
  private timer: ReturnType<typeof setTimeout> | null = null
  private sending: Promise<void> | null = null
  /** Set when the interval passed or a flush asked: a partial batch goes too. */
  private due = false
  private readonly totals: FlushResult = { stored: 0, duplicates: 0, failed: 0 }

  constructor(
    private readonly transport: Transport,
    private readonly options: BatchOptions,
    private readonly retry: RetryPolicy,
    private readonly onError: RecordErrorHandler,
  ) {}

  /** Records waiting or being sent. */
  get pending(): number {
    return this.queue.length + this.inFlight.length
  }

  /** Every record sent since this recorder was made: stored, already stored, given up on. */
  get recorded(): FlushResult {
    return { ...this.totals }
  }

  /** Whether a record of this task with this id is waiting or being sent. */
  holds(task: string, id: string): boolean {
    const match = (r: TrafficRecord) => r.task === task && r.id === id
    return this.queue.some(match) || this.inFlight.some(match)
  }

  add(record: TrafficRecord): void {
    if (this.queue.length >= this.options.maxQueue) {
      const dropped = this.queue.splice(0, this.queue.length - this.options.maxQueue + 1)
      this.totals.failed += dropped.length
      this.report(
        new KaizenClientError(
          'QUEUE_FULL',
          `${dropped.length} recorded call(s) dropped: ${this.options.maxQueue} were waiting to be sent ` +
            `(the server has not been taking them)`,
        ),
        dropped,
      )
    }
    this.queue.push(record)
    if (this.queue.length >= this.options.maxSize) void this.kick()
    else this.arm()
  }

  /** Send everything queued now and wait until it is stored, or given up on (and reported). */
  async flush(): Promise<FlushResult> {
    const before = { ...this.totals }
    while (this.queue.length > 0 || this.sending) {
      this.due = true
      await this.kick()
    }
    return {
      stored: this.totals.stored - before.stored,
      duplicates: this.totals.duplicates - before.duplicates,
      failed: this.totals.failed - before.failed,
    }
  }

  /** The interval's timer, while records wait and none is set: when it fires, what waits is due. */
  private arm(): void {
    if (this.timer !== null || this.queue.length === 0) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.due = true
      void this.kick()
    }, this.options.intervalMs)
  }

  private kick(): Promise<void> {
    this.sending ??= this.drain().finally(() => {
      this.sending = null
      this.arm()
    })
    return this.sending
  }

  /** Send full batches, and a partial one once due (interval passed, or flush); one request at a time. */
  private async drain(): Promise<void> {
    while (this.queue.length >= this.options.maxSize || (this.due && this.queue.length > 0)) {
      const batch = this.queue.splice(0, this.options.maxSize)
      if (this.queue.length === 0 && this.timer !== null) {
        clearTimeout(this.timer)
        this.timer = null
      }
      this.inFlight = batch
      try {
        await this.send(batch)
      } finally {
        this.inFlight = []
      }
    }
    this.due = false
  }

  private async send(batch: TrafficRecord[]): Promise<void> {
    const what = `record ${batch.length} call(s)`
    try {
      const r = await withRetries(
        () =>
          sendJson<{ stored: number; duplicates: number }>(this.transport, {
            method: 'POST',
            path: '/v1/traffic',
            body: { records: batch },
            what,
          }),
        this.retry,
      )
      this.totals.stored += r.stored
      this.totals.duplicates += r.duplicates
    } catch (err) {
      this.totals.failed += batch.length
      this.report(
        err instanceof KaizenClientError ? err : new KaizenClientError('HTTP', `${what}: ${String(err)}`),
        batch,
      )
    }
  }

  private report(error: KaizenClientError, records: readonly TrafficRecord[]): void {
    try {
      this.onError(error, records)
    } catch {
      // a failing handler must not stop the sending of later batches
    }
  }
}
