/**
 * @module evaluation/deps
 * What evaluation needs from the process that hosts it (injected): the database, the model
 * client and the concurrency bounds. Activities get these and more (`ActivityDeps`).
 */
import type { Db } from '../db/client.js'
import type { Redactor } from '../privacy/redact.js'
import type { ModelClient } from '../providers/client.js'

export interface EvaluationDeps {
  db: Db
  /** Every model call goes through it: cache, limits, retries, spend ledger. */
  models: ModelClient
  /** Concurrent model calls per activity. */
  evalConcurrency: number
  /**
   * Bounds the evaluations in flight in this worker process across all its activities (one per
   * process; absent: only the per-activity bound applies).
   */
  workerLimit?: <T>(fn: () => Promise<T>) => Promise<T>
  /** Redacts personal data and secrets from what judges are sent (default: none). */
  redactor?: Redactor
}
