/**
 * @module activities/retention
 * `applyTrafficRetention`: apply every task's retention (db/queries/retention.ts) as of the
 * workflow's time. Idempotent (a second run finds nothing to do); heartbeats after every chunk.
 */
import { heartbeat } from '@temporalio/activity'
import type { RetentionResult } from '../core/retention.js'
import { applyRetention } from '../db/queries/retention.js'
import type { ActivityDeps } from './deps.js'

export function createRetentionActivities(deps: ActivityDeps) {
  return {
    async applyTrafficRetention(input: { now: string; taskId?: string | null }): Promise<RetentionResult[]> {
      return applyRetention(deps.db, {
        now: new Date(input.now),
        ...(input.taskId ? { taskId: input.taskId } : {}),
        actor: 'system:retention',
        onProgress: (done) => heartbeat(done),
      })
    },
  }
}
