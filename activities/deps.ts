/**
 * @module activities/deps
 * What activities need from the process that hosts them (injected, samples-typescript style):
 * what evaluation needs (`evaluation/deps.ts`), the provider registry and the webhook targets.
 */
import type { EvaluationDeps } from '../evaluation/deps.js'
import type { WebhookTargets } from '../lib/webhooks.js'
import type { ProviderRegistry } from '../providers/registry.js'

export interface ActivityDeps extends EvaluationDeps {
  providers: ProviderRegistry
  /** Where notifications go (from the worker's environment; secrets never enter workflow input). */
  webhooks?: WebhookTargets
  /** The console's public address (KAIZEN_CONSOLE_URL): notifications link to the canary's page. */
  consoleUrl?: string
}
