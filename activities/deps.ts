/**
 * @module activities/deps
 * What activities need from the process that hosts them (injected, samples-typescript style).
 */
import type { Redactor } from '../privacy/redact.js'
import type { Db } from '../db/client.js'
import type { WebhookTargets } from '../lib/webhooks.js'
import type { ModelClient } from '../providers/client.js'
import type { ProviderRegistry } from '../providers/registry.js'
import type { Scenario } from '../sim/scenario.js'

export interface ActivityDeps {
  db: Db
  providers: ProviderRegistry
  /** Every model call goes through it: cache, limits, retries, spend ledger. */
  models: ModelClient
  scenarios: ReadonlyMap<string, Scenario>
  /** Concurrent model calls per activity. */
  evalConcurrency: number
  /**
   * Bounds the evaluations in flight in this worker process across all its activities (one per
   * process; absent: only the per-activity bound applies).
   */
  workerLimit?: <T>(fn: () => Promise<T>) => Promise<T>
  /** Redacts personal data and secrets from what judges are sent (default: none). */
  redactor?: Redactor
  /** Where notifications go (from the worker's environment; secrets never enter workflow input). */
  webhooks?: WebhookTargets
}
