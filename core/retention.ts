/**
 * @module core/retention
 * What one task's retention run did (the run is db/queries/retention.ts), as the
 * `applyTrafficRetention` activity and the `trafficRetention` workflow return it.
 *
 * Types only: safe to import from workflow code.
 */

export interface RetentionResult {
  taskId: string
  retentionDays: number
  cutoff: string
  deleted: number
  erased: number
}
