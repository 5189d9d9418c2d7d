/**
 * @module core/errors
 * One typed error for the whole product. Every failure a user or an operator can act on carries a
 * stable `code`; the CLI maps codes to exit statuses, activities map them to Temporal
 * `ApplicationFailure` types (see `activities/failure.ts`), and the HTTP layer to statuses.
 *
 * Pure module: safe to import from workflow code.
 */
import type { ZodError } from 'zod'

export const ERROR_CODES = [
  /** Bad input: a flag, a config file, a scenario, an HTTP body. Never retried. */
  'INVALID_INPUT',
  /** A named thing (task, prompt version, canary, campaign) does not exist. */
  'NOT_FOUND',
  /** The request is valid but conflicts with current state (e.g. canary not awaiting approval). */
  'CONFLICT',
  /** Not enough data to do the job safely (e.g. too little traffic to sample). */
  'INSUFFICIENT_DATA',
  /** Configuration of the environment is wrong or incomplete. */
  'CONFIG_ERROR',
  /** A required piece of infrastructure (database, Temporal, CLI binary) is unavailable. */
  'INFRA_UNAVAILABLE',
  /** A model provider failed in a way that may succeed on retry. */
  'PROVIDER_UNAVAILABLE',
  /** A model provider rejected the request; retrying will not help. */
  'PROVIDER_REJECTED',
  /** A spend or rollout budget is exhausted. */
  'BUDGET_EXHAUSTED',
  /** The caller lacks the identity or permission to do this. */
  'FORBIDDEN',
  /** No credentials, or credentials that are not valid (a missing, unknown or revoked API token). */
  'UNAUTHENTICATED',
  /** A request body larger than the server accepts. */
  'PAYLOAD_TOO_LARGE',
  /** An invariant of Kaizen itself was violated: a bug. */
  'INTERNAL',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

/** Codes worth retrying (transient). Everything else fails fast. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['INFRA_UNAVAILABLE', 'PROVIDER_UNAVAILABLE'])

export interface KaizenErrorOptions {
  cause?: unknown
  /** Small, JSON-serialisable context (never secrets). */
  details?: Record<string, unknown>
}

/**
 * @example
 * throw new KaizenError('NOT_FOUND', 'Unknown task "billing"; run `kaizen prompts list` to see tasks')
 */
export class KaizenError extends Error {
  override readonly name = 'KaizenError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options: KaizenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details
  }

  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code)
  }
}

/** Name-based guard: survives bundling and serialisation boundaries where `instanceof` does not. */
export function isKaizenError(err: unknown): err is KaizenError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'KaizenError' &&
    typeof (err as { code?: unknown }).code === 'string'
  )
}

/** Render a zod path like `clauses[3].paraphrases[0]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out === '' ? String(part) : `.${String(part)}`
  }
  return out === '' ? '(root)' : out
}

/**
 * Turn a zod error into an INVALID_INPUT error whose message names every bad field.
 *
 * @example
 * fromZodError(err, 'scenario scenarios/x.yaml')
 * // scenario scenarios/x.yaml is invalid:
 * //   - clauses[3].paraphrases: Too small: expected array to have >=1 items
 */
export function fromZodError(err: ZodError, where: string, hint?: string): KaizenError {
  const lines = err.issues.map((issue) => `  - ${formatPath(issue.path)}: ${issue.message}`)
  const message = `${where} is invalid:\n${lines.join('\n')}${hint ? `\n${hint}` : ''}`
  return new KaizenError('INVALID_INPUT', message, {
    cause: err,
    details: { fields: err.issues.map((i) => formatPath(i.path)) },
  })
}
