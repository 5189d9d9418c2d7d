/**
 * @module workflows/activities
 * The two activity profiles Kaizen's workflows call through.
 *
 * 👉 Activities run at least once: every one of them is idempotent (keyed writes), so retries
 * are safe. Kaizen errors arrive as non-retryable ApplicationFailures when retrying cannot help.
 */
import { proxyActivities } from '@temporalio/workflow'
import type { Activities } from '../activities/index.js'

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
