/**
 * The detectors compared by `npm run bench:canary`. Each looks at the data every `k` canary
 * samples (cumulative data) and returns the canary sample count at which it would roll back.
 *
 * - kaizen: the shipped analysis (core/canary): betting e-processes on per-request differences
 *   with the concurrent baseline group, the quality/error budget split, the hard floor, readiness.
 * - t-test: fixed-horizon one-sided Welch test (normal approximation) — single look at n_fix, or
 *   re-run at every look (naive peeking).
 * - kayenta-like: Spinnaker's NetflixACAJudge Mann–Whitney classifier, re-run at every look:
 *   98 % Hodges–Lehmann interval by inverting the tie-corrected, continuity-corrected normal
 *   Wilcoxon z; "Low" (roll back) iff the upper bound < −0.25·|HL| and mean ratio ≤ 1.
 * - flagger-like: the canary-only mean of the latest window against a static threshold T,
 *   rolling back after F failed checks (cumulative).
 */
import { DEFAULT_ANALYSIS, harmBets, readinessBets, type CanaryAnalysisConfig } from '../../core/canary/analyze.js'
import { harmEProcess, readinessEProcess } from '../../core/stats/eprocess.js'
import type { Sample } from './scenarios.js'

export interface Outcome {
  /** Canary samples at the look that rolled back, or null. */
  rollbackAt: number | null
  /** Kaizen only: canary samples at the look that asked a human (before any rollback). */
  readyAt?: number | null
}

/** The first look (every k samples) at which something that happened at sample n is seen. */
const firstLook = (n: number | null, k: number): number | null => (n === null ? null : Math.ceil(n / k) * k)

// ── Kaizen ────────────────────────────────────────────────────────────────────────────────

/** Per-request paired series, as core/canary/pairing.ts builds them from live traffic. */
export function pairedSeries(s: Sample): { quality: number[]; errors: number[] } {
  const n = s.canary.length
  const quality = new Array<number>(n)
  const errors = new Array<number>(n)
  for (let i = 0; i < n; i++) {
    let q = 0
    let e = 0
    for (let j = 0; j < s.r; j++) {
      q += s.baselineError[i * s.r + j] ? 0 : (s.baseline[i * s.r + j] as number)
      e += s.baselineError[i * s.r + j] as number
    }
    const cq = s.canaryError[i] ? 0 : (s.canary[i] as number)
    quality[i] = cq - q / s.r
    errors[i] = e / s.r - (s.canaryError[i] as number)
  }
  return { quality, errors }
}

export function kaizen(s: Sample, k: number, config: CanaryAnalysisConfig = DEFAULT_ANALYSIS): Outcome {
  const n = s.canary.length
  const bets = harmBets(config)
  const { quality, errors } = pairedSeries(s)
  const crossings: number[] = []
  const q = harmEProcess(quality, bets.quality, config.alphaQuality).crossedAt
  if (q !== null) crossings.push(q)
  const e = harmEProcess(errors, bets['error-rate'], config.alphaError).crossedAt
  if (e !== null) crossings.push(e)
  // Hard floor, as core/canary/analyze.ts judges it at each look L: the newest run of failed
  // canary requests is at least max(hardFloorRun, ⌈ln 1e-6 / ln p_ref⌉) long, where p_ref is the
  // baseline's smoothed failure rate so far, while the baseline since the run began mostly succeeds.
  // (The benchmark's layout is the equivalence test's: block i holds baseline requests, then canary request i.)
  const baseFailed = (j: number) => s.baselineError[j] === 1 || (s.baseline[j] as number) <= 0
  const prefix = new Int32Array(n * s.r + 1) // baseline failures among the first j baseline requests
  for (let j = 0; j < n * s.r; j++) prefix[j + 1] = (prefix[j] as number) + (baseFailed(j) ? 1 : 0)
  for (let look = k; look <= n; look += k) {
    let run = 0
    while (run < look && (s.canaryError[look - 1 - run] === 1 || (s.canary[look - 1 - run] as number) <= 0)) run++
    if (run < config.hardFloorRun) continue
    const seen = look * s.r
    const pRef = ((prefix[seen] as number) + 1) / (seen + 2)
    const required =
      pRef >= 0.5 ? Number.POSITIVE_INFINITY : Math.max(config.hardFloorRun, Math.ceil(Math.log(1e-6) / Math.log(pRef)))
    // Concurrent: baseline requests after the run's first failure (live traffic timestamps; in
    // this layout a block's baseline requests arrive before its canary request).
    const since = (look - run + 1) * s.r
    const concurrentFailing = ((prefix[seen] as number) - (prefix[since] as number)) / (seen - since)
    if (run >= required && concurrentFailing < 0.5) {
      crossings.push(look)
      break
    }
  }
  const crossing = crossings.length > 0 ? Math.min(...crossings) : null
  const rollbackAt = firstLook(crossing, k)
  const ready = readinessEProcess(quality, readinessBets(config), config.alphaReady, config.margin).crossedAt
  const readyAt = ready === null ? null : firstLook(Math.max(ready, config.minCanarySamples), k)
  return { rollbackAt, readyAt: readyAt !== null && (rollbackAt === null || readyAt < rollbackAt) ? readyAt : null }
}

// ── Fixed-horizon t-test ──────────────────────────────────────────────────────────────────

function welchZ(s: Sample, m: number): number {
  let sx = 0
  let sxx = 0
  for (let i = 0; i < m; i++) {
    const v = s.canary[i] as number
    sx += v
    sxx += v * v
  }
  let sy = 0
  let syy = 0
  const nb = m * s.r
  for (let i = 0; i < nb; i++) {
    const v = s.baseline[i] as number
    sy += v
    syy += v * v
  }
  const mx = sx / m
  const my = sy / nb
  const vx = Math.max((sxx - m * mx * mx) / (m - 1), 1e-12)
  const vy = Math.max((syy - nb * my * my) / (nb - 1), 1e-12)
  return (my - mx) / Math.sqrt(vx / m + vy / nb)
}

const Z95 = 1.6448536269514722

/** Sample size of a one-sided test at α 0.05 with 80 % power for a drop of `delta`. */
export function nFix(variance: number, delta: number, r: number): number {
  return Math.ceil(((Z95 + 0.8416212335729143) ** 2 * variance * (1 + 1 / r)) / (delta * delta))
}

export function tTestSingle(s: Sample, nfix: number): Outcome {
  const m = Math.min(nfix, s.canary.length)
  return { rollbackAt: welchZ(s, m) > Z95 ? m : null }
}

export function tTestEveryLook(s: Sample, k: number): Outcome {
  for (let m = k; m <= s.canary.length; m += k) if (welchZ(s, m) > Z95) return { rollbackAt: m }
  return { rollbackAt: null }
}

// ── Kayenta-like Mann–Whitney judge ───────────────────────────────────────────────────────

const Z99 = 2.3263478740408408 // 98 % two-sided interval

/** The pairwise-difference counts a Mann–Whitney judgement needs, for one shift μ. */
interface Pairs {
  m: number
  n: number
  /** #{(i, j): x_i − μ > y_j} and #{x_i − μ = y_j}. */
  count(mu: number): { greater: number; equal: number }
  /** Σ (g³ − g) over groups of equal values in the pooled sample {x − μ} ∪ {y}. */
  ties(mu: number): number
  meanRatio(): number
  /** [min(x) − max(y), max(x) − min(y)]: where Kayenta searches for roots. */
  range(): [number, number]
}

/** Kayenta's z(μ): tie-corrected, continuity-corrected Wilcoxon statistic for a shift μ. */
function wilcoxonZ(p: Pairs, mu: number): number {
  const { greater, equal } = p.count(mu)
  const u = greater + equal / 2
  const sd = Math.sqrt(((p.m * p.n) / 12) * (p.m + p.n + 1 - p.ties(mu) / ((p.m + p.n) * (p.m + p.n - 1))))
  const centred = u - (p.m * p.n) / 2
  return (centred - 0.5 * Math.sign(centred)) / sd
}

/**
 * Brent's root finder (Brent 1973: inverse quadratic interpolation, secant and bisection steps),
 * as Kayenta uses it (via Apache Commons Math) with an absolute accuracy of 1e-4. Like Kayenta's
 * `findRoot`: an end of the bracket whose sign already says so is returned as is.
 */
export function brent(f: (x: number) => number, lo: number, hi: number, tolerance = 1e-4): number {
  let a = lo
  let b = hi
  let fa = f(a)
  let fb = f(b)
  if (fa <= 0) return lo
  if (fb >= 0) return hi
  let c = a
  let fc = fa
  let d = b - a
  let e = d
  for (let iter = 0; iter < 1000; iter++) {
    if (Math.abs(fc) < Math.abs(fb)) {
      a = b
      b = c
      c = a
      fa = fb
      fb = fc
      fc = fa
    }
    const tol = 2 * Number.EPSILON * Math.abs(b) + tolerance
    const m = 0.5 * (c - b)
    if (Math.abs(m) <= tol || fb === 0) return b
    if (Math.abs(e) < tol || Math.abs(fa) <= Math.abs(fb)) {
      d = m
      e = d
    } else {
      let s = fb / fa
      let p: number
      let q: number
      if (a === c) {
        p = 2 * m * s
        q = 1 - s
      } else {
        q = fa / fc
        const r = fb / fc
        p = s * (2 * m * q * (q - r) - (b - a) * (r - 1))
        q = (q - 1) * (r - 1) * (s - 1)
      }
      if (p > 0) q = -q
      else p = -p
      s = e
      e = d
      if (p >= 1.5 * m * q - Math.abs(tol * q) || p >= Math.abs(0.5 * s * q)) {
        d = m
        e = d
      } else d = p / q
    }
    a = b
    fa = fb
    b += Math.abs(d) > tol ? d : m > 0 ? tol : -tol
    fb = f(b)
    if ((fb > 0 && fc > 0) || (fb <= 0 && fc <= 0)) {
      c = a
      fc = fa
      d = b - a
      e = d
    }
  }
  return b
}

/**
 * Kayenta's "Low" classification: the upper end of the 98 % interval below −0.25·|HL| and a mean
 * ratio ≤ 1. The interval's end and HL are Brent roots of z(μ) + 2.326 and z(μ) on
 * [min(x) − max(y), max(x) − min(y)], as in Kayenta. With continuous scores an upper end that is
 * clearly ≥ 0 (z(0) ≥ −2.326) cannot be Low: that check skips the root finding.
 */
function low(p: Pairs, cheapExit: boolean): boolean {
  if (cheapExit && wilcoxonZ(p, 0) >= -Z99) return false
  const [min, max] = p.range()
  const upper = brent((mu) => wilcoxonZ(p, mu) + Z99, min, max)
  const hl = brent((mu) => wilcoxonZ(p, mu), min, max)
  return upper < -0.25 * Math.abs(hl) && p.meanRatio() <= 1
}

/** Discrete scores: everything from level counts, exactly. */
function discretePairs(
  levels: number[],
  cx: Float64Array,
  cy: Float64Array,
  m: number,
  n: number,
  sx: number,
  sy: number,
): Pairs {
  return {
    m,
    n,
    count(mu) {
      let greater = 0
      let equal = 0
      for (let a = 0; a < levels.length; a++) {
        if (!cx[a]) continue
        for (let b = 0; b < levels.length; b++) {
          const d = (levels[a] as number) - mu - (levels[b] as number)
          const w = (cx[a] as number) * (cy[b] as number)
          if (Math.abs(d) < 1e-12) equal += w
          else if (d > 0) greater += w
        }
      }
      return { greater, equal }
    },
    ties(mu) {
      const groups = new Map<number, number>()
      for (let a = 0; a < levels.length; a++)
        if (cx[a])
          groups.set(
            Math.round(((levels[a] as number) - mu) * 1e9),
            (groups.get(Math.round(((levels[a] as number) - mu) * 1e9)) ?? 0) + (cx[a] as number),
          )
      for (let b = 0; b < levels.length; b++)
        if (cy[b])
          groups.set(
            Math.round((levels[b] as number) * 1e9),
            (groups.get(Math.round((levels[b] as number) * 1e9)) ?? 0) + (cy[b] as number),
          )
      let sum = 0
      for (const g of groups.values()) sum += g * g * g - g
      return sum
    },
    meanRatio: () => sx / m / (sy / n),
    range() {
      const present = (c: Float64Array) => levels.filter((_, i) => (c[i] as number) > 0)
      const xs = present(cx)
      const ys = present(cy)
      return [Math.min(...xs) - Math.max(...ys), Math.max(...xs) - Math.min(...ys)]
    },
  }
}

/** Continuous scores (no ties): counts from sorted arrays with two pointers, O(m + n). */
function continuousPairs(x: Float64Array, m: number, y: Float64Array, n: number, sx: number, sy: number): Pairs {
  return {
    m,
    n,
    count(mu) {
      let below = 0
      let greater = 0
      for (let i = 0; i < m; i++) {
        const v = (x[i] as number) - mu
        while (below < n && (y[below] as number) < v) below++
        greater += below
      }
      return { greater, equal: 0 }
    },
    ties: () => 0,
    meanRatio: () => sx / m / (sy / n),
    range: () => [(x[0] as number) - (y[n - 1] as number), (x[m - 1] as number) - (y[0] as number)],
  }
}

/** Merge a sorted batch into the sorted prefix of `into` (length `have`). */
function mergeInto(into: Float64Array, have: number, batch: Float64Array): number {
  let i = have - 1
  let j = batch.length - 1
  let w = have + batch.length - 1
  while (j >= 0)
    into[w--] = i >= 0 && (into[i] as number) > (batch[j] as number) ? (into[i--] as number) : (batch[j--] as number)
  return have + batch.length
}

export function kayentaLike(s: Sample, k: number, levels?: number[]): Outcome {
  const n = s.canary.length
  let sx = 0
  let sy = 0
  if (levels) {
    const cx = new Float64Array(levels.length)
    const cy = new Float64Array(levels.length)
    const index = (v: number) => levels.findIndex((l) => Math.abs(l - v) < 1e-9)
    for (let m = k; m <= n; m += k) {
      for (let i = m - k; i < m; i++) {
        cx[index(s.canary[i] as number)]!++
        sx += s.canary[i] as number
      }
      for (let i = (m - k) * s.r; i < m * s.r; i++) {
        cy[index(s.baseline[i] as number)]!++
        sy += s.baseline[i] as number
      }
      if (low(discretePairs(levels, cx, cy, m, m * s.r, sx, sy), false)) return { rollbackAt: m }
    }
    return { rollbackAt: null }
  }
  const x = new Float64Array(n)
  const y = new Float64Array(n * s.r)
  let hx = 0
  let hy = 0
  for (let m = k; m <= n; m += k) {
    const bx = s.canary.slice(m - k, m).sort()
    const by = s.baseline.slice((m - k) * s.r, m * s.r).sort()
    for (const v of bx) sx += v
    for (const v of by) sy += v
    hx = mergeInto(x, hx, bx)
    hy = mergeInto(y, hy, by)
    if (low(continuousPairs(x, hx, y, hy, sx, sy), true)) return { rollbackAt: m }
  }
  return { rollbackAt: null }
}

// ── Flagger-like threshold rule ───────────────────────────────────────────────────────────

export function flaggerLike(s: Sample, k: number, threshold: number, failures: number): Outcome {
  let failed = 0
  for (let m = k; m <= s.canary.length; m += k) {
    let sum = 0
    for (let i = m - k; i < m; i++) sum += s.canary[i] as number
    if (sum / k < threshold && ++failed >= failures) return { rollbackAt: m }
  }
  return { rollbackAt: null }
}
