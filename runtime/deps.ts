/**
 * @module runtime/deps
 * What in-process work needs without Temporal (calibration, grader commands): the database,
 * scenarios, providers and the model client.
 */
import { loadRedaction, type Redactor } from '../privacy/redact.js'
import pLimit from 'p-limit'
import type { ActivityDeps } from '../activities/deps.js'
import { sql } from 'drizzle-orm'
import { openDatabase, poolEvents, type Db } from '../db/client.js'
import { registerSimulatedTask } from '../db/queries/tasks.js'
import { ModelClient } from '../providers/client.js'
import { providersFromEnv } from './providers.js'
import type { ProviderRegistry } from '../providers/registry.js'
import { SimulationProvider } from '../providers/simulation.js'
import { loadEnv, type Env } from './env.js'
import { KaizenError } from '../core/errors.js'
import { OutageReporter, untilAvailable } from './outage.js'

/** The activities' dependencies as configured by the environment (webhooks included). */
export function activityDeps(db: Db, env: Env, providers: ProviderRegistry, redactor?: Redactor): ActivityDeps {
  return {
    db,
    ...(redactor ? { redactor } : {}),
    providers,
    models: new ModelClient(db, providers, { timeoutMs: env.KAIZEN_MODEL_TIMEOUT_MS }),
    evalConcurrency: env.KAIZEN_EVAL_CONCURRENCY,
    // One bound for the whole process: chunk activities and inline evaluations share it.
    workerLimit: pLimit(env.KAIZEN_EVAL_CONCURRENCY),
    ...(env.KAIZEN_CONSOLE_URL ? { consoleUrl: env.KAIZEN_CONSOLE_URL.replace(/\/+$/, '') } : {}),
    webhooks: {
      json: env.KAIZEN_WEBHOOK_URL ? { url: env.KAIZEN_WEBHOOK_URL, secret: env.KAIZEN_WEBHOOK_SECRET } : undefined,
      slack: env.KAIZEN_SLACK_WEBHOOK_URL ? { url: env.KAIZEN_SLACK_WEBHOOK_URL } : undefined,
    },
  }
}

/**
 * Run `fn` with the activities' dependencies over a database opened for it. `waitForDatabase`
 * (long-running processes: `kaizen serve`): a configured PostgreSQL that cannot be reached yet is
 * waited for, with one line, instead of failing at once.
 */
export async function withDeps<T>(
  fn: (deps: ActivityDeps, env: Env) => Promise<T>,
  env: Env = loadEnv(),
  options: { waitForDatabase?: boolean; log?: (line: string) => void } = {},
): Promise<T> {
  const simulation = await SimulationProvider.fromDirectory(env.KAIZEN_SCENARIOS_DIR)
  const providers = providersFromEnv(env, simulation)
  const open = () => openDatabase({ url: env.DATABASE_URL, dataDir: env.KAIZEN_DATA_DIR })
  const database =
    options.waitForDatabase && env.DATABASE_URL
      ? await untilAvailable(open, {
          transient: (err) => err instanceof KaizenError && err.code === 'INFRA_UNAVAILABLE',
          reporter: new OutageReporter('The database', options.log ?? ((line) => console.error(line))),
        })
      : await open()
  // A long-running process reports a database outage in two lines (down, back), not a line per lost connection.
  const outage = options.waitForDatabase
    ? new OutageReporter('The database', options.log ?? ((line) => console.error(line)), async () => {
        try {
          await database.db.execute(sql`select 1`)
          return true
        } catch {
          return false
        }
      })
    : null
  if (outage) poolEvents.connectionLost = (reason) => outage.failed(reason.replace(/^database unavailable:\s*/i, ''))
  try {
    for (const task of simulation.tasks()) await registerSimulatedTask(database.db, task)
    return await fn(activityDeps(database.db, env, providers, await loadRedaction(env.KAIZEN_REDACTION_FILE)), env)
  } finally {
    if (outage) {
      outage.stop()
      poolEvents.connectionLost = null
    }
    await database.close()
  }
}
