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
import { bootstrapCalibration } from '../activities/calibration.js'
import type { ActivityDeps } from '../activities/deps.js'
import { openDatabase, type Database, type Db } from '../db/client.js'
import { registerScenarioTask, type RegisteredTask } from '../db/queries/tasks.js'
import { providersFromEnv } from '../providers/from-env.js'
import type { ProviderRegistry } from '../providers/registry.js'
import { SimulationProvider } from '../providers/simulation.js'
import { loadScenarios } from '../sim/registry.js'
import type { Scenario } from '../sim/scenario.js'
import { createWorkers } from '../worker/create-worker.js'
import { activityDeps } from './deps.js'
import { loadEnv, type Env } from './env.js'
import { connectClient, connectNative, installTemporalRuntime, resolveTemporal, type TemporalTarget } from './temporal.js'

export interface RunningWorker {
  worker: Worker
  /** Resolves when the worker has stopped. */
  done: Promise<void>
  shutdown(): Promise<void>
}

export interface KaizenRuntime {
  env: Env
  database: Database
  db: Db
  scenarios: Map<string, Scenario>
  simulation: SimulationProvider
  providers: ProviderRegistry
  temporal: TemporalTarget
  client: Client
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
}

export async function openRuntime(options: OpenRuntimeOptions): Promise<KaizenRuntime> {
  const env = options.env ?? loadEnv()
  const log = options.log ?? (() => undefined)
  installTemporalRuntime(env.KAIZEN_LOG_LEVEL)
  const scenarios = await loadScenarios(env.KAIZEN_SCENARIOS_DIR)
  const simulation = new SimulationProvider([...scenarios.values()])
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
    const database = await openDatabase({ url: env.DATABASE_URL, dataDir: env.KAIZEN_DATA_DIR })
    cleanups.push(() => database.close())
    const temporal = await resolveTemporal(env, {
      startEmbedded: options.temporal === 'embedded-or-configured',
      ...(options.headless !== undefined ? { headless: options.headless } : {}),
      log,
    })
    if (temporal.embedded) cleanups.push(() => (temporal.embedded as NonNullable<typeof temporal.embedded>).stop())
    const { client, connection } = await connectClient(temporal)
    cleanups.push(() => (connection as Connection).close())

    const deps: ActivityDeps = activityDeps(database.db, env, providers, scenarios, await loadRedaction(env.KAIZEN_REDACTION_FILE))
    const workers: RunningWorker[] = []
    let native: NativeConnection | null = null

    return {
      env,
      database,
      db: database.db,
      scenarios,
      simulation,
      providers,
      temporal,
      client,
      async registerScenarioTasks() {
        const out: RegisteredTask[] = []
        for (const s of scenarios.values()) {
          const task = await registerScenarioTask(database.db, s)
          out.push(task)
          const calibrated = await bootstrapCalibration(deps, { taskId: task.taskId, labelsPath: join(env.KAIZEN_SCENARIOS_DIR, 'labels', `${s.id}.jsonl`) })
          if (calibrated) log(`[kaizen] grader ${calibrated.graderVersionId} of ${task.taskId} calibrated on ${calibrated.report.items} shipped labels: ${calibrated.report.trusted ? 'trusted' : `NOT trusted (${calibrated.report.reasons.join('; ')})`}`)
        }
        return out
      },
      async startWorker() {
        if (!native) {
          native = await connectNative(temporal)
          const nc = native
          cleanups.push(() => nc.close())
        }
        const pair = await createWorkers({ connection: native, namespace: temporal.namespace, taskQueue: env.TEMPORAL_TASK_QUEUE, deps })
        const done = pair.run()
        // A worker that dies is reported at once, not when someone finally awaits it.
        done.catch((err: Error) => log(`[kaizen] the worker stopped: ${err.message}`))
        const running: RunningWorker = {
          worker: pair.main,
          done,
          shutdown: async () => {
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
