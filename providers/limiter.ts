/**
 * @module providers/limiter
 * Per-provider limits, shared by every activity in a worker process: at most `concurrency` calls
 * in flight, and at most `tokensPerMinute` tokens (a token bucket refilled continuously; a call
 * reserves its estimated tokens before it starts and settles the difference when its real usage
 * is known). The clock and timers are injectable so the arithmetic is unit-tested without waiting.
 */

export interface LimiterOptions {
  concurrency: number
  /** Null: no token limit. */
  tokensPerMinute: number | null
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

/** A token bucket: capacity = one minute of tokens, refilled continuously. Pure arithmetic. */
export class TokenBucket {
  private tokens: number
  private last: number
  constructor(
    readonly perMinute: number,
    now: number,
  ) {
    this.tokens = perMinute
    this.last = now
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last)
    this.tokens = Math.min(this.perMinute, this.tokens + (elapsed * this.perMinute) / 60_000)
    this.last = now
  }

  /** Milliseconds to wait before `amount` tokens are available (0: take them now). */
  waitFor(amount: number, now: number): number {
    this.refill(now)
    const need = Math.min(amount, this.perMinute) - this.tokens
    return need <= 0 ? 0 : Math.ceil((need * 60_000) / this.perMinute)
  }

  take(amount: number, now: number): void {
    this.refill(now)
    this.tokens -= amount
  }

  /** Return (positive) or charge (negative) the difference between estimate and actual use. */
  settle(delta: number, now: number): void {
    this.refill(now)
    this.tokens = Math.min(this.perMinute, this.tokens + delta)
  }

  available(now: number): number {
    this.refill(now)
    return this.tokens
  }
}

export class ProviderLimiter {
  private active = 0
  private readonly queue: Array<() => void> = []
  private readonly bucket: TokenBucket | null
  private readonly now: () => number
  private readonly sleep: (ms: number) => Promise<void>
  private tokenLock: Promise<void> = Promise.resolve()
  /** Most calls seen in flight at once (for tests and benchmarks). */
  peak = 0

  constructor(readonly options: LimiterOptions) {
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1')
    this.now = options.now ?? Date.now
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)))
    this.bucket = options.tokensPerMinute ? new TokenBucket(options.tokensPerMinute, this.now()) : null
  }

  private async acquireSlot(signal?: AbortSignal): Promise<void> {
    if (this.active < this.options.concurrency) {
      this.active++
      return
    }
    await new Promise<void>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = () => {
        const i = this.queue.indexOf(go)
        if (i >= 0) this.queue.splice(i, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.queue.push(go)
    })
    // The releasing call handed its slot over: `active` is unchanged.
  }

  private release(): void {
    const next = this.queue.shift()
    if (next) next()
    else this.active--
  }

  /** Reserve tokens in arrival order (one waiter at a time, so big calls are not starved). */
  private async reserveTokens(amount: number, signal?: AbortSignal): Promise<void> {
    const bucket = this.bucket
    if (!bucket) return
    const previous = this.tokenLock
    let unlock!: () => void
    this.tokenLock = new Promise((r) => (unlock = r))
    try {
      await previous
      for (;;) {
        signal?.throwIfAborted()
        const wait = bucket.waitFor(amount, this.now())
        if (wait === 0) break
        await this.sleep(wait)
      }
      bucket.take(amount, this.now())
    } finally {
      unlock()
    }
  }

  /** Run `fn` within the limits; `estimatedTokens` is reserved first, `actualTokens(result)` settles it. */
  async run<T>(
    estimatedTokens: number,
    fn: () => Promise<T>,
    actualTokens: (result: T) => number,
    signal?: AbortSignal,
  ): Promise<T> {
    await this.reserveTokens(estimatedTokens, signal)
    await this.acquireSlot(signal)
    this.peak = Math.max(this.peak, this.active)
    try {
      const result = await fn()
      this.bucket?.settle(estimatedTokens - actualTokens(result), this.now())
      return result
    } finally {
      this.release()
    }
  }
}
