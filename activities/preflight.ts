/**
 * @module activities/preflight
 * `preflightCampaign`: the campaign checks of db/queries/preflight.ts, run by a worker for clients
 * that have no database of their own (the CLI against a cluster, or while `kaizen up` holds the
 * embedded database). Read-only; the `campaignPreflight` workflow runs it.
 */
import { CampaignConfig } from '../core/config.js'
import type { PreflightInput, PreflightReport } from '../core/preflight.js'
import { campaignPreflight, pricingOf } from '../db/queries/preflight.js'
import type { ActivityDeps } from './deps.js'

export function createPreflightActivities(deps: ActivityDeps) {
  return {
    async preflightCampaign(input: PreflightInput): Promise<PreflightReport> {
      // The client sent parsed settings; parse again here for the defaults of a newer schema.
      const config = CampaignConfig.parse(input.config ?? {})
      return campaignPreflight(deps.db, { ...input, config }, { pricing: pricingOf(deps) })
    },
  }
}
