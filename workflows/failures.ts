/**
 * @module workflows/failures
 * Reading a failure that arrives in a workflow: Temporal wraps an activity's error in an
 * ActivityFailure (and a child's in a ChildWorkflowFailure), so the message people need and
 * Kaizen's error code are on the innermost cause.
 */
import { ApplicationFailure } from '@temporalio/workflow'

/** The innermost message of a failure. */
export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined
  while (e?.cause) e = e.cause as typeof e
  return e?.message ?? String(err)
}

/** The type (Kaizen's error code) of the innermost ApplicationFailure, if any. */
export function failureType(err: unknown): string | null {
  let type: string | null = null
  for (let e = err as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (e instanceof ApplicationFailure && e.type) type = e.type
  return type
}

/** The root message with the error code of the innermost application failure. */
export function rootCause(err: unknown): string {
  const type = failureType(err)
  return `${rootMessage(err)}${type ? ` [${type}]` : ''}`
}
