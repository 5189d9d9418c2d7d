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

/** Running moments as plain data (a workflow carries them through continue-as-new). */
export interface Moments {
  n: number
  mean: number
  m2: number
}

const emptyMoments = (): Moments => ({ n: 0, mean: 0, m2: 0 })

function addTo(m: Moments, raw: number): void {
  const x = Math.min(1, Math.max(0, raw))
  m.n++
  const d = x - m.mean
  m.mean += d / m.n
  m.m2 += d * (x - m.mean)
}

const statsOf = (m: Moments): ReferenceStats | null =>
  m.n === 0 ? null : { mean: m.mean, variance: m.n > 1 ? m.m2 / (m.n - 1) : 0, n: m.n }

/** Mean and variance of observations in [0, 1] (missing ones skipped); null when there are none. */
export function referenceOf(xs: ReadonlyArray<number | null>): ReferenceStats | null {
  const m = emptyMoments()
  for (const x of xs) if (x !== null && Number.isFinite(x)) addTo(m, x)
  return statsOf(m)
}

export function isWeekend(at: number, utcOffsetHours = 0): boolean {
  const day = new Date(at + utcOffsetHours * 3_600_000).getUTCDay()
  return day === 0 || day === 6
}

/** A reference being learned: moments overall and by day type. */
export interface ReferenceAccumulator {
  all: Moments
  weekday: Moments
  weekend: Moments
  utcOffsetHours: number
}

export const emptyAccumulator = (utcOffsetHours = 0): ReferenceAccumulator => ({
  all: emptyMoments(),
  weekday: emptyMoments(),
  weekend: emptyMoments(),
  utcOffsetHours,
})

/** Add observations (`value` null = missing, skipped); returns a new accumulator. */
export function accumulate(
  acc: ReferenceAccumulator,
  observations: Iterable<{ at: number; value: number | null }>,
): ReferenceAccumulator {
  const next: ReferenceAccumulator = {
    all: { ...acc.all },
    weekday: { ...acc.weekday },
    weekend: { ...acc.weekend },
    utcOffsetHours: acc.utcOffsetHours,
  }
  for (const o of observations) {
    if (o.value === null || !Number.isFinite(o.value)) continue
    addTo(next.all, o.value)
    addTo(isWeekend(o.at, acc.utcOffsetHours) ? next.weekend : next.weekday, o.value)
  }
  return next
}

/** The reference an accumulator has learned; null before any observation. */
export function referenceOfAccumulator(acc: ReferenceAccumulator): SeasonalReference | null {
  const overall = statsOf(acc.all)
  if (!overall) return null
  return {
    ...overall,
    weekday: statsOf(acc.weekday),
    weekend: statsOf(acc.weekend),
    utcOffsetHours: acc.utcOffsetHours,
  }
}

/**
 * Learn a reference from observations in [0, 1] (`value` null = missing, skipped) taken at `at`
 * (epoch ms). Null when there is no observation at all.
 */
export function learnReference(
  observations: Iterable<{ at: number; value: number | null }>,
  utcOffsetHours = 0,
): SeasonalReference | null {
  return referenceOfAccumulator(accumulate(emptyAccumulator(utcOffsetHours), observations))
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
