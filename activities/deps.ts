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
  /** Redacts personal data and secrets from what judges are sent (default: none). */
  redactor?: Redactor
  /** Where notifications go (from the worker's environment; secrets never enter workflow input). */
  webhooks?: WebhookTargets
}
