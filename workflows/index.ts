/**
 * @module workflows
 * The single entry point the worker bundles: every Kaizen workflow.
 */
export { optimizationCampaign } from './campaign.js'
export { canaryRelease } from './canary.js'
export { gradeBatch } from './grading.js'
export { campaignPreflight } from './preflight.js'
export { trafficRetention } from './retention.js'
