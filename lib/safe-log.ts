/**
 * @module lib/safe-log
 * How Kaizen talks about an error in a log line, an HTTP 500, a Temporal failure or a CLI message,
 * so that no SQL parameter, traffic content, secret or Temporal task token gets out:
 *
 * - a KaizenError by its own message (written by Kaizen, naming fields and ids, never data);
 * - a database error by its code, condition, constraint and table (lib/db-errors.ts), never by its text;
 * - any other error by its name and the first line of its message, cut short and scrubbed;
 * - stacks by their frames only (a stack's first line repeats the message).
 *
 * `scrubLogText` is the last line of defence every log line Kaizen writes for the Temporal SDK
 * goes through; `LossReport` counts lost work into one line per interval instead of one per loss.
 */
import { isKaizenError } from '../core/errors.js'
import { dbFault, dbFaultReason, formatDbFault } from './db-errors.js'
import { scrubSecrets } from './scrub.js'

const MAX_MESSAGE = 300

/** A Temporal task token with its field name: `task_token: TaskToken(CiQw…)`, `"taskToken":"CiQw…"`, `task_token=…`. */
const TASK_TOKEN = new RegExp(
  String.raw`"?\b(?:task_?token|TaskToken)\b"?\s*[:=]?\s*(?:TaskToken)?\s*\(?\s*` +
    String.raw`(?:"[^"]*"|'[^']*'|\[[\d,\s]*\]|[A-Za-z0-9+/=_-]*)\s*\)?`,
  'gi',
)

/**
 * Temporal task tokens (as SDK log fields or in core's debug output), SQL with parameters, then
 * secrets and (unless `personal: false`, for Kaizen's own messages, which may name an approver)
 * emails and card numbers.
 */
export function scrubLogText(text: string, options: { personal?: boolean } = {}): string {
  return scrubSecrets(
    text
      .replace(TASK_TOKEN, '[token withheld]')
      // drizzle's `Failed query: <sql>\nparams: <values>` folded into some other message
      .replace(/Failed query:[\s\S]*/g, '[database query withheld]')
      .replace(/(?:\nparams:|"params"\s*:)[\s\S]*/g, ' [parameters withheld]'),
    options,
  )
}

/** The frames of a stack (`    at …` lines), without the header that repeats the message. */
export function stackFrames(err: unknown): string {
  const stack = typeof (err as { stack?: unknown })?.stack === 'string' ? (err as { stack: string }).stack : ''
  const at = stack.search(/^\s+at /m)
  return at < 0 ? '' : stack.slice(at)
}

/** A one-line description of any error that is safe to log, show and store. */
export function describeError(err: unknown): string {
  if (isKaizenError(err)) return scrubLogText(err.message, { personal: false })
  const fault = dbFault(err)
  if (fault) return formatDbFault(fault)
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as { name?: unknown; message?: unknown }
    const name = typeof e.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : ''
    const first = String(e.message ?? '').split('\n')[0] ?? ''
    return scrubLogText(`${name}${first.length > MAX_MESSAGE ? `${first.slice(0, MAX_MESSAGE)}…` : first}`)
  }
  const text = String(err)
  return scrubLogText(text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text)
}

/** A short reason for counting lines: the database fault's code or condition, else the error's description. */
export function shortReason(err: unknown): string {
  const fault = dbFault(err)
  return fault ? dbFaultReason(fault) : describeError(err)
}

/**
 * An error with a safe message and stack and a safe cause chain, for handing to code that will
 * print or store it whole (a Temporal failure's cause, a logger's `error` field).
 */
export function sanitizeError(err: unknown, depth = 0): Error {
  const safe = new Error(describeError(err))
  const name = isKaizenError(err)
    ? 'KaizenError'
    : dbFault(err)
      ? 'DatabaseError'
      : err instanceof Error
        ? err.name
        : 'Error'
  safe.name = name
  const frames = stackFrames(err)
  safe.stack = `${name}: ${safe.message}${frames ? `\n${frames}` : ''}`
  // A database error is fully described at its first link; other causes are sanitised in turn.
  const cause = (err as { cause?: unknown } | null)?.cause
  if (cause !== undefined && cause !== null && depth < 4 && !dbFault(err)) safe.cause = sanitizeError(cause, depth + 1)
  return safe
}

/**
 * Losses counted into one line per interval: `[traffic] 3 requests lost while the database was
 * unavailable (ECONNREFUSED)`. The line comes at the latest `intervalMs` after the first loss it
 * counts, or at once on `flush()` (call it when the database is back, and on stop).
 */
export class LossReport {
  private count = 0
  private readonly reasons = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  /** Every loss counted, flushed or not. */
  total = 0

  constructor(
    private readonly line: (count: number, reasons: string) => string,
    private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
    private readonly intervalMs = 10_000,
  ) {}

  lost(reason: string, n = 1): void {
    this.count += n
    this.total += n
    this.reasons.add(reason)
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs)
      this.timer.unref()
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.count === 0) return
    const line = this.line(this.count, [...this.reasons].join(', '))
    this.count = 0
    this.reasons.clear()
    this.write(line)
  }
}

const SENSITIVE_KEY = /task_?token|secret|password|passwd|api_?key|authorization|cookie/i

/**
 * Log fields made safe to print: task tokens and other secrets dropped (by key), errors replaced
 * by their descriptions, nested values walked a few levels deep. Strings are left to
 * `scrubLogText`, which runs over the whole line.
 */
export function safeLogFields(value: unknown, depth = 0): unknown {
  if (value instanceof Error || (typeof value === 'object' && value !== null && 'stack' in value && 'message' in value))
    return describeError(value)
  if (typeof value === 'bigint') return String(value)
  if (value === null || typeof value !== 'object') return value
  if (depth >= 4) return '[…]'
  if (Array.isArray(value)) return value.map((v) => safeLogFields(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (!SENSITIVE_KEY.test(k)) out[k] = safeLogFields(v, depth + 1)
  return out
}

/** One log line from a message and fields: fields made safe, then the whole line scrubbed. */
export function safeLogLine(message: string, fields?: Record<string, unknown>): string {
  const safe = fields ? (safeLogFields(fields) as Record<string, unknown>) : undefined
  let rendered = ''
  if (safe && Object.keys(safe).length > 0) {
    try {
      rendered = ` ${JSON.stringify(safe)}`
    } catch {
      rendered = ' [fields not printable]'
    }
  }
  return scrubLogText(`${message}${rendered}`)
}
