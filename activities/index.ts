/**
 * @module activities
 * `createActivities(deps)`: every activity Kaizen's workflows call, bound to their dependencies.
 * Workflows import only the *type* of this object.
 */
import { createCampaignActivities } from './campaign.js'
import { createCanaryActivities } from './canary.js'
import type { ActivityDeps } from './deps.js'
import { createEvaluationActivities } from './evaluation.js'
import { createGradingActivities } from './grading.js'
import { withFailureMapping } from './failure.js'
import { createMonitorActivities } from './monitor.js'
import { createNotifyActivities } from './notify.js'
import { createPreflightActivities } from './preflight.js'
import { createRetentionActivities } from './retention.js'

export function createActivities(deps: ActivityDeps) {
  return withFailureMapping({
    ...createCampaignActivities(deps),
    ...createEvaluationActivities(deps),
    ...createCanaryActivities(deps),
    ...createNotifyActivities(deps),
    ...createGradingActivities(deps),
    ...createRetentionActivities(deps),
    ...createPreflightActivities(deps),
    ...createMonitorActivities(deps),
  })
}

export type Activities = ReturnType<typeof createActivities>
export type { ActivityDeps } from './deps.js'
