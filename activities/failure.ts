/**
 * @module activities/failure
 * The one place where Kaizen errors become Temporal failures: the error code becomes the
 * failure type, and only transient codes are retried.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/common'
import { isKaizenError } from '../core/errors.js'

export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof TemporalFailure) return err
  if (isKaizenError(err)) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: !err.retryable,
      details: err.details ? [err.details] : [],
      // A provider that said when to come back (Retry-After) sets the activity's next retry.
      ...(err.retryable && typeof err.details?.retryAfterMs === 'number' ? { nextRetryDelay: err.details.retryAfterMs } : {}),
      cause: err,
    })
  }
  return err // unknown errors (e.g. a dropped database connection) are retried by the activity policy
}

/** Wrap every activity so thrown Kaizen errors are mapped. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]) => {
      try {
        return await fn(...args)
      } catch (err) {
        throw toApplicationFailure(err)
      }
    }
  }
  return out as T
}
