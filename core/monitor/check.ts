/**
 * @module core/monitor/check
 * One check of the quality monitor, as a pure function: what the workflow does each hour, minus the
 * I/O. Given the monitor's state and what the last interval brought (the graded sample of the
 * production version's traffic, the floors' window, the judge's spend, input drift), it returns the
 * next state, what was found, and whether it is a degradation a campaign may answer.
 *
 *   new production version? → forget the reference and learn it again
 *   learning                → add the interval to the reference; once it covers `referenceMs` and
 *                              `minReferenceObservations`, freeze it and arm the detectors
 *   watching                → feed the detectors — DQ, errors, slow and costly requests
 *                              (core/monitor/latency.ts)
 *                              — each hour against its day type's reference; an alarm is a
 *                              finding, and that detector starts afresh
 *   always                  → floors on the window (missing data reported as missing), the judge
 *                              budget, input drift
 *
 * Pure module: safe to import from workflow code.
 */
import type { MonitorConfig } from './config.js'
import {
  DQ_BUDGET_SHARE,
  initialDetectorState,
  readDetector,
  settingsFromReference,
  updateDetector,
  type DetectorSettings,
  type DetectorState,
} from './detector.js'
import type { InputDrift } from './input-drift.js'
import { addLatencies, emptyLatencySketch, slowThreshold, type LatencySketch } from './latency.js'
import { checkFloors, type FloorVerdict, type WindowStats } from './policy.js'
import {
  accumulate,
  emptyAccumulator,
  guardedReferenceAt,
  isWeekend,
  referenceOfAccumulator,
  type ReferenceAccumulator,
  type SeasonalReference,
} from './reference.js'

export type Metric = 'dq' | 'errorRate' | 'latency' | 'cost'
/** Metrics watched in their tail: a request over the reference's p95 counts 1. */
type TailMetric = 'latency' | 'cost'

interface Armed {
  reference: SeasonalReference
  settings: DetectorSettings
  state: DetectorState
  /** Latency: a request slower than this (ms) counts as slow. */
  thresholdMs?: number
  /** Cost: a request dearer than this (USD) counts as costly. */
  thresholdUsd?: number
}

/** The armed detectors: DQ and errors always; latency and cost when the reference had enough of them. */
export type Detectors = Record<'dq' | 'errorRate', Armed> & Partial<Record<TailMetric, Armed>>

/** Latencies a reference needs before slow requests are watched (its p95 rests on them). */
export const LATENCY_MIN_REFERENCE = 200

export interface MonitorState {
  productionVersionId: string | null
  /** When the current reference began: the monitor's start or the last promotion (epoch ms). */
  referenceFrom: number
  dq: ReferenceAccumulator
  errorRate: ReferenceAccumulator
  /** Latencies of the reference being learned (absent in states from before latency was watched). */
  latency?: LatencySketch
  /** Costs of the reference being learned, in micro-USD (absent in states from before cost was watched). */
  cost?: LatencySketch
  /** The armed detectors once the reference is learned; null while learning. */
  watching: { since: number; detectors: Detectors } | null
}

export interface GradedRequest {
  at: number
  /** The DQ score; null when the judge gave none (missing, never counted as good). */
  dq: number | null
  error: boolean
  /** Its latency in ms (absent in checks recorded before latency was watched: not measured). */
  latencyMs?: number | null
  /** What it cost in USD (absent in checks recorded before cost was watched: not measured). */
  costUsd?: number | null
}

export interface CheckInput {
  /** End of the interval this check covers (epoch ms). */
  now: number
  productionVersionId: string
  /** The graded sample of the interval, in time order. */
  requests: readonly GradedRequest[]
  /** The floors' window (all requests for latency and errors, graded ones for DQ). */
  window: WindowStats
  judge: { spentTodayUsd: number; budgetUsd: number; exhausted: boolean }
  inputDrift: InputDrift | null
}

export type FindingKind = 'change' | 'floor' | 'input-drift' | 'budget'

export interface Finding {
  kind: FindingKind
  metric: string
  summary: string
  evidence: Record<string, unknown>
}

/** A change or floor breach in DQ: what an improvement campaign can answer. */
export const isDegradation = (f: Pick<Finding, 'kind' | 'metric'>): boolean =>
  f.metric === 'dq' && (f.kind === 'change' || f.kind === 'floor')

export interface CheckResult {
  state: MonitorState
  findings: Finding[]
  /** A change or floor breach in DQ: what an improvement campaign can answer. */
  degradation: boolean
  floors: FloorVerdict[]
  phase: 'learning' | 'watching'
}

export function initialMonitorState(
  now: number,
  productionVersionId: string | null = null,
  utcOffsetHours = 0,
): MonitorState {
  return {
    productionVersionId,
    referenceFrom: now,
    dq: emptyAccumulator(utcOffsetHours),
    errorRate: emptyAccumulator(utcOffsetHours),
    latency: emptyLatencySketch(),
    cost: emptyLatencySketch(),
    watching: null,
  }
}

const DIRECTION: Record<Metric, 'drop' | 'rise'> = { dq: 'drop', errorRate: 'rise', latency: 'rise', cost: 'rise' }
/** Shares of the false-alarm budget: most to DQ, the rest to errors, slow and costly requests alike. */
const SHARE: Record<Metric, number> = {
  dq: DQ_BUDGET_SHARE,
  errorRate: (1 - DQ_BUDGET_SHARE) / 3,
  latency: (1 - DQ_BUDGET_SHARE) / 3,
  cost: (1 - DQ_BUDGET_SHARE) / 3,
}
const METRICS = ['dq', 'errorRate', 'latency', 'cost'] as const
const TAIL_METRICS = ['latency', 'cost'] as const

/** A request's tail value: latency in ms, cost in micro-USD (the sketch's unit); null when not measured. */
function tailOf(r: GradedRequest, metric: TailMetric): number | null {
  if (r.error) return null
  if (metric === 'latency') return r.latencyMs ?? null
  return r.costUsd === undefined || r.costUsd === null ? null : r.costUsd * 1e6
}
const thresholdOf = (a: Armed) => a.thresholdMs ?? (a.thresholdUsd === undefined ? undefined : a.thresholdUsd * 1e6)

function valuesOf(requests: readonly GradedRequest[], metric: Metric, threshold?: number) {
  return requests.map((r) => {
    if (metric === 'dq') return { at: r.at, value: r.error ? null : r.dq }
    if (metric === 'errorRate') return { at: r.at, value: r.error ? 1 : 0 }
    const x = tailOf(r, metric)
    return { at: r.at, value: x === null || threshold === undefined ? null : x > threshold ? 1 : 0 }
  })
}

/** The tail reference: the share of reference requests above the p95 bucket edge. */
function tailReference(
  sketch: LatencySketch | undefined,
  utcOffsetHours: number,
): { reference: SeasonalReference; threshold: number } | null {
  const slow = sketch ? slowThreshold(sketch) : null
  if (!slow || slow.n < LATENCY_MIN_REFERENCE) return null
  // A reference with no request in the tail would make the first one an alarm: half a request instead.
  const p = Math.max(slow.shareAbove, 0.5 / slow.n)
  return {
    reference: { mean: p, variance: p * (1 - p), n: slow.n, weekday: null, weekend: null, utcOffsetHours },
    threshold: slow.thresholdMs,
  }
}

function arm(state: MonitorState, config: MonitorConfig, now: number): MonitorState['watching'] {
  const days = Math.max(1 / 24, (now - state.referenceFrom) / 86_400_000)
  const settingsFor = (metric: Metric, reference: SeasonalReference) =>
    settingsFromReference(reference, {
      direction: DIRECTION[metric],
      tolerance: config.tolerance,
      falseAlarmsPer30Days: config.falseAlarmsPer30Days * SHARE[metric],
      observationsPerDay: state.errorRate.all.n / days,
    })
  const detectors = {} as Detectors
  for (const metric of ['dq', 'errorRate'] as const) {
    const reference = referenceOfAccumulator(state[metric])
    if (!reference) return null
    const settings = settingsFor(metric, reference)
    detectors[metric] = { reference, settings, state: initialDetectorState(settings) }
  }
  for (const metric of TAIL_METRICS) {
    const tail = tailReference(state[metric], config.utcOffsetHours)
    if (!tail) continue
    const settings = settingsFor(metric, tail.reference)
    const threshold = metric === 'latency' ? { thresholdMs: tail.threshold } : { thresholdUsd: tail.threshold / 1e6 }
    detectors[metric] = { reference: tail.reference, ...threshold, settings, state: initialDetectorState(settings) }
  }
  return { since: now, detectors }
}

/** Feed a detector observations in time order, each run of one day type against its own reference. */
function feed(
  armed: Armed,
  metric: Metric,
  observations: ReadonlyArray<{ at: number; value: number | null }>,
  seasonal: boolean,
): Armed {
  let state = armed.state
  let i = 0
  while (i < observations.length) {
    const first = observations[i] as { at: number }
    const weekend = isWeekend(first.at, armed.reference.utcOffsetHours)
    let j = i
    while (j < observations.length && isWeekend(observations[j]!.at, armed.reference.utcOffsetHours) === weekend) j++
    const reference = guardedReferenceAt(armed.reference, first.at, DIRECTION[metric], { seasonal })
    state = updateDetector(
      armed.settings,
      state,
      observations.slice(i, j).map((o) => o.value),
      reference,
    )
    i = j
  }
  return { ...armed, state }
}

const LABEL: Record<Metric, string> = {
  dq: 'DQ',
  errorRate: 'error rate',
  latency: 'share of slow requests',
  cost: 'share of costly requests',
}

export function applyCheck(config: MonitorConfig, previous: MonitorState, input: CheckInput): CheckResult {
  let state: MonitorState = previous
  const findings: Finding[] = []
  // A promotion (or the first check): the reference is learned again, from this interval's first request.
  if (state.productionVersionId !== input.productionVersionId)
    state = initialMonitorState(
      Math.min(input.requests[0]?.at ?? input.now, input.now),
      input.productionVersionId,
      config.utcOffsetHours,
    )

  if (state.watching === null) {
    state = {
      ...state,
      dq: accumulate(state.dq, valuesOf(input.requests, 'dq')),
      errorRate: accumulate(state.errorRate, valuesOf(input.requests, 'errorRate')),
      latency: addLatencies(
        state.latency ?? emptyLatencySketch(),
        input.requests.map((r) => tailOf(r, 'latency')),
      ),
      cost: addLatencies(
        state.cost ?? emptyLatencySketch(),
        input.requests.map((r) => tailOf(r, 'cost')),
      ),
    }
    const covered = input.now - state.referenceFrom >= config.referenceMs
    if (covered && state.dq.all.n >= config.minReferenceObservations)
      state = { ...state, watching: arm(state, config, input.now) }
  } else {
    const detectors = { ...state.watching.detectors }
    for (const metric of METRICS) {
      const armed = detectors[metric]
      if (!armed) continue
      const values = valuesOf(input.requests, metric, thresholdOf(armed))
      const fed = feed(armed, metric, values, config.weeklyProfile && (metric === 'dq' || metric === 'errorRate'))
      if (fed.state.alarmAt !== null) {
        const reading = readDetector(fed.settings, fed.state)
        const ref = fed.reference.mean
        const since = reading.meanSince
        findings.push({
          kind: 'change',
          metric,
          summary:
            `${LABEL[metric]}${fed.thresholdMs === undefined ? '' : ` (over ${Math.round(fed.thresholdMs)} ms)`}` +
            `${fed.thresholdUsd === undefined ? '' : ` (over $${fed.thresholdUsd.toPrecision(3)})`} ` +
            `changed: ${since === null ? 'n/a' : since.toFixed(3)} over the last ${reading.n - reading.since} ` +
            `${metric === 'dq' ? 'graded ' : ''}requests against a reference of ${ref.toFixed(3)}`,
          evidence: {
            statistic: reading.statistic,
            threshold: reading.threshold,
            reference: ref,
            meanSince: since,
            observationsSince: reading.n - reading.since,
            observations: reading.n,
            falseAlarmsPer30Days: config.falseAlarmsPer30Days * SHARE[metric],
            ...(fed.thresholdMs === undefined ? {} : { thresholdMs: fed.thresholdMs }),
            ...(fed.thresholdUsd === undefined ? {} : { thresholdUsd: fed.thresholdUsd }),
          },
        })
        detectors[metric] = { ...fed, state: initialDetectorState(fed.settings) }
      } else detectors[metric] = fed
    }
    state = { ...state, watching: { ...state.watching, detectors } }
  }

  const floors = checkFloors(config.floors, input.window)
  for (const f of floors.filter((x) => x.status === 'breach'))
    findings.push({
      kind: 'floor',
      metric: f.floor,
      summary: `${f.floor} ${f.value?.toFixed(3)} is past its floor ${f.limit}`,
      evidence: { value: f.value, limit: f.limit, windowMs: config.floors.windowMs },
    })
  if (input.judge.exhausted)
    findings.push({
      kind: 'budget',
      metric: 'judge',
      summary:
        `grading stopped for the day: $${input.judge.spentTodayUsd.toFixed(2)} of the ` +
        `$${input.judge.budgetUsd.toFixed(2)} daily judge budget spent`,
      evidence: { ...input.judge },
    })
  const drift = input.inputDrift
  if (config.inputDrift.alert && drift?.increase != null && drift.increase >= config.inputDrift.novelShareIncrease)
    findings.push({
      kind: 'input-drift',
      metric: 'inputs',
      summary: `${(100 * (drift.recentNovelShare ?? 0)).toFixed(0)} % of recent inputs are unlike the reference's`,
      evidence: { ...drift },
    })
  const degradation = findings.some(isDegradation)
  return { state, findings, degradation, floors, phase: state.watching ? 'watching' : 'learning' }
}
