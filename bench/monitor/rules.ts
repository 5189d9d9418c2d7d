/**
 * The alert rules bench:monitor compares, each checked once an hour over the same traffic:
 *
 * - **kaizen**: the monitor's own hourly check (core/monitor/check.ts, floors off): the e-detectors
 *   on DQ (a drop) and on the error rate (a rise), the reference learned from the 7 days before
 *   monitoring (weekday and weekend means, each moved two standard errors toward the bad side);
 * - **threshold** (what Langfuse, LangSmith, Braintrust and Datadog offer): the window's average DQ
 *   below the reference by more than `offset`, or its error rate above by more than `offset`;
 * - **t-test**: the window against the reference window, a one-sided z (Welch) test on DQ and on
 *   the error rate, re-run every hour.
 */
import { applyCheck, initialMonitorState, type MonitorState } from '../../core/monitor/check.js'
import { MonitorConfig } from '../../core/monitor/config.js'
import { referenceOf } from '../../core/monitor/reference.js'
import type { Hour } from './traffic.js'

export interface Reference {
  /** The reference window's hours (Kaizen learns from them as the monitor does). */
  hours: readonly Hour[]
  dq: { mean: number; variance: number; n: number }
  error: { mean: number; variance: number; n: number }
}

export interface Rule {
  /** Feed one hour; true when the rule alarms at this hour's check. */
  check(hour: Hour): boolean
}

export interface RuleSpec {
  name: string
  make(ref: Reference): Rule
}

export function referenceFrom(hours: readonly Hour[]): Reference {
  const dq = referenceOf(hours.flatMap((h) => h.scores))
  const error = referenceOf(hours.flatMap((h) => h.errors))
  if (!dq || !error) throw new Error('bench:monitor: the reference window has no traffic')
  return { hours, dq, error }
}

/** The monitor's own check (core/monitor/check.ts), its reference learned from the reference hours. */
export function kaizenRule(
  name: string,
  opts: { tolerance: number; falseAlarmsPer30Days: number; seasonal: boolean },
): RuleSpec {
  const config = MonitorConfig.parse({
    tolerance: opts.tolerance,
    falseAlarmsPer30Days: opts.falseAlarmsPer30Days,
    weeklyProfile: opts.seasonal,
    // The peers have no floors; neither has Kaizen here.
    floors: { dq: null, p95LatencyMs: null },
  })
  const judge = { spentTodayUsd: 0, budgetUsd: 0, exhausted: false }
  const step = (state: MonitorState, hour: Hour) =>
    applyCheck(config, state, {
      now: hour.at + 3_600_000,
      productionVersionId: 'production',
      requests: hour.scores.map((dq, i) => ({ at: hour.at, dq, error: hour.errors[i] === 1 })),
      window: { graded: 0, dqMean: null, requests: 0, errors: 0, p95LatencyMs: null },
      judge,
      inputDrift: null,
    })
  return {
    name,
    make(ref) {
      let state = initialMonitorState(0)
      for (const hour of ref.hours) state = step(state, hour).state
      if (state.watching === null) throw new Error('bench:monitor: the reference window did not arm the monitor')
      return {
        check(hour) {
          const res = step(state, hour)
          state = res.state
          return res.findings.some((f) => f.kind === 'change')
        },
      }
    },
  }
}

/** Sums over a sliding window of hours. */
class Window {
  private hours: Array<{ n: number; sum: number; sq: number; req: number; err: number }> = []
  constructor(private readonly size: number) {}
  push(h: Hour): void {
    let n = 0
    let sum = 0
    let sq = 0
    for (const s of h.scores) {
      if (s === null) continue
      n++
      sum += s
      sq += s * s
    }
    const err = h.errors.reduce((a, e) => a + e, 0)
    this.hours.push({ n, sum, sq, req: h.errors.length, err })
    if (this.hours.length > this.size) this.hours.shift()
  }
  get full(): boolean {
    return this.hours.length === this.size
  }
  totals() {
    return this.hours.reduce(
      (a, h) => ({ n: a.n + h.n, sum: a.sum + h.sum, sq: a.sq + h.sq, req: a.req + h.req, err: a.err + h.err }),
      { n: 0, sum: 0, sq: 0, req: 0, err: 0 },
    )
  }
}

type Totals = ReturnType<Window['totals']>

/** A rule over the last `windowHours` hours, judged once the window is full. */
function windowRule(name: string, windowHours: number, alarm: (t: Totals, ref: Reference) => boolean): RuleSpec {
  return {
    name,
    make(ref) {
      const w = new Window(windowHours)
      return {
        check(hour) {
          w.push(hour)
          return w.full && alarm(w.totals(), ref)
        },
      }
    },
  }
}

export function thresholdRule(name: string, windowHours: number, offset: number): RuleSpec {
  return windowRule(name, windowHours, (t, ref) => {
    const dqLow = t.n > 0 && t.sum / t.n < ref.dq.mean - offset
    const errHigh = t.req > 0 && t.err / t.req > ref.error.mean + offset
    return dqLow || errHigh
  })
}

export function tTestRule(name: string, windowHours: number, z: number): RuleSpec {
  return windowRule(name, windowHours, (t, ref) => {
    if (t.n < 2 || t.req < 2) return false
    const mean = t.sum / t.n
    const variance = Math.max(0, (t.sq - t.n * mean * mean) / (t.n - 1))
    const se = Math.sqrt(variance / t.n + ref.dq.variance / ref.dq.n)
    const dqLow = se > 0 && (mean - ref.dq.mean) / se < -z
    const rate = t.err / t.req
    const pooled = (t.err + ref.error.mean * ref.error.n) / (t.req + ref.error.n)
    const seErr = Math.sqrt(pooled * (1 - pooled) * (1 / t.req + 1 / ref.error.n))
    const errHigh = seErr > 0 && (rate - ref.error.mean) / seErr > z
    return dqLow || errHigh
  })
}
