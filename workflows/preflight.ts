/**
 * @module workflows/preflight
 * `campaignPreflight`: one quick, read-only activity that says whether a campaign would run
 * (db/queries/preflight.ts). Clients without a database (the CLI) start it before they start a
 * campaign or create a schedule, so nothing is started that is bound to fail. It retries little:
 * the client is waiting.
 */
import { proxyActivities } from '@temporalio/workflow'
import type { Activities } from '../activities/index.js'
import type { PreflightInput, PreflightReport } from '../core/preflight.js'

const check = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '5 seconds', maximumAttempts: 3 },
})

export async function campaignPreflight(input: PreflightInput): Promise<PreflightReport> {
  return await check.preflightCampaign(input)
}
