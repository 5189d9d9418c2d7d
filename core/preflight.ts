/**
 * @module core/preflight
 * What a campaign preflight is asked and answers (the checks are db/queries/preflight.ts). The
 * `campaignPreflight` workflow, the `preflightCampaign` activity and the clients share these shapes.
 *
 * Types only: safe to import from workflow code.
 */
import type { CampaignConfig, TaskCampaignDefaults } from './config.js'
import type { ErrorCode } from './errors.js'

export interface PreflightInput {
  taskId: string
  /** The campaign's settings, parsed (defaults filled in). */
  config: CampaignConfig
  /**
   * `start`: a campaign about to start; `schedule`: campaigns that will start later (too little
   * traffic only warns).
   */
  mode: 'start' | 'schedule'
  /** The id a starting campaign will get (its default seed; ids are single-use). */
  campaignId?: string | null
}

export interface PreflightRefusal {
  code: ErrorCode
  message: string
  /** The input at fault (`task`, `id`), for API errors. */
  field?: string
}

export interface PreflightReport {
  taskId: string
  mode: PreflightInput['mode']
  /** Why a campaign would refuse to run (the first reason), or null when it would run. */
  refusal: PreflightRefusal | null
  /** Worth knowing, but no reason to refuse. */
  warnings: string[]
  /** Usable records in the sample (at most `sample.size`), when it was drawn. */
  usableRecords: number | null
  productionVersionId: string | null
  /** The grader the campaign would use: a grader version id, or `scenario:<id>` (derived at start). */
  grader: string | null
  /** The campaign settings the task's campaigns start from (its task file's), or null. */
  campaignDefaults?: TaskCampaignDefaults | null
}
