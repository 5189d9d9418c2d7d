/**
 * @module activities/failure
 * The one place where errors thrown by activities become Temporal failures. A failure's message,
 * stack and causes are stored in the workflow's history, logged by the worker and shown by status
 * commands, so they carry descriptions, never data (lib/safe-log.ts):
 *
 * - a Kaizen error: its code is the failure type, and only transient codes are retried;
 * - a database error: type `INFRA_UNAVAILABLE` when the database could not be reached, otherwise
 *   `DATABASE_ERROR`, described by code, condition, constraint and table — never the SQL's
 *   parameters or the error's detail — and retried by the activity's policy;
 * - anything else: its name is the type, its message is cut to a scrubbed first line; retried.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/common'
import { isKaizenError } from '../core/errors.js'
import { dbFault } from '../lib/db-errors.js'
import { describeError, sanitizeError, stackFrames } from '../lib/safe-log.js'

/** Failure type of a database error that is not an outage (e.g. a constraint violation). */
export const DATABASE_ERROR = 'DATABASE_ERROR'

function withStackOf(failure: ApplicationFailure, err: unknown): ApplicationFailure {
  const frames = stackFrames(err)
  failure.stack = `${failure.name}: ${failure.message}${frames ? `\n${frames}` : ''}`
  return failure
}

export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof TemporalFailure) return err
  if (isKaizenError(err)) {
    return withStackOf(
      ApplicationFailure.create({
        message: describeError(err),
        type: err.code,
        nonRetryable: !err.retryable,
        details: err.details ? [err.details] : [],
        // A provider that said when to come back (Retry-After) sets the activity's next retry.
        ...(err.retryable && typeof err.details?.retryAfterMs === 'number'
          ? { nextRetryDelay: err.details.retryAfterMs }
          : {}),
        // What caused it, described like everything else (a raw cause would be stored whole).
        ...(err.cause !== undefined && err.cause !== null ? { cause: sanitizeError(err.cause) } : {}),
      }),
      err,
    )
  }
  const fault = dbFault(err)
  return withStackOf(
    ApplicationFailure.create({
      message: describeError(err),
      type: fault
        ? fault.kind === 'unavailable'
          ? 'INFRA_UNAVAILABLE'
          : DATABASE_ERROR
        : err instanceof Error
          ? err.name
          : 'Error',
      // Unknown errors (a dropped database connection above all) are retried by the activity policy.
      nonRetryable: false,
    }),
    err,
  )
}

/** Wrap every activity so thrown errors are mapped. */
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
