/**
 * @module sdk/http
 * The client's transport: one request through `fetch` (injectable) with the bearer token and a
 * timeout that covers the whole exchange, body included; and retries with exponential backoff and
 * jitter that honour `Retry-After`. Only what every runtime has: `fetch`, `AbortController`,
 * `setTimeout`.
 */
import { KaizenClientError, errorFromBody } from './errors.js'

/** The part of `fetch` the client uses (pass your own to add headers, trace, or test). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>

export interface Transport {
  baseUrl: string
  token: string
  fetch: FetchLike
  timeoutMs: number
}

export interface HttpRequest {
  method: 'GET' | 'POST'
  path: string
  body?: unknown
  headers?: Record<string, string>
  timeoutMs?: number
  signal?: AbortSignal | undefined
  /** What the request does, for error messages: `resolve support-reply`. */
  what: string
}

/** A response read whole: the status, the headers and the body as text. */
export interface HttpResponse {
  status: number
  headers: Headers
  text: string
}

/**
 * Send one request and read its body. Any status is returned (callers decide what it means); a
 * request that got no response throws `NETWORK`, `TIMEOUT` or `ABORTED`.
 */
export async function send(t: Transport, req: HttpRequest): Promise<HttpResponse> {
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, req.timeoutMs ?? t.timeoutMs)
  const onAbort = () => controller.abort()
  if (req.signal?.aborted) controller.abort()
  req.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const res = await t.fetch(`${t.baseUrl}${req.path}`, {
      method: req.method,
      headers: {
        authorization: `Bearer ${t.token}`,
        accept: 'application/json',
        ...(req.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...req.headers,
      },
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      signal: controller.signal,
    })
    return { status: res.status, headers: res.headers, text: await res.text() }
  } catch (err) {
    if (timedOut)
      throw new KaizenClientError('TIMEOUT', `${req.what}: no answer within ${req.timeoutMs ?? t.timeoutMs} ms`, {
        cause: err,
      })
    if (req.signal?.aborted) throw new KaizenClientError('ABORTED', `${req.what}: aborted`, { cause: err })
    const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)
    throw new KaizenClientError('NETWORK', `${req.what}: ${t.baseUrl} could not be reached (${reason})`, {
      cause: err,
    })
  } finally {
    clearTimeout(timer)
    req.signal?.removeEventListener('abort', onAbort)
  }
}

/** Send, and parse a 2xx JSON body as T; any other status throws the API's typed error. */
export async function sendJson<T>(t: Transport, req: HttpRequest): Promise<T> {
  const res = await send(t, req)
  if (res.status < 200 || res.status > 299) throw errorFromBody(res, req.what)
  try {
    return JSON.parse(res.text) as T
  } catch (err) {
    throw new KaizenClientError('HTTP', `${req.what}: the answer (HTTP ${res.status}) is not JSON`, {
      status: res.status,
      cause: err,
    })
  }
}

export interface RetryPolicy {
  /** Attempts in all, the first included (1: never retried). */
  attempts: number
  /** The first retry waits about this long; each later one twice as long (with jitter). */
  baseDelayMs: number
  /** The longest backoff between two attempts. */
  maxDelayMs: number
}

/** The longest `Retry-After` honoured: a server asking for more gets this. */
export const MAX_RETRY_AFTER_MS = 60_000

/** How long to wait before attempt `attempt + 1` (attempt is 1-based): exponential, half jitter, capped. */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(exp / 2 + (exp / 2) * random())
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new KaizenClientError('ABORTED', 'aborted while waiting to retry'))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new KaizenClientError('ABORTED', 'aborted while waiting to retry'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Run `attempt` until it succeeds, fails with an error `shouldRetry` refuses, or the attempts are
 * spent (the last error is thrown). Between attempts: the backoff, or the server's `Retry-After`
 * when longer (at most {@link MAX_RETRY_AFTER_MS}).
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
  shouldRetry: (err: KaizenClientError) => boolean = (err) => err.retryable,
  signal?: AbortSignal,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (err) {
      if (!(err instanceof KaizenClientError) || !shouldRetry(err) || n >= policy.attempts) throw err
      const asked = err.retryAfterMs === null ? 0 : Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS)
      await sleep(Math.max(backoffMs(n, policy), asked), signal)
    }
  }
}
