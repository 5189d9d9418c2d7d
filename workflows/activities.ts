/**
 * @module workflows/activities
 * The two activity profiles Kaizen's workflows call through.
 *
 * 👉 Activities run at least once: every one of them is idempotent (keyed writes), so retries
 * are safe. Kaizen errors arrive as non-retryable ApplicationFailures when retrying cannot help.
 */
import { proxyActivities } from '@temporalio/workflow'
import type { Activities } from '../activities/index.js'
import { evaluationTaskQueue } from './messages.js'

/** Short database steps: label moves, records, lookups. */
export const quick = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
})

/** Long batches (evaluations, search rounds, grading): they heartbeat, so a lost worker is noticed within a minute. */
export const batch = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 20 },
})

/**
 * A canary holds live traffic, so its steps retry until they succeed: an outage of the database
 * must not end the canary and leave the candidate serving without monitoring. (Kaizen errors that
 * retrying cannot fix still fail at once.)
 */
export const guarded = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
})

export const guardedBatch = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
})

/** Notifications: a few attempts, then the canary carries on (a webhook outage must not stop it). */
export const notifier = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
})

/**
 * Evaluation chunks (core/fanout.ts) go to the evaluation task queue (`<task queue>-eval`), where
 * every worker process offers a few slots: a campaign's evaluations spread over all workers.
 * Short, heartbeating, idempotent through the evaluation cache.
 */
export function evaluationChunks(taskQueue: string) {
  return proxyActivities<Activities>({
    taskQueue: evaluationTaskQueue(taskQueue),
    startToCloseTimeout: '10 minutes',
    // Chunks beat every 3 s while they run: a chunk of a killed worker goes to another one soon.
    heartbeatTimeout: '15 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 20 },
  })
}
