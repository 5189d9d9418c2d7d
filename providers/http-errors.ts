/**
 * @module providers/http-errors
 * Turn an SDK error (OpenAI and Anthropic SDKs share the same error classes' shape) into a
 * KaizenError: retryable (PROVIDER_UNAVAILABLE) for 408/409/429/5xx, timeouts and dropped
 * connections, definitive (PROVIDER_REJECTED) for other 4xx. Retry-After travels in details.
 */
import { KaizenError } from '../core/errors.js'
import { RETRYABLE_STATUS, parseRetryAfter } from './retry.js'

interface SdkErrorLike {
  name?: string
  message?: string
  status?: number
  headers?: Headers | Record<string, string> | undefined
}

function header(headers: SdkErrorLike['headers'], name: string): string | null {
  if (!headers) return null
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name)
  const rec = headers as Record<string, string>
  return rec[name] ?? rec[name.toLowerCase()] ?? null
}

export function classifySdkError(provider: string, model: string, err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? err
  const e = err as SdkErrorLike
  // The SDKs' error classes do not all set `name`: the class name is reliable.
  const name = (err as { constructor?: { name?: string } })?.constructor?.name ?? e?.name ?? ''
  const where = `${provider} ${model}`
  if (name === 'APIUserAbortError') return err
  if (name === 'APIConnectionTimeoutError') {
    return new KaizenError('PROVIDER_UNAVAILABLE', `${where}: timed out`, {
      cause: err,
      details: { provider, model, kind: 'timeout' },
    })
  }
  if (name === 'APIConnectionError') {
    return new KaizenError('PROVIDER_UNAVAILABLE', `${where}: connection failed (${e.message ?? 'no detail'})`, {
      cause: err,
      details: { provider, model, kind: 'connection' },
    })
  }
  if (typeof e?.status === 'number') {
    const status = e.status
    const retryAfterMs = parseRetryAfter(
      header(e.headers, 'retry-after-ms')
        ? String(Number(header(e.headers, 'retry-after-ms')) / 1000)
        : header(e.headers, 'retry-after'),
    )
    const details: Record<string, unknown> = {
      provider,
      model,
      status,
      ...(retryAfterMs !== null ? { retryAfterMs } : {}),
    }
    const message = `${where}: HTTP ${status}: ${(e.message ?? '').slice(0, 300)}`
    if (RETRYABLE_STATUS(status)) return new KaizenError('PROVIDER_UNAVAILABLE', message, { cause: err, details })
    const hint =
      status === 401 || status === 403
        ? ' (check the API key)'
        : status === 404
          ? ' (check the model id and the base URL)'
          : ''
    return new KaizenError('PROVIDER_REJECTED', message + hint, { cause: err, details })
  }
  return err
}
