/**
 * @module workflows/retention
 * `trafficRetention`: the daily retention run (schedule `kaizen-retention`, created by `kaizen up`
 * or `kaizen schedule retention`). It removes or erases traffic older than each task's retention
 * period, as of the time the run started.
 */
import { workflowInfo } from '@temporalio/workflow'
import type { RetentionResult } from '../core/retention.js'
import { batch } from './activities.js'

export async function trafficRetention(input: { taskId?: string | null } = {}): Promise<RetentionResult[]> {
  return batch.applyTrafficRetention({ now: workflowInfo().runStartTime.toISOString(), taskId: input.taskId ?? null })
}
