/**
 * @module workflows/messages
 * Queries, Signals and Updates of Kaizen's workflows, and the shapes they carry. Clients (CLI,
 * API, tests) import these same definitions.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow'
import type { Finalist } from '../activities/search-round.js'
import type { AgilityObjective, FrontPoint, MigrationDrop, PairVerdict } from '../core/agility.js'
import type { CanaryAnalysis } from '../core/canary/analyze.js'
import type { GateScores } from '../core/gate.js'
import type { MonitorConfig } from '../core/monitor/config.js'
import type { GoldenComparison, SafetyComparison } from '../core/ship.js'

// ── Campaign ────────────────────────────────────────────────────────────────────────────────

export type CampaignStage =
  'starting' | 'sampling' | 'scoring-baseline' | 'searching' | 'holdout' | 'canary' | 'done' | 'failed'

export interface CampaignStatus {
  campaignId: string
  taskId: string
  stage: CampaignStage
  round: number
  rounds: number
  rolloutsUsed: number
  rolloutBudget: number
  proposals: number
  baselineVersionId: string | null
  baselineValidationDQ: number | null
  bestVersionId: string | null
  bestValidationDQ: number | null
  stopRequested: boolean
  /** Paused between search rounds (absent in campaigns started before pausing existed). */
  paused?: boolean
  decision: CampaignDecision | null
  reason: string | null
  canaryId: string | null
  /** A search over models: the best candidate of each model so far (absent: one model). */
  finalists?: Finalist[]
}

export type CampaignDecision =
  | 'canary-started'
  | 'no-significant-improvement'
  | 'golden-regression'
  | 'safety-regression'
  | 'no-better-candidate'
  | 'canary-conflict'
  | 'stopped'
  | 'budget-exhausted'

export interface CampaignResult {
  campaignId: string
  task: string
  baselineVersion: string
  winnerVersion: string | null
  baselineHoldoutDQ: number | null
  winnerHoldoutDQ: number | null
  /** Mean DQ on the validation split (what the search selected on). */
  baselineValidationDQ: number | null
  winnerValidationDQ: number | null
  rolloutsUsed: number
  decision: CampaignDecision
  reason: string
  /** The holdout gate's paired test (core/gate.ts); null when the campaign ended before it. */
  holdout: GateScores['holdout'] | null
  canary: { id: string; workflowId: string } | null
  /** The golden set, baseline vs winner (null: the task has none; absent before the check existed). */
  golden?: GoldenComparison | null
  /** Safety-check failures of both on the holdout and golden items. */
  safety?: SafetyComparison | null
  datasetId: string
  graderVersionId: string
  rounds: number
  proposals: number
  /** A search over models: the objective, every finalist's verdict and the holdout front (docs/model-agility.md). */
  agility?: AgilityResult
}

export interface AgilityResult {
  objective: AgilityObjective
  reason: string
  front: FrontPoint[]
  verdicts: PairVerdict[]
  /** The pair the objective chose (null: none qualifies; absent in results of builds before 2026-12-05). */
  ship?: string | null
  /** A migration's drop on the holdout: production's prompt unchanged on the target model, and the share won back. */
  drop?: MigrationDrop
}

export const campaignStatusQuery = defineQuery<CampaignStatus>('status')
/** Stop searching after the current round; the campaign continues with the best prompt so far. */
export const stopCampaignSignal = defineSignal<[{ by: string }]>('stop')
/** Pause the search before its next round (nothing is spent while paused), or resume it. */
export const pauseCampaignSignal = defineSignal<[{ by: string; paused: boolean }]>('pause')

// ── Canary ─────────────────────────────────────────────────────────────────────────────────

export type CanaryState =
  'starting' | 'running' | 'awaiting_approval' | 'holding' | 'baking' | 'promoted' | 'rolled_back'

export interface CanaryStatus {
  canaryId: string
  taskId: string
  campaignId: string | null
  state: CanaryState
  /** Current share of traffic routed by the canary label (the holdback share while baking). */
  weight: number
  /** The ramp and the index of the current step. */
  steps?: number[]
  step?: number
  /** Hold-only problems a human should look at (sample-ratio mismatch, no data). */
  alerts?: string[]
  /** Their kinds; people are notified when this set changes. */
  alertKinds?: string[]
  /** Set while the ramp is paused by alerts: the state to return to once they clear. */
  heldFrom?: 'running' | null
  /** How long the current alert hold has lasted (counted in analysis intervals). */
  holdSeconds?: number
  /** While baking: production's previous version, which the holdback serves. */
  previousVersionId?: string | null
  bakeSeconds?: number
  candidateVersionId: string
  baselineVersionId: string
  reason: string | null
  analysis: CanaryAnalysis | null
  analyzedAt: string | null
  analyses: number
  approvalWaitSeconds: number
  decidedBy: string | null
  /**
   * Human decisions carried out, in order, with when (workflow time) and the approval record
   * (absent in executions started before the late-decision rule, which still replay).
   */
  decisions?: DecisionRecord[]
  /**
   * Under a policy of several approvers (`canary.approvals` > 1): the approvals recorded so far that
   * did not yet promote; the last one needed promotes and is a decision.
   */
  approvals?: DecisionRecord[]
  approvalsRequired?: number
}

export interface DecisionRecord {
  decision: 'approve' | 'reject'
  approver: string
  role: string | null
  approvalId: string
  /** ISO time the decision was recorded. */
  at: string
}

export interface ApprovalInput {
  /** Who decides: a person's identity (e.g. an email or username). Required. */
  approver: string
  role?: string
  comment?: string
}

export interface ApprovalOutcome {
  canaryId: string
  state: CanaryState
  decision: 'approve' | 'reject'
  approver: string
  approvalId: string | null
  productionVersionId: string | null
  /** What happened, in words (absent in canaries started before it existed). */
  summary?: string
  /** An approval repeated by the person who already approved: the recorded outcome, nothing new recorded. */
  repeated?: boolean
  /** When the decision was recorded. */
  decidedAt?: string
}

export const canaryStatusQuery = defineQuery<CanaryStatus>('status')
export const approveUpdate = defineUpdate<ApprovalOutcome, [ApprovalInput]>('approve')
export const rejectUpdate = defineUpdate<ApprovalOutcome, [ApprovalInput]>('reject')
/** A newer canary for the same task replaces this one: roll back and end. */
export const supersedeSignal = defineSignal<[{ by: string }]>('supersede')

/** Task queue and workflow-id conventions. */
export const DEFAULT_TASK_QUEUE = 'kaizen'

/** The task queue of evaluation chunks for a workflow task queue (every worker process serves both). */
export const evaluationTaskQueue = (taskQueue: string): string => `${taskQueue}-eval`
export const canaryWorkflowId = (campaignId: string) => `canary-${campaignId}`
/**
 * A task's campaign schedules: the nightly improvement run, and the model watch (a campaign over a
 * list of candidate models that proposes a canary when a cheaper or better pair qualifies).
 */
export type CampaignScheduleKind = 'nightly' | 'model-watch'
export const scheduleIdFor = (taskId: string, kind: CampaignScheduleKind = 'nightly') => `kaizen-${kind}-${taskId}`
/** Default id of a campaign started at `at` (CLI, API, demo): `campaign-<task>-<yyyymmdd-hhmmss>`. */
export const campaignIdFor = (taskId: string, at: Date) =>
  `campaign-${taskId}-${at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`

// ── Quality monitor ─────────────────────────────────────────────────────────────────────────

export interface MonitorStatus {
  taskId: string
  /** `learning` the reference, `watching`, `paused`, or `stopped` (the run has ended). */
  phase: 'learning' | 'watching' | 'paused' | 'stopped'
  checks: number
  lastCheckAt: string | null
  productionVersionId: string | null
  /** When the current reference began (the start or the last promotion). */
  referenceFrom: string | null
  /** The detectors' statistics against their alarm thresholds (null while learning). */
  detectors: Record<'dq' | 'errorRate', { statistic: number; threshold: number } | null> & {
    /** Slow requests (over `thresholdMs`, the reference's p95); absent before latency was watched. */
    latency?: { statistic: number; threshold: number; thresholdMs: number } | null
    /** Costly requests (over `thresholdUsd`, the reference's p95); absent before cost was watched. */
    cost?: { statistic: number; threshold: number; thresholdUsd: number } | null
  }
  /**
   * The production version's rolling figures over the floors' window (`windowMs`): requests,
   * graded, mean DQ, error rate, p95 latency, mean cost (absent before they were kept).
   */
  window?: {
    versionId: string
    windowMs: number
    requests: number
    graded: number
    dqMean: number | null
    errorRate: number | null
    p95LatencyMs: number | null
    meanCostUsd: number | null
  } | null
  /** The last check's findings, floors and judge spend. */
  findings: Array<{ kind: string; metric: string; summary: string }>
  floors: Array<{ floor: string; status: string; value: number | null; limit: number }>
  judge: { spentTodayUsd: number; budgetUsd: number; exhausted: boolean } | null
  /** The last check's input drift: shares of inputs unlike the reference's (absent before it was measured). */
  inputDrift?: { referenceNovelShare: number | null; recentNovelShare: number | null; increase: number | null } | null
  /** Alerts raised by this run, newest last (at most 20 kept). */
  alerts: Array<{ alertId: string; at: string; summary: string }>
  /** Campaigns this run started, with the alert that caused each. */
  campaigns: Array<{ campaignId: string; alertId: string; at: string }>
  /** Why the last degradation started no campaign, in words (null: none held back). */
  heldBack: string | null
}

export const monitorStatusQuery = defineQuery<MonitorStatus>('monitorStatus')
export const pauseMonitorSignal = defineSignal<[{ paused: boolean }]>('pauseMonitor')
export const stopMonitorSignal = defineSignal('stopMonitor')
/** The monitor's settings in effect. */
export const monitorConfigQuery = defineQuery<MonitorConfig>('monitorConfig')
/**
 * New settings from the next check on (validated strictly first: a refused change changes nothing);
 * the detectors and the reference learned so far are kept. Returns the settings in effect.
 */
/** Acknowledge one of the monitor's alerts (recorded in the database and the audit log under `by`). */
export const acknowledgeAlertUpdate = defineUpdate<
  { alertId: string; already: boolean; acknowledgedBy: string | null; acknowledgedAt: string | null },
  [{ alertId: string; by: string; comment?: string }]
>('acknowledgeAlert')
export const configureMonitorUpdate = defineUpdate<MonitorConfig, [{ config: unknown; by: string }]>('configureMonitor')
/** The monitor of a task: one per task. */
export const monitorWorkflowId = (taskId: string) => `kaizen-monitor-${taskId}`
