/**
 * @module sdk/errors
 * The one error the application client throws (and hands to `onError`): the HTTP status and the
 * API's stable error code (`{ "error": { "code", "message", "fields"? } }`, docs/api.md "Errors"),
 * or, when no answer came, a client code: `NETWORK` (the server could not be reached), `TIMEOUT`,
 * `ABORTED` (the caller's signal), `HTTP` (an answer that is not the API's, e.g. a proxy's page);
 * and for records never sent: `QUEUE_FULL` (dropped from a full queue), `CLOSED` (after `close()`).
 * A template variable missing when rendering locally is `INVALID_INPUT` naming `input.<name>`, as
 * the gateway's 400 does.
 */
import type { ErrorCode } from '../core/errors.js'

/** The API's codes, and the client's own for requests that got no usable answer. */
export type ClientErrorCode = ErrorCode | 'NETWORK' | 'TIMEOUT' | 'ABORTED' | 'HTTP' | 'QUEUE_FULL' | 'CLOSED'

export class KaizenClientError extends Error {
  override readonly name = 'KaizenClientError'
  /** The HTTP status, or null when no response came (network, timeout, abort) or a local check failed. */
  readonly status: number | null
  /** The API's error code (e.g. `NOT_FOUND`), or `NETWORK` / `TIMEOUT` / `ABORTED`, or `HTTP` for a non-API body. */
  readonly code: ClientErrorCode
  /** JSON paths at fault, as the API names them (`records[3].input.summary`, `input.ticket`). */
  readonly fields: readonly string[]
  /** How long the server asked to wait (`Retry-After`), in milliseconds, when it said so. */
  readonly retryAfterMs: number | null

  constructor(
    code: ClientErrorCode,
    message: string,
    options: { status?: number | null; fields?: readonly string[]; retryAfterMs?: number | null; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = options.status ?? null
    this.fields = options.fields ?? []
    this.retryAfterMs = options.retryAfterMs ?? null
  }

  /** Worth sending again: no answer at all, 429, or a 5xx. A 4xx (the request itself is wrong) is not. */
  get retryable(): boolean {
    if (this.code === 'ABORTED') return false
    if (this.status === null) return this.code === 'NETWORK' || this.code === 'TIMEOUT'
    return this.status === 429 || this.status >= 500
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/** The typed error for a non-2xx response: the API's JSON error body, or the status and the start of the text. */
export function errorFromBody(
  res: { status: number; headers: Headers; text: string },
  what: string,
): KaizenClientError {
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
  let body: unknown = null
  try {
    body = JSON.parse(res.text)
  } catch {
    // not the API's JSON error (a proxy's page, an empty body): reported by status below
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; fields?: unknown } } | null)?.error
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    const fields = Array.isArray(error.fields) ? error.fields.filter((f): f is string => typeof f === 'string') : []
    return new KaizenClientError(error.code as ClientErrorCode, `${what}: ${error.message}`, {
      status: res.status,
      fields,
      retryAfterMs,
    })
  }
  const snippet = res.text.replace(/\s+/g, ' ').trim().slice(0, 200)
  return new KaizenClientError('HTTP', `${what}: HTTP ${res.status}${snippet ? ` (${snippet})` : ''}`, {
    status: res.status,
    retryAfterMs,
  })
}
