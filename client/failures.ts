/**
 * @module client/failures
 * Temporal's errors as people need them.
 *
 * - `failureReport(err)`: a failed workflow's whole failure chain, unwrapped (workflow → activity
 *   or child workflow → the application failure that says what went wrong), with the root message
 *   and its Kaizen error code (the failure type Kaizen's activities set, `activities/failure.ts`).
 * - `temporalError(err, what)`: any error of a Temporal call as a `KaizenError` with a stable code
 *   (unknown workflow 404/exit 3, duplicate id or refused update 409/exit 4, server unreachable or
 *   no worker answering 503/exit 7), so the CLI and the API say the same thing.
 */
import {
  QueryRejectedError,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
} from '@temporalio/client'
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  ServerFailure,
  TerminatedFailure,
  TimeoutFailure,
} from '@temporalio/common'
import { ERROR_CODES, KaizenError, isKaizenError, type ErrorCode } from '../core/errors.js'

export interface FailureLink {
  /** What failed at this level. */
  kind:
    | 'workflow'
    | 'activity'
    | 'child-workflow'
    | 'application'
    | 'timeout'
    | 'cancelled'
    | 'terminated'
    | 'server'
    | 'error'
  message: string
  /** Application failures: their type (Kaizen's error code); timeouts: the timeout type. */
  type?: string | null
  /** Activities: the activity type; child workflows: the workflow type. */
  name?: string
  retryState?: string | null
}

export interface FailureReport {
  /** The innermost message: what actually went wrong. */
  message: string
  /** The innermost application failure's type, when it is one of Kaizen's error codes (else null). */
  code: ErrorCode | null
  /** Outermost first. */
  chain: FailureLink[]
}

const isErrorCode = (t: unknown): t is ErrorCode =>
  typeof t === 'string' && (ERROR_CODES as readonly string[]).includes(t)

function link(e: Error): FailureLink {
  if (e instanceof WorkflowFailedError)
    return { kind: 'workflow', message: e.message, retryState: e.retryState ?? null }
  if (e instanceof ActivityFailure)
    return { kind: 'activity', message: e.message, name: e.activityType, retryState: e.retryState ?? null }
  if (e instanceof ChildWorkflowFailure)
    return { kind: 'child-workflow', message: e.message, name: e.workflowType, retryState: e.retryState ?? null }
  if (e instanceof ApplicationFailure) return { kind: 'application', message: e.message, type: e.type ?? null }
  if (e instanceof TimeoutFailure)
    return { kind: 'timeout', message: e.message || `${e.timeoutType} timeout`, type: e.timeoutType ?? null }
  if (e instanceof TerminatedFailure) return { kind: 'terminated', message: e.message || 'terminated' }
  if (e instanceof CancelledFailure) return { kind: 'cancelled', message: e.message || 'cancelled' }
  if (e instanceof ServerFailure) return { kind: 'server', message: e.message }
  return { kind: 'error', message: e.message }
}

/** The whole chain of a failure, with its root cause and Kaizen code. */
export function failureReport(err: unknown): FailureReport {
  const chain: FailureLink[] = []
  const seen = new Set<unknown>()
  for (let e = err as Error | undefined; e && !seen.has(e); e = (e as { cause?: Error }).cause) {
    seen.add(e)
    const l = e instanceof Error ? link(e) : ({ kind: 'error', message: String(e) } as FailureLink)
    // Kaizen's activities attach the original error as the cause of its application failure: the same message again.
    if (chain.at(-1)?.kind === 'application' && chain.at(-1)?.message === l.message) continue
    chain.push(l)
  }
  const root = chain.at(-1)
  const typed = [...chain].reverse().find((l) => l.kind === 'application' && isErrorCode(l.type))
  // A timeout or termination says more with its kind ("workflow execution timed out").
  const message = root
    ? root.kind === 'timeout' && root.type
      ? `${root.type.toLowerCase().replace(/_/g, '-')} timeout`
      : root.message || root.kind
    : String(err)
  return { message, code: (typed?.type as ErrorCode | undefined) ?? null, chain }
}

/** `root message [CODE] (in activity snapshotDataset)`: one line for people. */
export function describeFailure(f: FailureReport): string {
  const where = f.chain.find((l) => l.kind === 'activity' || l.kind === 'child-workflow')
  const kind = f.chain.at(-1)?.kind
  const label =
    f.code ??
    (kind === 'terminated'
      ? 'terminated'
      : kind === 'cancelled'
        ? 'cancelled'
        : kind === 'timeout'
          ? 'timed out'
          : null)
  return (
    `${f.message}${label && !f.message.toLowerCase().startsWith(label.toLowerCase()) ? ` [${label}]` : ''}` +
    `${where?.name ? ` (in ${where.kind === 'activity' ? 'activity' : 'child workflow'} ${where.name})` : ''}`
  )
}

export const NO_WORKER_HINT =
  'start one with `kaizen up` (embedded) or `kaizen worker` (with DATABASE_URL and TEMPORAL_ADDRESS), on the ' +
  'same TEMPORAL_TASK_QUEUE'

/**
 * Any error of a Temporal call, as a KaizenError naming `what` (e.g. `campaign "x"`). KaizenErrors
 * pass through; an error that is none of Temporal's known ones is returned as it is (a bug: the API
 * logs it and answers 500).
 */
export function temporalError(err: unknown, what: string): Error {
  if (isKaizenError(err)) return err
  if (err instanceof WorkflowNotFoundError) return new KaizenError('NOT_FOUND', `no ${what}`, { cause: err })
  if (err instanceof WorkflowExecutionAlreadyStartedError)
    return new KaizenError('CONFLICT', `${what} already exists; campaign ids are single-use, pick another id`, {
      cause: err,
    })
  if (err instanceof WorkflowUpdateFailedError) {
    const f = failureReport(err.cause)
    return new KaizenError(f.code && f.code !== 'INTERNAL' ? f.code : 'CONFLICT', f.message, { cause: err })
  }
  if (err instanceof WorkflowFailedError) {
    const f = failureReport(err)
    return new KaizenError(f.code ?? 'INTERNAL', `${what} failed: ${describeFailure(f)}`, {
      cause: err,
      details: { failure: f },
    })
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err)) {
    return new KaizenError(
      'INFRA_UNAVAILABLE',
      `no worker answered for ${what} in time: is a Kaizen worker running? If not, ${NO_WORKER_HINT}`,
      { cause: err },
    )
  }
  if (err instanceof QueryRejectedError)
    return new KaizenError('CONFLICT', `${what} refused the query (${err.status})`, { cause: err })
  const grpc = isGrpcServiceError(err)
    ? err
    : err instanceof ServiceError && isGrpcServiceError(err.cause)
      ? err.cause
      : null
  if (grpc?.code === 5) return new KaizenError('NOT_FOUND', `no ${what}`, { cause: err })
  if (grpc || /connect|ECONNREFUSED|unavailable/i.test(String((err as Error)?.message))) {
    return new KaizenError(
      'INFRA_UNAVAILABLE',
      `Temporal cannot be reached (${(err as Error).message}); try again when it is back`,
      { cause: err },
    )
  }
  return err instanceof Error ? err : new Error(String(err))
}
