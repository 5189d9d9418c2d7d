/**
 * @module core/monitor/reference
 * The reference a live metric is checked against: learned from a window of production traffic
 * (re-learned after each promotion), with its day-of-week profile. Traffic on weekends often
 * differs (another mix of requests, other users), and a detector that holds the weekend to the
 * week's mean either alarms every weekend or must be made blind to drops of that size. So the
 * reference keeps a weekday and a weekend mean, each shrunk toward the overall mean by the amount of
 * data behind it, and a check uses the one for the hour it covers.
 *
 * Pure module: safe to import from workflow code.
 */

export interface ReferenceStats {
  mean: number
  variance: number
  n: number
}

export interface SeasonalReference extends ReferenceStats {
  weekday: ReferenceStats | null
  weekend: ReferenceStats | null
  /** Hours east of UTC at which the task's days begin (0: UTC). */
  utcOffsetHours: number
}

/** Observations behind the overall mean in the shrinkage of a day type's mean. */
export const SHRINK_OBSERVATIONS = 200

class Moments {
  n = 0
  mean = 0
  m2 = 0
  add(raw: number): void {
    const x = Math.min(1, Math.max(0, raw))
    this.n++
    const d = x - this.mean
    this.mean += d / this.n
    this.m2 += d * (x - this.mean)
  }
  stats(): ReferenceStats | null {
    return this.n === 0 ? null : { mean: this.mean, variance: this.n > 1 ? this.m2 / (this.n - 1) : 0, n: this.n }
  }
}

export function isWeekend(at: number, utcOffsetHours = 0): boolean {
  const day = new Date(at + utcOffsetHours * 3_600_000).getUTCDay()
  return day === 0 || day === 6
}

/**
 * Learn a reference from observations in [0, 1] (`value` null = missing, skipped) taken at `at`
 * (epoch ms). Null when there is no observation at all.
 */
export function learnReference(
  observations: Iterable<{ at: number; value: number | null }>,
  utcOffsetHours = 0,
): SeasonalReference | null {
  const all = new Moments()
  const weekday = new Moments()
  const weekend = new Moments()
  for (const o of observations) {
    if (o.value === null || !Number.isFinite(o.value)) continue
    all.add(o.value)
    ;(isWeekend(o.at, utcOffsetHours) ? weekend : weekday).add(o.value)
  }
  const overall = all.stats()
  if (!overall) return null
  return { ...overall, weekday: weekday.stats(), weekend: weekend.stats(), utcOffsetHours }
}

/** The reference mean for a check covering time `at`: its day type's mean, shrunk toward the overall one. */
export function referenceMeanAt(ref: SeasonalReference, at: number): number {
  const part = isWeekend(at, ref.utcOffsetHours) ? ref.weekend : ref.weekday
  if (!part) return ref.mean
  const w = part.n / (part.n + SHRINK_OBSERVATIONS)
  return w * part.mean + (1 - w) * ref.mean
}

/**
 * The reference as a detector should use it at time `at`: the day type's mean (or the overall one
 * with `seasonal` false) moved toward the bad side by `z` standard errors of its estimate. A
 * reference learned from a few thousand observations is itself off by a little; a detector whose
 * reference is too good by chance drifts toward false alarms however long nothing changes.
 */
export function guardedReferenceAt(
  ref: SeasonalReference,
  at: number,
  direction: 'drop' | 'rise',
  opts: { z?: number; seasonal?: boolean } = {},
): number {
  const z = opts.z ?? 2
  const part = opts.seasonal === false ? null : isWeekend(at, ref.utcOffsetHours) ? ref.weekend : ref.weekday
  const mean = opts.seasonal === false ? ref.mean : referenceMeanAt(ref, at)
  // The shrunk estimate rests on about its part's observations plus the shrinkage's.
  const n = part ? part.n + SHRINK_OBSERVATIONS : ref.n
  const se = Math.sqrt(ref.variance / Math.max(1, n))
  const moved = direction === 'drop' ? mean - z * se : mean + z * se
  return Math.min(1, Math.max(0, moved))
}
