/**
 * @module cli/output
 * How the CLI talks: plain sentences on stderr for people, one JSON document on stdout with
 * --json, and exit codes that name the kind of failure.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client'
import { ZodError } from 'zod'
import { describeFailure, failureReport, type FailureReport } from '../client/failures.js'
import { fromZodError, isKaizenError, type ErrorCode } from '../core/errors.js'
import { isDbUnavailable } from '../lib/db-errors.js'
import { describeError as describeSafely } from '../lib/safe-log.js'

export const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_INPUT: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  INSUFFICIENT_DATA: 5,
  CONFIG_ERROR: 6,
  INFRA_UNAVAILABLE: 7,
  FORBIDDEN: 8,
  UNAUTHENTICATED: 8,
  PAYLOAD_TOO_LARGE: 2,
  PROVIDER_UNAVAILABLE: 9,
  PROVIDER_REJECTED: 9,
  BUDGET_EXHAUSTED: 10,
  INTERNAL: 1,
}

/** Progress and explanations for people (stderr, so stdout stays clean for --json). */
export const say = (line = ''): void => {
  process.stderr.write(`${line}\n`)
}

export const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

export const fmt = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits)

/** A p-value for people: `p = 0.0312`, or `p < 0.0001`. */
export const fmtP = (p: number | null | undefined): string =>
  p === null || p === undefined ? 'p = n/a' : p < 0.0001 ? 'p < 0.0001' : `p = ${p.toFixed(4)}`

export const SIM_LABEL = '[simulation]'

/** A failure's chain, outermost first, one link per line. */
export function describeChain(f: FailureReport): string {
  return f.chain
    .map((l) => `${l.kind}${l.name ? ` ${l.name}` : ''}${l.type ? ` [${l.type}]` : ''}: ${l.message}`)
    .join('\n    ← ')
}

/** Turn any error into a message and an exit code. */
export function describeError(err: unknown): { message: string; code: number } {
  if (err instanceof ZodError) err = fromZodError(err, 'input')
  if (isKaizenError(err)) return { message: err.message, code: EXIT_CODES[err.code] }
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return {
      message: `workflow id "${err.workflowId}" was already used; campaign ids are single-use, pick another --id`,
      code: EXIT_CODES.CONFLICT,
    }
  }
  if (err instanceof WorkflowNotFoundError) return { message: `not found: ${err.message}`, code: EXIT_CODES.NOT_FOUND }
  if (err instanceof WorkflowFailedError) {
    // The whole chain unwrapped: the root cause, its Kaizen code (the failure type) and where it failed.
    const f = failureReport(err)
    return { message: `the workflow failed: ${describeFailure(f)}`, code: f.code ? EXIT_CODES[f.code] : 1 }
  }
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = (err.cause as Error | undefined)?.message ?? err.message
    return { message: `rejected: ${cause}`, code: EXIT_CODES.CONFLICT }
  }
  // Anything else (a database error above all) is described without its data: no SQL parameters.
  return { message: describeSafely(err), code: isDbUnavailable(err) ? EXIT_CODES.INFRA_UNAVAILABLE : 1 }
}
