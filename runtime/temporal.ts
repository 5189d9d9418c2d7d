/**
 * @module runtime/temporal
 * Where Kaizen's Temporal is: a configured cluster or Cloud (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY), or the embedded dev server. Connections for clients and workers.
 */
import { Client, Connection } from '@temporalio/client'
import { makeTelemetryFilterString, DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker'
import { KaizenError } from '../core/errors.js'
import { safeLogLine } from '../lib/safe-log.js'
import type { Env } from './env.js'
import { locateTemporalCli } from './temporal-cli.js'
import { startEmbeddedServer, temporalAnswers, type EmbeddedServer } from './temporal-server.js'

export interface TemporalTarget {
  address: string
  namespace: string
  apiKey: string | undefined
  tls: boolean
  /** Web UI, when known (embedded server). */
  uiUrl: string | null
  embedded: EmbeddedServer | null
}

let runtimeInstalled = false

/**
 * Where the worker's outage warnings go instead of stderr (runtime/app.ts sets them to the
 * process's outage reporters): the SDK warns on every failed poll while Temporal is down, and
 * every activity attempt that finds the database down fails with a warning — an outage is one
 * line for the operator, not hundreds.
 */
export const outageSinks: { temporal: ((reason: string) => void) | null; database: ((reason: string) => void) | null } =
  { temporal: null, database: null }

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

export interface ResolveTemporalOptions {
  /** Start an embedded dev server when no TEMPORAL_ADDRESS is set and none is running. */
  startEmbedded: boolean
  headless?: boolean
  log?: (line: string) => void
}

export async function resolveTemporal(env: Env, options: ResolveTemporalOptions): Promise<TemporalTarget> {
  if (env.TEMPORAL_ADDRESS) {
    return {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      apiKey: env.TEMPORAL_API_KEY,
      tls: env.TEMPORAL_TLS ?? env.TEMPORAL_API_KEY !== undefined,
      uiUrl: null,
      embedded: null,
    }
  }
  const address = `127.0.0.1:${env.KAIZEN_TEMPORAL_PORT}`
  if (!options.startEmbedded) {
    if (!(await temporalAnswers(address))) {
      throw new KaizenError(
        'INFRA_UNAVAILABLE',
        `no Temporal server answers at ${address}. Start Kaizen with \`kaizen up\` (embedded server), or set ` +
          `TEMPORAL_ADDRESS to your cluster.`,
      )
    }
    return {
      address,
      namespace: env.TEMPORAL_NAMESPACE,
      apiKey: undefined,
      tls: false,
      uiUrl: `http://127.0.0.1:${env.KAIZEN_TEMPORAL_UI_PORT}`,
      embedded: null,
    }
  }
  const embedded = await startEmbeddedServer({
    // Located (or built) only if no server already answers on the port.
    cli: () => locateTemporalCli({ env, build: true, ...(options.log ? { log: options.log } : {}) }),
    dataDir: env.KAIZEN_DATA_DIR,
    port: env.KAIZEN_TEMPORAL_PORT,
    uiPort: env.KAIZEN_TEMPORAL_UI_PORT,
    ...(options.headless !== undefined ? { headless: options.headless } : {}),
    ...(options.log ? { log: options.log } : {}),
  })
  return {
    address: embedded.address,
    namespace: embedded.namespace,
    apiKey: undefined,
    tls: false,
    uiUrl: embedded.uiUrl,
    embedded,
  }
}

export async function connectClient(target: TemporalTarget): Promise<{ client: Client; connection: Connection }> {
  try {
    const connection = await Connection.connect({
      address: target.address,
      tls: target.tls,
      ...(target.apiKey ? { apiKey: target.apiKey } : {}),
      connectTimeout: 10_000,
    })
    return { connection, client: new Client({ connection, namespace: target.namespace }) }
  } catch (err) {
    throw new KaizenError(
      'INFRA_UNAVAILABLE',
      `cannot connect to Temporal at ${target.address}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

export async function connectNative(target: TemporalTarget): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({
      address: target.address,
      tls: target.tls,
      ...(target.apiKey ? { apiKey: target.apiKey } : {}),
    })
  } catch (err) {
    throw new KaizenError(
      'INFRA_UNAVAILABLE',
      `cannot connect a worker to Temporal at ${target.address}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}
