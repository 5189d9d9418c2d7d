/**
 * @module runtime/outage
 * Riding out outages of Temporal and the database in long-running commands (`kaizen up`,
 * `kaizen demo`, a waiting `kaizen campaign start`): a call that fails because the server cannot be
 * reached is tried again with backoff until it is back, and the operator reads one line when the
 * outage starts and one when it ends — not a line per failed call.
 *
 * - `OutageReporter`: the two lines for one dependency ("Temporal at …", "the database"); while
 *   down it probes the dependency itself, so the second line comes even when nobody calls.
 * - `untilAvailable`: run a call, retrying transient failures forever (until the process stops).
 * - `isTemporalUnavailable` / `isDbUnavailable` (lib/db-errors.ts): what counts as transient.
 */
import { isGrpcServiceError } from '@temporalio/client'
import { shortReason } from '../lib/safe-log.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const clock = (d: Date) => d.toISOString().slice(11, 19)

/** gRPC status codes that mean "not reachable now": UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED. */
const TRANSIENT_GRPC = new Set([14, 4, 10, 8])

const GRPC_NAMES: Record<number, string> = {
  4: 'deadline exceeded',
  8: 'resource exhausted',
  10: 'aborted',
  14: 'unavailable',
}
const CONNECTION = /ECONNREFUSED|ECONNRESET|tcp connect error|transport error|connection refused/i

/** Temporal could not be reached (or dropped the call): trying again later helps. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (
    let e = err as { cause?: unknown; message?: unknown } | undefined, depth = 0;
    e && depth < 8;
    e = e.cause as typeof e, depth++
  ) {
    if (isGrpcServiceError(e)) return TRANSIENT_GRPC.has(e.code)
    if (CONNECTION.test(String(e.message))) return true
  }
  return false
}

/** A short reason for an outage line: the gRPC status, a connection error code, or the error's safe description. */
export function outageReason(err: unknown): string {
  for (
    let e = err as { cause?: unknown; message?: unknown } | undefined, depth = 0;
    e && depth < 8;
    e = e.cause as typeof e, depth++
  ) {
    if (isGrpcServiceError(e)) return `gRPC ${GRPC_NAMES[e.code] ?? `status ${e.code}`}`
    const code = CONNECTION.exec(String(e.message))?.[0]
    if (code) return code
  }
  return shortReason(err)
}

export class OutageReporter {
  private since: Date | null = null
  private probing: NodeJS.Timeout | null = null

  constructor(
    /** What is unreachable, as a sentence's subject: "Temporal at 127.0.0.1:7233". */
    private readonly what: string,
    private readonly say: (line: string) => void,
    /** Answers whether the dependency is back (polled every few seconds while it is down). */
    private readonly probe?: () => Promise<boolean>,
    private readonly probeEveryMs = 3_000,
  ) {}

  get down(): boolean {
    return this.since !== null
  }

  /** The dependency failed a call: the first failure of an outage prints one line. */
  failed(reason: string): void {
    if (this.since) return
    this.since = new Date()
    this.say(
      `${this.what} is unreachable since ${clock(this.since)} UTC (${reason}); Kaizen keeps retrying and ` +
        `carries on when it is back.`,
    )
    if (this.probe) this.watch()
  }

  /** A call went through: an outage in progress is over. */
  ok(): void {
    if (!this.since) return
    const seconds = Math.round((Date.now() - this.since.getTime()) / 1000)
    this.since = null
    if (this.probing) clearTimeout(this.probing)
    this.probing = null
    this.say(`${this.what} is reachable again (after ${seconds} s).`)
  }

  stop(): void {
    if (this.probing) clearTimeout(this.probing)
    this.probing = null
  }

  private watch(): void {
    const probe = this.probe as () => Promise<boolean>
    const tick = () => {
      this.probing = setTimeout(() => {
        probe().then(
          (back) => (back ? this.ok() : this.since && tick()),
          () => this.since && tick(),
        )
      }, this.probeEveryMs)
      this.probing.unref()
    }
    tick()
  }
}

export interface UntilAvailableOptions {
  /** Which failures mean "not reachable now" (others are thrown). */
  transient: (err: unknown) => boolean
  reporter: OutageReporter
  /** Longest wait between tries (default 10 s; the first is 0.5 s). */
  maxDelayMs?: number
  /** Stop trying (e.g. the command is shutting down): the last failure is thrown. */
  signal?: AbortSignal
}

/** Run `call`; while it fails transiently, report the outage once and try again with backoff. */
export async function untilAvailable<T>(call: () => Promise<T>, options: UntilAvailableOptions): Promise<T> {
  let delay = 500
  for (;;) {
    try {
      const value = await call()
      options.reporter.ok()
      return value
    } catch (err) {
      if (!options.transient(err) || options.signal?.aborted) throw err
      options.reporter.failed(outageReason(err))
      await sleep(delay)
      delay = Math.min(options.maxDelayMs ?? 10_000, delay * 2)
    }
  }
}
