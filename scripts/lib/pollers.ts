/**
 * Waiting for Kaizen worker processes to poll a task queue (benchmarks and the chaos suite start them as processes).
 */
import type { Client } from '@temporalio/client'
import { evaluationTaskQueue } from '../../workflows/messages.js'

/**
 * Resolves once `n` distinct workers poll both the task queue's workflow tasks and its evaluation
 * queue's activity tasks (a `kaizen worker` serves both); fails after `timeoutMs`.
 */
export async function untilPolled(client: Client, taskQueue: string, n: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const count = async (name: string, type: number) =>
    new Set(
      (
        (
          await client.workflowService.describeTaskQueue({
            namespace: 'default',
            taskQueue: { name },
            taskQueueType: type,
          })
        ).pollers ?? []
      ).map((p) => p.identity),
    ).size
  for (;;) {
    if ((await count(taskQueue, 1)) >= n && (await count(evaluationTaskQueue(taskQueue), 2)) >= n) return
    if (Date.now() > deadline)
      throw new Error(`${n} workers did not start polling ${taskQueue} within ${Math.round(timeoutMs / 1000)} s`)
    await new Promise((r) => setTimeout(r, 250))
  }
}
