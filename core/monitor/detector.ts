/**
 * @module core/monitor/detector
 * Sequential change detection for a live quality metric: a Shiryaev–Roberts-type e-detector (Shin,
 * Ramdas & Rinaldo, "E-detectors: a nonparametric framework for sequential change detection", 2023).
 *
 * Observations are bounded, x ∈ [0, 1]: a request's DQ score, an error indicator, "slower than the
 * reference's p95", and so on. Before a change the mean stays on the good side of
 * μ₀ = reference ∓ tolerance (`direction` says which side is bad: a `drop` in DQ, a `rise` in
 * errors). For each bet λ_j the detector keeps
 *
 *     R_t = (R_{t−1} + 1) · (1 + λ_j s (μ₀ − x_t)),   s = +1 for a drop, −1 for a rise,
 *
 * the sum of e-processes started at every past time. Without a change each factor has mean ≤ 1
 * whatever the distribution of x in [0, 1], so R_t − t is a supermartingale, and alarming when the
 * mixture Σ w_j R_t reaches `arl` gives an average run length to a false alarm of at least `arl`
 * observations — without assuming independence, a distribution or a window. Missing scores are
 * skipped, never counted as good. (bench:monitor: the CUSUM-type detector, a running maximum instead
 * of the sum, needed 16 hours for a 0.05 drop where this one needs 9, at 0 and 0.17 false alarms
 * a month against a budget of 1.)
 *
 * The bets λ_j are growth-optimal against changes of a few sizes (`bets`) beyond μ₀, for the
 * variance seen in the reference window, so small drift and sudden breaks are both found quickly.
 * A CUSUM statistic is kept beside, only to estimate where the change began. The state is plain
 * data (a Temporal workflow carries it through continue-as-new).
 *
 * Pure module: safe to import from workflow code.
 */
import { z } from 'zod'

const DEFAULT_BETS = [
  { gap: 0.02, weight: 0.35 },
  { gap: 0.05, weight: 0.35 },
  { gap: 0.1, weight: 0.2 },
  { gap: 0.2, weight: 0.1 },
]

export const DetectorSettings = z
  .object({
    /** The reference mean (the window re-learned after each promotion). */
    reference: z.number().min(0).max(1),
    /** Variance of one observation in the reference window (sizes the bets). */
    variance: z.number().min(0).max(0.25),
    /** Which move is bad: `drop` (DQ) or `rise` (error rate, slow requests, cost). */
    direction: z.enum(['drop', 'rise']),
    /** Moves smaller than this are not changes (covers seasonality and the reference's own error). */
    tolerance: z.number().min(0).max(0.5).default(0.02),
    /** Average run length to a false alarm, in observations (at least). */
    arl: z.number().min(2),
    /**
     * Change sizes beyond the tolerance the bets are tuned for, with the share of the false-alarm
     * budget each gets (normalised). Small changes get the larger shares: large ones are found
     * quickly whatever their share.
     */
    bets: z
      .array(z.object({ gap: z.number().gt(0).max(1), weight: z.number().gt(0) }).strict())
      .min(1)
      .default(DEFAULT_BETS),
  })
  .strict()
export type DetectorSettings = z.output<typeof DetectorSettings>
export type DetectorSettingsInput = z.input<typeof DetectorSettings>

export interface DetectorState {
  /** Observations seen (missing ones excluded). */
  n: number
  /** Sum of the observations seen. */
  sum: number
  /** Per bet: log R_t, the Shiryaev–Roberts statistic (−∞ before any observation). */
  srLogs: number[]
  /** Per bet: log M_t, the CUSUM statistic, and the count / sum where its current run began (the onset estimate). */
  logs: number[]
  startN: number[]
  startSum: number[]
  /** log of the mixture statistic after the last observation. */
  log: number
  /** Observation count at which the statistic first reached `arl`; null while quiet. */
  alarmAt: number | null
}

export interface DetectorReading {
  /** The statistic (≥ arl means alarm) and the threshold. */
  statistic: number
  threshold: number
  alarm: boolean
  alarmAt: number | null
  /** Where the leading run began (estimated onset, in observations) and the mean since then. */
  since: number
  meanSince: number | null
  /** Observations seen. */
  n: number
}

interface Bets {
  mu0: number
  sign: 1 | -1
  lambdas: number[]
  logWeights: number[]
}

function bets(s: DetectorSettings, reference: number): Bets {
  const sign = s.direction === 'drop' ? 1 : -1
  const mu0 = reference - sign * s.tolerance
  // Largest bet that keeps every factor ≥ ½: 1 + λ s (μ₀ − x) ≥ 1 − λ · (room to the bad end).
  const room = sign === 1 ? 1 - mu0 : mu0
  const cap = room > 0 ? 0.5 / room : Infinity
  const variance = Math.max(s.variance, 0.0025)
  const lambdas = s.bets.map(({ gap }) => Math.min(gap / (variance + gap * gap), cap))
  const total = s.bets.reduce((a, b) => a + b.weight, 0)
  return { mu0, sign, lambdas, logWeights: s.bets.map((b) => Math.log(b.weight / total)) }
}

export function parseDetectorSettings(input: DetectorSettingsInput): DetectorSettings {
  return DetectorSettings.parse(input)
}

export function initialDetectorState(settings: DetectorSettings): DetectorState {
  const k = settings.bets.length
  return {
    n: 0,
    sum: 0,
    srLogs: Array(k).fill(-Infinity),
    logs: Array(k).fill(0),
    startN: Array(k).fill(0),
    startSum: Array(k).fill(0),
    log: 0,
    alarmAt: null,
  }
}

/** log(1 + e^a), stable for large a; 0 for a = −∞. */
function softplus(a: number): number {
  return a > 30 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a))
}

/** log Σ_j exp(logWeights_j + xs_j). */
function logMixture(xs: readonly number[], logWeights: readonly number[]): number {
  const terms = xs.map((x, j) => x + (logWeights[j] as number))
  const m = Math.max(...terms)
  return m + Math.log(terms.reduce((a, t) => a + Math.exp(t - m), 0))
}

/**
 * Feed observations (null = missing: skipped). Returns a new state; the input is not changed, so
 * the same batches in the same order always give the same state (replay-safe). `reference`
 * overrides the settings' reference for this batch: a seasonal reference (./reference.ts) gives
 * each hour its own; the guarantee holds as long as each is fixed before the batch is seen.
 */
export function updateDetector(
  settings: DetectorSettings,
  state: DetectorState,
  xs: ReadonlyArray<number | null>,
  reference = settings.reference,
): DetectorState {
  const b = bets(settings, reference)
  const threshold = Math.log(settings.arl)
  const next: DetectorState = {
    ...state,
    srLogs: [...state.srLogs],
    logs: [...state.logs],
    startN: [...state.startN],
    startSum: [...state.startSum],
  }
  for (const raw of xs) {
    if (raw === null || !Number.isFinite(raw)) continue
    const x = Math.min(1, Math.max(0, raw))
    for (let j = 0; j < b.lambdas.length; j++) {
      // A fresh e-process starts when the running one has fallen to 1 or below (the CUSUM reset).
      if ((next.logs[j] as number) <= 0) {
        next.logs[j] = 0
        next.startN[j] = next.n
        next.startSum[j] = next.sum
      }
      const logFactor = Math.log1p((b.lambdas[j] as number) * b.sign * (b.mu0 - x))
      next.logs[j] = (next.logs[j] as number) + logFactor
      next.srLogs[j] = softplus(next.srLogs[j] as number) + logFactor
    }
    next.n++
    next.sum += x
    next.log = logMixture(next.srLogs, b.logWeights)
    if (next.alarmAt === null && next.log >= threshold) next.alarmAt = next.n
  }
  return next
}

export function readDetector(settings: DetectorSettings, state: DetectorState): DetectorReading {
  // The leading run: the bet whose e-process is largest now.
  let lead = 0
  for (let j = 1; j < state.logs.length; j++) if ((state.logs[j] as number) > (state.logs[lead] as number)) lead = j
  const since = state.startN[lead] ?? 0
  const count = state.n - since
  return {
    statistic: Math.exp(state.log),
    threshold: settings.arl,
    alarm: state.alarmAt !== null,
    alarmAt: state.alarmAt,
    since,
    meanSince: count > 0 ? (state.sum - (state.startSum[lead] ?? 0)) / count : null,
    n: state.n,
  }
}

/**
 * The share of a monitor's false-alarm budget its DQ detector gets; the error-rate, slow-request and
 * costly-request detectors share the rest (core/monitor/check.ts; the union bound keeps the total
 * within the budget). Errors come in bursts far above
 * their reference and are found quickly on a small share; a 0.05 drop in DQ needs every bit
 * (bench:monitor's dev seeds: ¾ found it sooner than ½ with the error burst found as fast).
 */
export const DQ_BUDGET_SHARE = 0.75

export interface ReferencePlan {
  direction: 'drop' | 'rise'
  /** Smallest move worth an alarm. */
  tolerance: number
  /** The false-alarm budget: at most this many per 30 days, on average. */
  falseAlarmsPer30Days: number
  /** Observations expected per day (the graded share of traffic). */
  observationsPerDay: number
  bets?: Array<{ gap: number; weight: number }>
}

/**
 * Detector settings from a reference window: the average run length is the observations of 30
 * days over the false-alarm budget. The smallest bet leaves a slack of about half its gap, so a
 * reference a little off by sampling error, or a weekend a little worse, does not add up to an alarm.
 */
export function settingsFromReference(
  ref: { mean: number; variance: number; n: number },
  plan: ReferencePlan,
): DetectorSettings {
  return parseDetectorSettings({
    reference: ref.mean,
    variance: Math.min(0.25, ref.variance),
    direction: plan.direction,
    tolerance: plan.tolerance,
    arl: Math.max(100, (plan.observationsPerDay * 30) / plan.falseAlarmsPer30Days),
    ...(plan.bets ? { bets: plan.bets } : {}),
  })
}
