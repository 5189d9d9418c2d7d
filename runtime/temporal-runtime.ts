/**
 * @module runtime/temporal-runtime
 * The Temporal worker SDK's native runtime: its logger and telemetry. Loaded only by processes
 * that run a worker (runtime/temporal.ts `connectNative`, tests and benchmarks that create
 * workers), so commands that only use the gRPC client start without the worker SDK.
 */
import { makeTelemetryFilterString, DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker'
import { safeLogLine } from '../lib/safe-log.js'
import { outageSinks } from './temporal.js'

export { NativeConnection }

let runtimeInstalled = false

/** A core (Rust) warning that a gRPC call to Temporal was retried because Temporal is unreachable. */
const CORE_RETRY = /^gRPC call \S+ retried \d+ times/

function outageOf(entry: {
  message: string
  meta?: Record<string, unknown>
}): { sink: 'temporal' | 'database'; reason: string } | null {
  if (CORE_RETRY.test(entry.message) || /^Network error while /.test(entry.message)) {
    const detail = String((entry.meta as { error?: unknown } | undefined)?.error ?? '')
    if (/Unavailable|DeadlineExceeded|tcp connect|transport/i.test(detail))
      return { sink: 'temporal', reason: /tcp connect error/i.test(detail) ? 'connection refused' : 'gRPC unavailable' }
  }
  const error = (entry.meta as { error?: { type?: unknown; message?: unknown } } | undefined)?.error
  if (entry.message === 'Activity failed' && error?.type === 'INFRA_UNAVAILABLE')
    return { sink: 'database', reason: String(error.message ?? 'unavailable').replace(/^database unavailable:\s*/, '') }
  return null
}
/**
 * Configure the SDK's native runtime (once per process): logs at the configured level, on stderr
 * (stdout carries only the CLI's --json documents), core (Rust) logs forwarded to the same logger.
 * Every line goes through `safeLogLine` (lib/safe-log.ts): task tokens and other secret fields are
 * dropped, errors (an activity's failure above all) are printed as their safe descriptions, and
 * the line is scrubbed, at every level.
 *
 * The options become the runtime's defaults instead of being installed at once: a runtime that
 * forwards logs holds the event loop open, so it must exist only while a native connection or a
 * worker does. The SDK creates it with the first one and shuts it down after the last one closes,
 * and a process that only uses the gRPC client (most CLI commands, a test without a worker) never
 * starts it.
 */
export function installTemporalRuntime(level: LogLevel): void {
  if (runtimeInstalled) return
  runtimeInstalled = true
  Runtime.defaultOptions = {
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
    logger: new DefaultLogger(level, (entry) => {
      // The evaluation worker runs activities only (worker/create-worker.ts): the SDK's notice that it has no workflows
      // is expected.
      if (entry.message === 'No workflows registered, not polling for workflow tasks') return
      const outage = outageOf(entry)
      const sink = outage ? outageSinks[outage.sink] : null
      if (outage && sink) return sink(outage.reason)
      const at = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()
      process.stderr.write(`${at} [${entry.level}] ${safeLogLine(entry.message, entry.meta)}\n`)
    }),
  }
}
