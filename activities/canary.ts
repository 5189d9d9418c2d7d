/**
 * @module activities/canary
 * The I/O steps of a canary release: move labels, grade the live traffic of both arms, run the
 * sequential analysis, record approvals, promote or roll back. Every label move, approval and
 * rollback writes an audit event; every write is keyed so a retry happens once.
 *
 * Workflows call these activities by name, so the names below are part of recorded histories.
 * The steps live in `activities/canary/`: lifecycle (begin, ramp, roll back, state), analysis,
 * bake window, approval and promotion.
 */
import { analyzeCanary } from './canary/analysis.js'
import { promoteCanary, recordApproval } from './canary/approval.js'
import { bakeRollback, endBake, startBake } from './canary/bake.js'
import { canaryContext } from './canary/context.js'
import { beginCanary, rollbackCanary, setCanaryState, setCanaryWeight } from './canary/lifecycle.js'
import type { ActivityDeps } from './deps.js'

export type { ApprovalRecord, BeginCanaryInput, CanaryEvidence, CanaryIdentity, CanaryPhase } from './canary/types.js'

type Input<F extends (ctx: never, input: never) => unknown> = Parameters<F>[1]

export function createCanaryActivities(deps: ActivityDeps) {
  const ctx = canaryContext(deps)
  return {
    beginCanary: (input: Input<typeof beginCanary>) => beginCanary(ctx, input),
    analyzeCanary: (input: Input<typeof analyzeCanary>) => analyzeCanary(ctx, input),
    setCanaryWeight: (input: Input<typeof setCanaryWeight>) => setCanaryWeight(ctx, input),
    startBake: (input: Input<typeof startBake>) => startBake(ctx, input),
    endBake: (input: Input<typeof endBake>) => endBake(ctx, input),
    bakeRollback: (input: Input<typeof bakeRollback>) => bakeRollback(ctx, input),
    rollbackCanary: (input: Input<typeof rollbackCanary>) => rollbackCanary(ctx, input),
    recordApproval: (input: Input<typeof recordApproval>) => recordApproval(ctx, input),
    promoteCanary: (input: Input<typeof promoteCanary>) => promoteCanary(ctx, input),
    setCanaryState: (input: Input<typeof setCanaryState>) => setCanaryState(ctx, input),
  }
}

export type CanaryActivities = ReturnType<typeof createCanaryActivities>
