/**
 * @module runtime/temporal
 * Where Kaizen's Temporal is: a configured cluster or Cloud (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY), or the embedded dev server. Connections for clients and workers.
 */
import { Client, Connection } from '@temporalio/client'
import type { LogLevel, NativeConnection } from '@temporalio/worker'
import { KaizenError } from '../core/errors.js'
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

/** The log level the native runtime gets when a worker first connects (runtime/temporal-runtime.ts). */
let runtimeLevel: LogLevel | null = null

/**
 * The log level of the SDK's native runtime, installed when the process first connects a worker
 * (`connectNative`): a command that only uses the gRPC client never loads the worker SDK.
 */
export function useTemporalLogLevel(level: LogLevel): void {
  runtimeLevel ??= level
}

/**
 * Where the worker's outage warnings go instead of stderr (runtime/app.ts sets them to the
 * process's outage reporters): the SDK warns on every failed poll while Temporal is down, and
 * every activity attempt that finds the database down fails with a warning — an outage is one
 * line for the operator, not hundreds.
 */
export const outageSinks: { temporal: ((reason: string) => void) | null; database: ((reason: string) => void) | null } =
  { temporal: null, database: null }

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
  const { NativeConnection, installTemporalRuntime } = await import('./temporal-runtime.js')
  installTemporalRuntime(runtimeLevel ?? 'INFO')
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
