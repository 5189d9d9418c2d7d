/**
 * @module worker/create-worker
 * The Temporal workers of one Kaizen process, with activities bound to their dependencies
 * (database, providers, scenarios):
 *
 * - the main worker, on the task queue: every workflow, and the campaign and canary steps;
 * - the evaluation worker, on `<task queue>-eval`: evaluation and grading chunks. It offers a few
 *   slots only (the worker-wide bound of KAIZEN_EVAL_CONCURRENCY evaluations in flight decides
 *   how much runs at once), so chunks spread over every worker process instead of piling up on one.
 */
import { fileURLToPath } from 'node:url'
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker'
import { createActivities, type ActivityDeps } from '../activities/index.js'
import { FAN_OUT } from '../core/fanout.js'
import { evaluationTaskQueue } from '../workflows/messages.js'
import { BUNDLE_CACHE_FILE, cachedBundle } from './bundle-cache.js'

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url))

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null
/**
 * The workflow code bundled once per process (webpack takes seconds), and kept on disk for the next
 * process while every file in it is unchanged (./bundle-cache.ts).
 */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= cachedBundle(BUNDLE_CACHE_FILE, WORKFLOWS_PATH, () =>
    bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: {
        trace() {},
        debug() {},
        info() {},
        warn() {},
        error: (m: string) => console.error(m),
        log() {},
      } as never,
    }),
  )
  return bundle
}

export interface CreateWorkerOptions {
  connection: NativeConnection
  namespace?: string
  taskQueue: string
  deps: ActivityDeps
}

/** Chunk activities a worker runs at once: enough chunks to fill its evaluation bound, and one more loading. */
export function evaluationSlots(evalConcurrency: number): number {
  return Math.max(1, Math.ceil(evalConcurrency / FAN_OUT.chunkItems)) + 1
}

/** The two workers of a process (one per task queue; the SDK allows one per queue and process). */
export interface KaizenWorkers {
  main: Worker
  evaluation: Worker
  /** Runs both until they stop; when either stops or fails, the other is shut down too. */
  run(): Promise<void>
  shutdown(): void
}

/** Undo `Worker.create` for a worker that never ran (the SDK shuts down only running workers). */
async function release(worker: Worker): Promise<void> {
  const running = worker.run()
  worker.shutdown()
  await running.catch(() => undefined)
}

export async function createWorkers(options: CreateWorkerOptions): Promise<KaizenWorkers> {
  const activities = createActivities(options.deps)
  const common = { connection: options.connection, ...(options.namespace ? { namespace: options.namespace } : {}) }
  const main = await Worker.create({
    ...common,
    taskQueue: options.taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
    maxConcurrentActivityTaskExecutions: 16,
  })
  let evaluation: Worker
  try {
    evaluation = await Worker.create({
      ...common,
      taskQueue: evaluationTaskQueue(options.taskQueue),
      activities,
      maxConcurrentActivityTaskExecutions: evaluationSlots(options.deps.evalConcurrency),
    })
  } catch (err) {
    // The main worker is registered with the connection: release it, or the next attempt (Temporal
    // was unreachable; the caller tries again) is refused as a second worker on the same task queue.
    await release(main)
    throw err
  }
  const workers = [main, evaluation]
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown()
  }
  return {
    main,
    evaluation,
    run: async () => {
      const runs = workers.map((w) => w.run().finally(shutdown))
      const settled = await Promise.allSettled(runs)
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
    },
    shutdown,
  }
}
