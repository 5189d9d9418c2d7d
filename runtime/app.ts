/**
 * @module runtime/app
 * Assemble a Kaizen process from configuration: database (PostgreSQL or embedded PGlite),
 * scenarios, providers, Temporal (configured cluster or embedded dev server), and workers.
 * Entry points (CLI commands, the standalone worker, tests) open a runtime and close it.
 */
import { loadRedaction } from '../privacy/redact.js'
import type { Client, Connection } from '@temporalio/client'
import type { NativeConnection, Worker } from '@temporalio/worker'
import { join } from 'node:path'
import { bootstrapCalibration } from '../evaluation/calibration.js'
import type { ActivityDeps } from '../activities/deps.js'
import { sql } from 'drizzle-orm'
import { KaizenError } from '../core/errors.js'
import { openDatabase, poolEvents, type Database, type Db } from '../db/client.js'
import { isDbUnavailable } from '../lib/db-errors.js'
import { describeError } from '../lib/safe-log.js'
import { registerSimulatedTask, type RegisteredTask } from '../db/queries/tasks.js'
import { providersFromEnv } from './providers.js'
import type { ProviderRegistry } from '../providers/registry.js'
import { SimulationProvider } from '../providers/simulation.js'
import { activityDeps } from './deps.js'
import { loadEnv, type Env } from './env.js'
import { isTemporalUnavailable, OutageReporter, untilAvailable } from './outage.js'
import {
  connectClient,
  connectNative,
  useTemporalLogLevel,
  outageSinks,
  resolveTemporal,
  type TemporalTarget,
} from './temporal.js'
import { temporalAnswers } from './temporal-server.js'

export interface RunningWorker {
  /** The main worker now running (a new one after a restart). */
  readonly worker: Worker
  /** Resolves when the worker has been shut down. */
  done: Promise<void>
  shutdown(): Promise<void>
}

export interface KaizenRuntime {
  env: Env
  database: Database
  db: Db
  /** The simulation provider: the scenarios, their tasks and simulated models. */
  simulation: SimulationProvider
  providers: ProviderRegistry
  /** What activities and evaluation use in this process: database, model client, providers. */
  deps: ActivityDeps
  temporal: TemporalTarget
  client: Client
  /** One line when Temporal becomes unreachable, one when it is back (runtime/outage.ts). */
  temporalOutage: OutageReporter
  /** Likewise for the database. */
  databaseOutage: OutageReporter
  /** Run a call against Temporal, waiting out outages (long-running commands). */
  whileTemporal<T>(call: () => Promise<T>): Promise<T>
  /** Run a call against the database, waiting out outages (long-running commands). */
  whileDatabase<T>(call: () => Promise<T>): Promise<T>
  /** Register every scenario's task (idempotent). */
  registerScenarioTasks(): Promise<RegisteredTask[]>
  startWorker(): Promise<RunningWorker>
  close(): Promise<void>
}

export interface OpenRuntimeOptions {
  /** `embedded-or-configured` may start a dev server; `existing` only connects to a running one. */
  temporal: 'embedded-or-configured' | 'existing'
  headless?: boolean
  env?: Env
  log?: (line: string) => void
  /**
   * A long-running process (`kaizen worker`, `serve`, `up`): a configured PostgreSQL or Temporal
   * that cannot be reached at start is waited for (one line, retries with backoff), as an outage
   * later on would be. Short commands leave it unset and fail at once (exit 7).
   */
  waitForServices?: boolean
}

/** A failure to reach a configured server (not a wrong setting, not the embedded database's lock). */
const unreachable = (err: unknown) =>
  err instanceof KaizenError && err.code === 'INFRA_UNAVAILABLE' && !/in use by/.test(err.message)

export async function openRuntime(options: OpenRuntimeOptions): Promise<KaizenRuntime> {
  const env = options.env ?? loadEnv()
  const log = options.log ?? (() => undefined)
  useTemporalLogLevel(env.KAIZEN_LOG_LEVEL)
  const simulation = await SimulationProvider.fromDirectory(env.KAIZEN_SCENARIOS_DIR)
  const providers = providersFromEnv(env, simulation)

  const cleanups: Array<() => Promise<void>> = []
  const close = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn()
      } catch (err) {
        log(`[kaizen] during shutdown: ${(err as Error).message}`)
      }
    }
  }
  try {
    const waiting = options.waitForServices === true
    const open = () => openDatabase({ url: env.DATABASE_URL, dataDir: env.KAIZEN_DATA_DIR })
    const database =
      waiting && env.DATABASE_URL
        ? await untilAvailable(open, { transient: unreachable, reporter: new OutageReporter('The database', log) })
        : await open()
    cleanups.push(() => database.close())
    const temporal = await resolveTemporal(env, {
      startEmbedded: options.temporal === 'embedded-or-configured',
      ...(options.headless !== undefined ? { headless: options.headless } : {}),
      log,
    })
    if (temporal.embedded) cleanups.push(() => (temporal.embedded as NonNullable<typeof temporal.embedded>).stop())
    const startupTemporal = new OutageReporter(`Temporal at ${temporal.address}`, log)
    const { client, connection } = waiting
      ? await untilAvailable(() => connectClient(temporal), { transient: unreachable, reporter: startupTemporal })
      : await connectClient(temporal)
    cleanups.push(() => (connection as Connection).close())

    const deps: ActivityDeps = activityDeps(database.db, env, providers, await loadRedaction(env.KAIZEN_REDACTION_FILE))
    // Outages: one line when a dependency goes away and one when it is back; the worker's own
    // retry warnings are folded into those lines.
    const temporalOutage = new OutageReporter(`Temporal at ${temporal.address}`, log, () =>
      temporalAnswers(temporal.address, 2_000),
    )
    const databaseOutage = new OutageReporter(
      database.kind === 'postgres' ? 'The database' : 'The embedded database',
      log,
      async () => {
        try {
          await database.db.execute(sql`select 1`)
          return true
        } catch {
          return false
        }
      },
    )
    outageSinks.temporal = (reason) => temporalOutage.failed(reason)
    const dbReason = (reason: string) => reason.replace(/^database unavailable:\s*/i, '')
    outageSinks.database = (reason) => databaseOutage.failed(dbReason(reason))
    poolEvents.connectionLost = (reason) => databaseOutage.failed(dbReason(reason))
    cleanups.push(async () => {
      outageSinks.temporal = null
      outageSinks.database = null
      poolEvents.connectionLost = null
      temporalOutage.stop()
      databaseOutage.stop()
    })
    let closing = false
    cleanups.push(async () => {
      closing = true
    })
    const workers: RunningWorker[] = []
    let native: NativeConnection | null = null

    return {
      env,
      database,
      db: database.db,
      simulation,
      providers,
      deps,
      temporal,
      client,
      async registerScenarioTasks() {
        const out: RegisteredTask[] = []
        for (const s of simulation.tasks()) {
          const task = await registerSimulatedTask(database.db, s)
          out.push(task)
          const calibrated = await bootstrapCalibration(deps, {
            taskId: task.taskId,
            labelsPath: join(env.KAIZEN_SCENARIOS_DIR, 'labels', `${s.scenarioId}.jsonl`),
          })
          if (calibrated)
            log(
              `[kaizen] grader ${calibrated.graderVersionId} of ${task.taskId} calibrated on ` +
                `${calibrated.report.items} shipped labels: ` +
                `${calibrated.report.trusted ? 'trusted' : `NOT trusted (${calibrated.report.reasons.join('; ')})`}`,
            )
        }
        return out
      },
      temporalOutage,
      databaseOutage,
      whileTemporal: (call) => untilAvailable(call, { transient: isTemporalUnavailable, reporter: temporalOutage }),
      whileDatabase: (call) => untilAvailable(call, { transient: isDbUnavailable, reporter: databaseOutage }),
      async startWorker() {
        // Workers on one connection; an attempt that fails leaves the connection unusable for the
        // next (the SDK keeps a worker whose creation failed registered on it: "Registration of
        // multiple workers … not allowed"), so the next attempt connects again.
        let connection: NativeConnection | null = native
        const start = async () => {
          if (!connection) {
            const nc = await connectNative(temporal)
            cleanups.push(() => nc.close().catch(() => undefined))
            connection = nc
            native ??= nc
          }
          try {
            // The worker SDK (and its workflow bundler) is loaded only by processes that run a worker.
            const { createWorkers } = await import('../worker/create-worker.js')
            return await createWorkers({
              connection,
              namespace: temporal.namespace,
              taskQueue: env.TEMPORAL_TASK_QUEUE,
              deps,
            })
          } catch (err) {
            connection = null
            throw err
          }
        }
        const transient = (e: unknown) => unreachable(e) || isTemporalUnavailable(e)
        let pair = waiting ? await untilAvailable(start, { transient, reporter: temporalOutage }) : await start()
        let stopped = false
        const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
        // A worker never dies of an outage: if it stops by itself, it is started again (with backoff).
        const supervise = async (): Promise<void> => {
          for (;;) {
            try {
              await pair.run()
            } catch (err) {
              if (stopped || closing) return
              log(`[kaizen] the worker stopped (${describeError(err)}); starting it again`)
            }
            for (let delay = 2_000; ; delay = Math.min(60_000, delay * 2)) {
              if (stopped || closing) return
              await sleep(delay)
              if (stopped || closing) return
              try {
                pair = await start()
                log('[kaizen] the worker is polling again')
                break
              } catch (err) {
                log(
                  `[kaizen] the worker could not start yet (${describeError(err)}); trying again in ` +
                    `${Math.min(60_000, delay * 2) / 1000} s`,
                )
              }
            }
          }
        }
        const done = supervise()
        const running: RunningWorker = {
          get worker() {
            return pair.main
          },
          done,
          shutdown: async () => {
            stopped = true
            pair.shutdown()
            await done.catch(() => undefined)
          },
        }
        workers.push(running)
        cleanups.push(() => running.shutdown())
        return running
      },
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
