/**
 * @module providers/retry
 * The one place model calls are retried. Providers make single attempts (SDK retries are off, so
 * every attempt is counted once); this loop retries what can succeed later — HTTP 408, 409, 429,
 * 5xx, timeouts and dropped connections — waiting what the server asks (`Retry-After`) or an
 * exponential backoff with jitter, and gives up on everything else at once. Cancellation stops
 * the wait and the call.
 */
import { KaizenError, isKaizenError } from '../core/errors.js'

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number
  initialDelayMs: number
  maxDelayMs: number
  /** A Retry-After longer than this is not waited for: the call fails (and the activity may retry later). */
  maxRetryAfterMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 500,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 60_000,
}

export const RETRYABLE_STATUS = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500

/** Parse a Retry-After header: delta-seconds or an HTTP date. Null when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (!value) return null
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}

/** Exponential backoff with full jitter; `u` in [0, 1). */
export function backoffMs(attempt: number, policy: RetryPolicy, u: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1))
  return Math.round(cap / 2 + (cap / 2) * u)
}

export interface AttemptInfo {
  attempt: number
  error: KaizenError
  delayMs: number
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Run `attempt` until it succeeds, fails for good, or attempts run out. Errors must be
 * KaizenErrors (providers classify their own); `details.retryAfterMs` carries Retry-After.
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  options: {
    policy?: RetryPolicy
    signal?: AbortSignal
    onRetry?: (info: AttemptInfo) => void
    random?: () => number
  } = {},
): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY
  const random = options.random ?? Math.random
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted()
    try {
      return await attempt(n)
    } catch (err) {
      if (options.signal?.aborted) throw err
      if (!isKaizenError(err) || !err.retryable) throw err
      const retryAfter = typeof err.details?.retryAfterMs === 'number' ? err.details.retryAfterMs : null
      if (n >= policy.maxAttempts) {
        throw new KaizenError('PROVIDER_UNAVAILABLE', `${err.message} (gave up after ${n} attempts)`, {
          cause: err,
          details: { ...err.details, attempts: n },
        })
      }
      if (retryAfter !== null && retryAfter > policy.maxRetryAfterMs) {
        throw new KaizenError(
          'PROVIDER_UNAVAILABLE',
          `${err.message} (the server asks to wait ${Math.round(retryAfter / 1000)} s, more than ` +
            `${Math.round(policy.maxRetryAfterMs / 1000)} s)`,
          {
            cause: err,
            details: { ...err.details, attempts: n },
          },
        )
      }
      const delayMs = retryAfter ?? backoffMs(n, policy, random())
      options.onRetry?.({ attempt: n, error: err, delayMs })
      await sleep(delayMs, options.signal)
    }
  }
}
