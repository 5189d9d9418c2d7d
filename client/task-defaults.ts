/**
 * @module client/task-defaults
 * A start's checks under the task's campaign defaults: the settings given are checked, and when the
 * task's file has campaign defaults, parsed again over them and checked again. Starts, schedules
 * (client/operations.ts, checks here or on a worker) and estimates (client/estimate.ts, checks on the
 * database) share it.
 */
import { parseCampaignConfig, withTaskDefaults, type CampaignConfig } from '../core/config.js'
import type { PreflightInput, PreflightReport } from '../core/preflight.js'

/**
 * @param configInput the settings as given (a mapping), or undefined: the defaults are not applied
 * @param naming how the settings are named in errors, and the fields' prefix
 */
export async function checkWithTaskDefaults(
  check: (input: PreflightInput) => Promise<PreflightReport>,
  input: PreflightInput,
  configInput: unknown,
  naming: { where: string; path?: readonly string[] } = { where: 'campaign config' },
): Promise<{ report: PreflightReport; config: CampaignConfig }> {
  const report = await check(input)
  if (configInput === undefined || !report.campaignDefaults) return { report, config: input.config }
  const config = parseCampaignConfig(
    withTaskDefaults(configInput, report.campaignDefaults),
    `${naming.where} with the defaults of task "${input.taskId}"`,
    naming.path ?? [],
  )
  return { report: await check({ ...input, config }), config }
}
