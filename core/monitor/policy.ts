/**
 * @module core/monitor/policy
 * The monitor's rules apart from the statistics: absolute floors over a window, how much may be
 * graded within the day's judge budget, when an alert is raised or held back (duplicate, cooldown),
 * and when a confirmed degradation may start a campaign. Plain functions of their inputs, so the
 * workflow stays a runbook and every rule has a unit test.
 *
 * Pure module: safe to import from workflow code.
 */
import type { MonitorConfig } from './config.js'

// ── Floors ────────────────────────────────────────────────────────────────────────────────────

export interface WindowStats {
  /** Graded requests with a DQ score in the window. */
  graded: number
  dqMean: number | null
  /** Requests seen (graded or not) and those that errored. */
  requests: number
  errors: number
  p95LatencyMs: number | null
  /** Mean cost of the answered requests in USD (absent in checks recorded before it was kept). */
  meanCostUsd?: number | null
}

export type FloorName = 'dq' | 'p95LatencyMs' | 'errorRate'

export interface FloorVerdict {
  floor: FloorName
  /** `breach`: past the floor; `ok`; `missing`: too little data to judge (never taken as ok). */
  status: 'breach' | 'ok' | 'missing'
  value: number | null
  limit: number
}

/** Each configured floor judged on the window; too little data is `missing`, not `ok`. */
export function checkFloors(floors: MonitorConfig['floors'], w: WindowStats): FloorVerdict[] {
  const out: FloorVerdict[] = []
  if (floors.dq !== null) {
    const enough = w.graded >= floors.minObservations && w.dqMean !== null
    out.push({
      floor: 'dq',
      status: !enough ? 'missing' : (w.dqMean as number) < floors.dq ? 'breach' : 'ok',
      value: w.dqMean,
      limit: floors.dq,
    })
  }
  if (floors.p95LatencyMs !== null) {
    const enough = w.requests >= floors.minObservations && w.p95LatencyMs !== null
    out.push({
      floor: 'p95LatencyMs',
      status: !enough ? 'missing' : (w.p95LatencyMs as number) > floors.p95LatencyMs ? 'breach' : 'ok',
      value: w.p95LatencyMs,
      limit: floors.p95LatencyMs,
    })
  }
  if (floors.errorRate !== null) {
    const enough = w.requests >= floors.minObservations
    const rate = w.requests > 0 ? w.errors / w.requests : null
    out.push({
      floor: 'errorRate',
      status: !enough ? 'missing' : (rate as number) > floors.errorRate ? 'breach' : 'ok',
      value: rate,
      limit: floors.errorRate,
    })
  }
  return out
}

// ── Judge budget ──────────────────────────────────────────────────────────────────────────────

export interface GradingAllowance {
  /** How many of the sampled requests to grade now. */
  grade: number
  /** The day's budget cannot pay for all of them: grading stops (reported, never silent). */
  exhausted: boolean
  /** USD left for the day after grading `grade` requests at the estimated cost. */
  remainingUsd: number
}

/**
 * How many of `sampled` requests to grade, at `costPerGradeUsd` each, with `spentTodayUsd`
 * already spent of `budgetUsd`. A zero cost (a rule-based or cached grader) is always allowed.
 */
export function gradingAllowance(input: {
  sampled: number
  costPerGradeUsd: number
  spentTodayUsd: number
  budgetUsd: number
}): GradingAllowance {
  const left = Math.max(0, input.budgetUsd - input.spentTodayUsd)
  if (!(input.costPerGradeUsd > 0)) return { grade: input.sampled, exhausted: false, remainingUsd: left }
  const affordable = Math.floor(left / input.costPerGradeUsd + 1e-9)
  const grade = Math.min(input.sampled, affordable)
  return {
    grade,
    exhausted: grade < input.sampled,
    remainingUsd: Math.max(0, left - grade * input.costPerGradeUsd),
  }
}

/** The UTC day a time falls in (`YYYY-MM-DD`): the judge budget's period. */
export const utcDay = (at: number): string => new Date(at).toISOString().slice(0, 10)

// ── Alerts ────────────────────────────────────────────────────────────────────────────────────

export type AlertKind = 'change' | 'floor' | 'input-drift' | 'budget'

export interface AlertRecord {
  key: string
  raisedAt: number
  acknowledgedAt: number | null
}

/** Alerts are deduplicated by (task, metric, kind). */
export const alertKey = (task: string, metric: string, kind: AlertKind): string => `${task}/${metric}/${kind}`

export type AlertDecision = { raise: true } | { raise: false; reason: 'duplicate' | 'cooldown'; existing: AlertRecord }

/**
 * Raise an alert unless the same one is still open (not acknowledged: a duplicate, it is counted
 * on the open one) or was raised less than `cooldownMs` ago (acknowledged or not).
 */
export function decideAlert(previous: AlertRecord | null, now: number, cooldownMs: number): AlertDecision {
  if (!previous) return { raise: true }
  if (previous.acknowledgedAt === null) return { raise: false, reason: 'duplicate', existing: previous }
  if (now - previous.raisedAt < cooldownMs) return { raise: false, reason: 'cooldown', existing: previous }
  return { raise: true }
}

// ── Action ────────────────────────────────────────────────────────────────────────────────────

export type CampaignDecision =
  | { start: true }
  | {
      start: false
      reason: 'disabled' | 'busy' | 'cooldown' | 'budget'
      /** In words, for the audit log and `kaizen monitor status`. */
      detail: string
    }

/**
 * May a confirmed degradation start an improvement campaign now? Never while another campaign or
 * a canary of the task runs, never within the cooldown of the last one the monitor started, and
 * at most `maxCampaignsPer30Days` in any 30 days.
 */
export function decideCampaign(
  action: MonitorConfig['action'],
  state: { now: number; busy: string | null; startedAt: readonly number[] },
): CampaignDecision {
  if (!action.startCampaign)
    return { start: false, reason: 'disabled', detail: 'action.startCampaign is false: alert only' }
  if (state.busy !== null) return { start: false, reason: 'busy', detail: `${state.busy} is running for this task` }
  const last = state.startedAt.length > 0 ? Math.max(...state.startedAt) : null
  if (last !== null && state.now - last < action.cooldownMs) {
    const hours = ((action.cooldownMs - (state.now - last)) / 3_600_000).toFixed(1)
    return {
      start: false,
      reason: 'cooldown',
      detail: `the last campaign the monitor started is within the cooldown (${hours} h left)`,
    }
  }
  const recent = state.startedAt.filter((t) => state.now - t < 30 * 24 * 3_600_000).length
  if (recent >= action.maxCampaignsPer30Days)
    return {
      start: false,
      reason: 'budget',
      detail: `${recent} campaigns started by the monitor in the last 30 days (action.maxCampaignsPer30Days)`,
    }
  return { start: true }
}
