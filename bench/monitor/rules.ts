/**
 * The alert rules bench:monitor compares, each checked once an hour over the same traffic:
 *
 * - **kaizen**: the e-detector of core/monitor/detector.ts on DQ (a drop) and on the error rate (a
 *   rise), its reference learned from the 7 days before monitoring (weekday and weekend means,
 *   each moved two standard errors toward the bad side: core/monitor/reference.ts);
 * - **threshold** (what Langfuse, LangSmith, Braintrust and Datadog offer): the window's average DQ
 *   below the reference by more than `offset`, or its error rate above by more than `offset`;
 * - **t-test**: the window against the reference window, a one-sided z (Welch) test on DQ and on
 *   the error rate, re-run every hour.
 */
import {
  DQ_BUDGET_SHARE,
  initialDetectorState,
  referenceOf,
  settingsFromReference,
  updateDetector,
} from '../../core/monitor/detector.js'
import { guardedReferenceAt, learnReference, type SeasonalReference } from '../../core/monitor/reference.js'
import type { Hour } from './traffic.js'

export interface Reference {
  dq: { mean: number; variance: number; n: number }
  seasonalDq: SeasonalReference
  seasonalError: SeasonalReference
  error: { mean: number; variance: number; n: number }
  observationsPerDay: number
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
  const requests = hours.reduce((a, h) => a + h.errors.length, 0)
  const seasonalDq = learnReference(hours.flatMap((h) => h.scores.map((value) => ({ at: h.at, value }))))
  const seasonalError = learnReference(hours.flatMap((h) => h.errors.map((value) => ({ at: h.at, value }))))
  return {
    dq,
    error,
    seasonalDq: seasonalDq as SeasonalReference,
    seasonalError: seasonalError as SeasonalReference,
    observationsPerDay: (requests / hours.length) * 24,
  }
}

export function kaizenRule(
  name: string,
  opts: { tolerance: number; falseAlarmsPer30Days: number; seasonal: boolean },
): RuleSpec {
  return {
    name,
    make(ref) {
      const dqSettings = settingsFromReference(ref.dq, {
        direction: 'drop',
        tolerance: opts.tolerance,
        falseAlarmsPer30Days: opts.falseAlarmsPer30Days * DQ_BUDGET_SHARE,
        observationsPerDay: ref.observationsPerDay,
      })
      const errSettings = settingsFromReference(ref.error, {
        direction: 'rise',
        tolerance: opts.tolerance,
        falseAlarmsPer30Days: opts.falseAlarmsPer30Days * (1 - DQ_BUDGET_SHARE),
        observationsPerDay: ref.observationsPerDay,
      })
      let dq = initialDetectorState(dqSettings)
      let err = initialDetectorState(errSettings)
      return {
        check(hour) {
          const guard = { seasonal: opts.seasonal }
          const dqRef = guardedReferenceAt(ref.seasonalDq, hour.at, 'drop', guard)
          const errRef = guardedReferenceAt(ref.seasonalError, hour.at, 'rise', guard)
          dq = updateDetector(dqSettings, dq, hour.scores, dqRef)
          err = updateDetector(errSettings, err, hour.errors, errRef)
          return dq.alarmAt !== null || err.alarmAt !== null
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

export function thresholdRule(name: string, windowHours: number, offset: number): RuleSpec {
  return {
    name,
    make(ref) {
      const w = new Window(windowHours)
      return {
        check(hour) {
          w.push(hour)
          if (!w.full) return false
          const t = w.totals()
          const dqLow = t.n > 0 && t.sum / t.n < ref.dq.mean - offset
          const errHigh = t.req > 0 && t.err / t.req > ref.error.mean + offset
          return dqLow || errHigh
        },
      }
    },
  }
}

export function tTestRule(name: string, windowHours: number, z: number): RuleSpec {
  return {
    name,
    make(ref) {
      const w = new Window(windowHours)
      return {
        check(hour) {
          w.push(hour)
          if (!w.full) return false
          const t = w.totals()
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
        },
      }
    },
  }
}
