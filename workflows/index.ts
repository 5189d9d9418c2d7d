/**
 * @module workflows
 * The single entry point the worker bundles: every Kaizen workflow.
 */
export { optimizationCampaign } from './campaign/index.js'
export { canaryRelease } from './canary/index.js'
export { gradeBatch } from './grading.js'
export { campaignPreflight } from './preflight.js'
export { trafficRetention } from './retention.js'
export { qualityMonitor } from './monitor.js'
