/**
 * @module worker/create-worker
 * A Temporal worker hosting Kaizen's workflows and activities, with activities bound to their
 * dependencies (database, providers, scenarios).
 */
import { fileURLToPath } from 'node:url'
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker'
import { createActivities, type ActivityDeps } from '../activities/index.js'

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url))

let bundle: Promise<WorkflowBundleWithSourceMap> | null = null
/** Bundle the workflow code once per process (webpack takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m), log() {} } as never })
  return bundle
}

export interface CreateWorkerOptions {
  connection: NativeConnection
  namespace: string
  taskQueue: string
  deps: ActivityDeps
}

export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities(options.deps),
    maxConcurrentActivityTaskExecutions: 16,
  })
}
