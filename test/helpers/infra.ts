/**
 * Test infrastructure: the real PostgreSQL database and Temporal dev server that `npm test`
 * (scripts/test.ts) provides to every test file, and per-file isolation (each file gets its own
 * task ids and its own task queue, so files can run in parallel on one database and one server).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { bootstrapCalibration, overrideGraderTrust } from '../../evaluation/calibration.js'
import { Client, Connection } from '@temporalio/client'
import { NativeConnection } from '@temporalio/worker'
import type { ActivityDeps } from '../../activities/index.js'
import { sql } from 'drizzle-orm'
import { openDatabase, type Database, type Db } from '../../db/client.js'
import { registerSimulatedTask, type RegisteredTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { ModelClient } from '../../providers/client.js'
import { ProviderRegistry } from '../../providers/registry.js'
import { SimulationProvider } from '../../providers/simulation.js'
import type { ChatProvider } from '../../providers/types.js'
import { REPO_ROOT } from '../../runtime/env.js'
import type { WebhookTargets } from '../../lib/webhooks.js'
import { installTemporalRuntime } from '../../runtime/temporal-runtime.js'
import { PromptResolver } from '../../serving/resolver.js'
import { TrafficSimulator } from '../../serving/traffic-simulator.js'
import { loadScenarioFile, type Scenario } from '../../sim/scenario.js'
import { createWorkers, type KaizenWorkers } from '../../worker/create-worker.js'

export function testInfra(): { databaseUrl: string; temporalAddress: string } {
  const databaseUrl = process.env.KAIZEN_TEST_DATABASE_URL
  const temporalAddress = process.env.KAIZEN_TEST_TEMPORAL_ADDRESS
  if (!databaseUrl || !temporalAddress) {
    throw new Error(
      'run tests with `npm test` (or `npx tsx scripts/test.ts <files>`): it provides the test database and ' +
        'Temporal server',
    )
  }
  return { databaseUrl, temporalAddress }
}

export const uniqueSuffix = (name: string) => `${name}-${randomBytes(3).toString('hex')}`

/**
 * A shipped scenario under fresh ids, so its task is this test's alone. With `fixed`, the id is
 * the same in every run (each run has its own database): the task id seeds the simulated traffic,
 * so a test that asserts a search outcome sees the same world every time instead of a new draw.
 */
export async function scenarioCopy(base: string, name: string, fixed = false): Promise<Scenario> {
  const s = await loadScenarioFile(join(REPO_ROOT, 'scenarios', `${base}.yaml`))
  const id = fixed ? `${base}-${name}` : uniqueSuffix(`${base}-${name}`)
  return { ...s, id, task: { ...s.task, id } }
}

export interface Harness {
  deps: ActivityDeps
  database: Database
  db: Database['db']
  scenario: Scenario
  task: RegisteredTask
  simulation: SimulationProvider
  providers: ProviderRegistry
  client: Client
  taskQueue: string
  traffic: TrafficSimulator
  resolver: PromptResolver
  close(): Promise<void>
}

export async function startHarness(options: {
  name: string
  scenario?: string
  /** Change the scenario copy before anything uses it (e.g. plant data in its inputs). */
  edit?: (s: Scenario) => Scenario
  worker?: boolean
  webhooks?: WebhookTargets
  /** The console's address for notification links. */
  consoleUrl?: string
  providers?: ChatProvider[]
  fixedIds?: boolean
}): Promise<Harness> {
  const { databaseUrl, temporalAddress } = testInfra()
  installTemporalRuntime('ERROR')
  const copy = await scenarioCopy(options.scenario ?? 'incident-triage', options.name, options.fixedIds ?? false)
  const scenario = options.edit ? options.edit(copy) : copy
  const database = await openDatabase({ url: databaseUrl, dataDir: '/nonexistent', migrate: false })
  const simulation = new SimulationProvider([scenario])
  const providers = new ProviderRegistry([simulation, ...(options.providers ?? [])], simulation, {
    defaultLimits: { concurrency: 16, tokensPerMinute: null },
  })
  const task = await registerSimulatedTask(database.db, taskOfScenario(scenario))
  const models = new ModelClient(database.db, providers)
  const deps = { db: database.db, providers, models, scenarios: new Map([[scenario.id, scenario]]), evalConcurrency: 8 }
  // Canaries need a trusted grader: calibrate on the shipped labels, else record an override.
  const base = options.scenario ?? 'incident-triage'
  const labelsPath = join(REPO_ROOT, 'scenarios', 'labels', `${base}.jsonl`)
  if (existsSync(labelsPath)) await bootstrapCalibration(deps, { taskId: task.taskId, labelsPath })
  else
    await overrideGraderTrust(deps, {
      graderVersionId: task.graderVersionId,
      operator: 'test-harness',
      reason: `no shipped labels for ${base}; tests exercise the canary, not the grader`,
    })
  const connection = await Connection.connect({ address: temporalAddress })
  const client = new Client({ connection })
  const taskQueue = `test-${scenario.id}`
  const resolver = new PromptResolver(database.db, 200)
  // A fixed run id: the same test sends the same simulated requests (with the same ids) every run.
  const traffic = new TrafficSimulator({
    db: database.db,
    provider: simulation,
    resolver,
    scenario,
    runId: options.name,
  })

  let workers: KaizenWorkers | null = null
  let running: Promise<void> | null = null
  let native: NativeConnection | null = null
  if (options.worker ?? true) {
    native = await NativeConnection.connect({ address: temporalAddress })
    workers = await createWorkers({
      connection: native,
      taskQueue,
      deps: {
        ...deps,
        ...(options.webhooks ? { webhooks: options.webhooks } : {}),
        ...(options.consoleUrl ? { consoleUrl: options.consoleUrl } : {}),
      },
    })
    running = workers.run()
  }
  return {
    deps,
    database,
    db: database.db,
    scenario,
    task,
    simulation,
    providers,
    client,
    taskQueue,
    traffic,
    resolver,
    async close() {
      await traffic.stop()
      workers?.shutdown()
      await running?.catch(() => undefined)
      await native?.close()
      await connection.close()
      await database.close()
    },
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Poll until `fn` returns a value that passes `ok`, or fail after `timeoutMs`. */
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/**
 * Run `work` in a transaction and keep it open, its locks held, until `commit()` (which resolves
 * to `work`'s result once committed). For tests of what waits on a lock.
 */
export async function holdTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<{ commit(): Promise<T> }> {
  let release!: () => void
  let worked!: () => void
  const ready = new Promise<void>((r) => (worked = r))
  const done = db.transaction(async (tx) => {
    const value = await work(tx)
    worked()
    await new Promise<void>((r) => (release = r))
    return value
  })
  await Promise.race([ready, done])
  return { commit: () => (release(), done) }
}

/** Wait until some session of this database is blocked on a lock. */
export async function untilLockWait(db: Db, what: string): Promise<void> {
  const waiting = async () =>
    Number(
      (
        (await db.execute(
          sql`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'`,
        )) as unknown as { rows: Array<{ n: number }> }
      ).rows[0]?.n ?? 0,
    )
  await eventually(waiting, (n) => n >= 1, 10_000, what)
}

export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    try {
      last = await fn()
      if (ok(last)) return last
    } catch {
      // keep polling
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 500)}`,
      )
    await sleep(250)
  }
}

/** Every message along an error's cause chain (Temporal wraps failures several levels deep). */
export function failureMessages(err: unknown): string {
  const out: string[] = []
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    out.push(String(e.message))
  return out.join(' <- ')
}
