/**
 * @module activities/canary/types
 * The shapes the canary activities take and return; workflows import them as types
 * (through `activities/canary.ts`).
 */
import type { CanaryAnalysis } from '../../core/canary/analyze.js'
import type { CanaryConfig } from '../../core/config.js'

/** What a canary is: which candidate against which baseline, graded by which grader version. */
export interface CanaryIdentity {
  canaryId: string
  taskId: string
  campaignId: string | null
  candidateVersionId: string
  baselineVersionId: string
  graderVersionId: string
}

export interface BeginCanaryInput extends CanaryIdentity {
  config: CanaryConfig
  /** Initial share of traffic (the ramp's first step). */
  weight: number
  /** The canary this one replaces: its label may be taken over. */
  supersedes: string | null
}

export type CanaryPhase = 'canary' | 'bake'

export interface CanaryEvidence {
  at: string
  analysis: CanaryAnalysis
  /** False once the canary label no longer belongs to this canary (moved by someone else). */
  labelHeld: boolean
}

export interface ApprovalRecord {
  canaryId: string
  decision: 'approve' | 'reject'
  approver: string
  role: string | null
  comment: string | null
  /** Idempotency: the Update's id. */
  requestId: string
  evidence: Record<string, unknown>
  /** Under a policy of several approvers: which approval this is, of how many (absent: one is enough). */
  count?: { n: number; of: number }
}
