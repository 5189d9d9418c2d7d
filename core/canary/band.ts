/**
 * @module core/canary/band
 * The canary's effect over time: the always-valid interval of the quality difference as it stood
 * at each of a number of past looks, recomputed from the observations (the analysis of the
 * requests that had arrived by then). Because the interval is valid at any time, the band is what
 * a person watching the canary could have relied on at every moment.
 */
import { analyzeCanary, type CanaryAnalysisConfig } from './analyze.js'
import type { Observation } from './pairing.js'

export interface BandPoint {
  at: number
  estimate: number | null
  lower: number
  upper: number
  paired: number
}

/** The interval at `looks` evenly spaced times from the first observation to the last. */
export function effectBand(
  observations: readonly Observation[],
  config: CanaryAnalysisConfig,
  looks = 20,
): BandPoint[] {
  if (observations.length === 0) return []
  const sorted = [...observations].sort((a, b) => a.at - b.at)
  const [first, last] = [sorted[0]!.at, sorted.at(-1)!.at]
  const out: BandPoint[] = []
  for (let i = 1; i <= looks; i++) {
    const now = first + ((last - first) * i) / looks
    const seen = sorted.filter((o) => o.at <= now)
    const a = analyzeCanary(seen, config, { now, treatment: 'canary' })
    if (a.pairedSamples === 0) continue
    out.push({
      at: now,
      estimate: a.effect.estimate,
      lower: a.effect.lower,
      upper: a.effect.upper,
      paired: a.pairedSamples,
    })
  }
  return out
}
