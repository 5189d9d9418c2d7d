/**
 * Simulated live traffic for bench:monitor: per-request DQ scores and errors, hour by hour, with a
 * known change (or none). A request's DQ score is a rubric grade in {0, ¼, ½, ¾, 1}: "good" answers
 * score ¾ or 1, the others 0 to ½, so the mean is ¼ + ⅝·P(good) and a drop in quality is a drop
 * in P(good). An errored request has no DQ score (missing, not zero) and counts in the error rate.
 */
import { Rng } from '../../core/rng.js'

export const SCENARIOS = ['stationary', 'drop-0.05', 'drop-0.10', 'gradual', 'error-burst', 'seasonality'] as const
export type Scenario = (typeof SCENARIOS)[number]

/** Days of reference traffic before monitoring starts, and days monitored. */
export const REFERENCE_DAYS = 7
export const MONITORED_DAYS = 30
/** Hours into monitoring at which a change starts (plus up to a day, drawn per run). */
export const CHANGE_AFTER_HOURS = 72

/** The reference window starts on Monday 2 November 2026, 00:00 UTC. */
export const EPOCH = Date.UTC(2026, 10, 2)

export interface Hour {
  /** Hours since monitoring started (negative: the reference window). */
  hour: number
  /** When the hour starts (epoch ms). */
  at: number
  scores: Array<number | null>
  errors: number[]
}

export interface Run {
  scenario: Scenario
  seed: number
  /** First monitored hour affected by the change; null when nothing changes. */
  changeHour: number | null
  reference: Hour[]
  monitored: Hour[]
  baseMean: number
  baseError: number
}

const GOOD = [0.75, 1]
const BAD = [0, 0.25, 0.5]

/** Weekends (days 5 and 6 of each week) and nights carry less traffic; in `seasonality` weekends also score lower. */
function volumeFactor(hourOfAll: number): number {
  const day = Math.floor(hourOfAll / 24) % 7
  const hod = ((hourOfAll % 24) + 24) % 24
  return (day >= 5 ? 0.5 : 1) * (hod < 7 ? 0.5 : 1)
}

/** A run of `scenario` for one seed: `rate` graded requests an hour at full volume. */
export function generateRun(scenario: Scenario, seed: number, rate: number): Run {
  const rng = Rng.fromSeed('bench-monitor', scenario, seed)
  const baseMean = 0.7 + 0.2 * rng.float()
  const baseError = 0.005 + 0.015 * rng.float()
  const changeHour = ['stationary', 'seasonality'].includes(scenario) ? null : CHANGE_AFTER_HOURS + rng.int(24)
  const weekendDip = 0.03
  const meanAt = (h: number): number => {
    let m = baseMean
    const day = Math.floor((h + REFERENCE_DAYS * 24) / 24) % 7
    if (scenario === 'seasonality' && day >= 5) m -= weekendDip
    if (changeHour !== null && h >= changeHour) {
      if (scenario === 'drop-0.05') m -= 0.05
      if (scenario === 'drop-0.10') m -= 0.1
      if (scenario === 'gradual') m -= 0.1 * Math.min(1, (h - changeHour) / (7 * 24))
    }
    return m
  }
  const errorAt = (h: number): number =>
    scenario === 'error-burst' && changeHour !== null && h >= changeHour && h < changeHour + 6 ? 0.15 : baseError
  const hourOf = (h: number): Hour => {
    const n = Math.max(0, Math.round(rate * volumeFactor(h + REFERENCE_DAYS * 24) * (0.8 + 0.4 * rng.float())))
    const pGood = Math.min(1, Math.max(0, (meanAt(h) - 0.25) / 0.625))
    const e = errorAt(h)
    const scores: Array<number | null> = []
    const errors: number[] = []
    for (let i = 0; i < n; i++) {
      if (rng.float() < e) {
        scores.push(null)
        errors.push(1)
        continue
      }
      errors.push(0)
      scores.push(rng.float() < pGood ? rng.pick(GOOD) : rng.pick(BAD))
    }
    return { hour: h, at: EPOCH + (h + REFERENCE_DAYS * 24) * 3_600_000, scores, errors }
  }
  const reference = Array.from({ length: REFERENCE_DAYS * 24 }, (_, i) => hourOf(i - REFERENCE_DAYS * 24))
  const monitored = Array.from({ length: MONITORED_DAYS * 24 }, (_, i) => hourOf(i))
  return { scenario, seed, changeHour, reference, monitored, baseMean, baseError }
}
