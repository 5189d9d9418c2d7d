/**
 * @module client/estimate
 * What a campaign on a task would spend, before it runs — `kaizen campaign estimate` and
 * `POST /v1/tasks/{task}/estimate` alike: the checks a start makes (would it run at all?), the
 * task's campaign defaults under the settings given, then core/search/estimate.ts on the production
 * prompt's size and its model's price.
 */
import { parseCampaignConfig, type CampaignConfig } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { callTokens, estimateCampaign, type Estimate } from '../core/search/estimate.js'
import type { Db } from '../db/client.js'
import { campaignPreflight, pricingOf } from '../db/queries/preflight.js'
import { getPromptVersion } from '../db/queries/prompts.js'
import type { ProviderRegistry } from '../providers/registry.js'
import { checkWithTaskDefaults } from './task-defaults.js'

export interface EstimateDeps {
  db: Db
  providers: Pick<ProviderRegistry, 'price' | 'unservedReason' | 'knownModels'>
  /** Calls a worker has in flight at once (KAIZEN_EVAL_CONCURRENCY): the spend check's headroom. */
  evalConcurrency: number
}

export interface CampaignEstimate extends Estimate {
  model: string
  /** Why the campaign would refuse to run now (it is still estimated as if it could), or null. */
  refusal: { code: string; message: string } | null
  usableRecords: number | null
}

/**
 * @param input the campaign settings as given (a mapping; the task's defaults go under it)
 * @param where how the settings are named in errors (`campaign config f.yaml`, `request body`), and
 *   `path` the fields' prefix (`config`)
 */
export async function estimateTaskCampaign(
  deps: EstimateDeps,
  request: { taskId: string; input: unknown; where: string; path?: string[]; acceptRate?: number },
): Promise<{ config: CampaignConfig; estimate: CampaignEstimate }> {
  const { taskId, where } = request
  const path = request.path ?? []
  // The checks a start makes, under the task's campaign defaults (its task file's) as a start applies them.
  const { report: check, config } = await checkWithTaskDefaults(
    (input) => campaignPreflight(deps.db, input, { pricing: pricingOf(deps) }),
    { taskId, config: parseCampaignConfig(request.input, where, path), mode: 'start' },
    request.input ?? {}, // the defaults apply even when no settings are given
    { where, path },
  )
  if (!check.productionVersionId) {
    // Nothing to estimate without a task and its production prompt.
    const r = check.refusal as NonNullable<typeof check.refusal>
    throw new KaizenError(r.code, r.message, r.field ? { details: { fields: [r.field] } } : {})
  }
  const production = await getPromptVersion(deps.db, check.productionVersionId)
  const proposerModel = config.search.proposerModel
  const estimate = estimateCampaign({
    config,
    availableRecords: check.usableRecords ?? 0,
    tokens: callTokens(production),
    price: deps.providers.price(production.model),
    proposerPrice: proposerModel ? deps.providers.price(proposerModel) : null,
    ...(request.acceptRate !== undefined ? { acceptRate: request.acceptRate } : {}),
    budgetCheck: { maxTokens: production.params.maxTokens, inFlight: deps.evalConcurrency },
  })
  return {
    config,
    estimate: {
      model: production.model,
      refusal: check.refusal ? { code: check.refusal.code, message: check.refusal.message } : null,
      usableRecords: check.usableRecords,
      ...estimate,
      // A spend budget that leaves the search nothing is the refusal: not repeated as a warning.
      warnings: [...check.warnings, ...estimate.warnings.filter((w) => w !== check.refusal?.message)],
    },
  }
}
