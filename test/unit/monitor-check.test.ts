import assert from 'node:assert/strict'
import { test } from 'node:test'
import { applyCheck, initialMonitorState, type CheckInput, type MonitorState } from '../../core/monitor/check.js'
import { MonitorConfig } from '../../core/monitor/config.js'
import { Rng } from '../../core/rng.js'

const HOUR = 3_600_000
const START = Date.UTC(2026, 10, 2) // a Monday
const config = MonitorConfig.parse({})
const quiet = { graded: 50, dqMean: 0.8, requests: 50, errors: 0, p95LatencyMs: 900 }
const judge = { spentTodayUsd: 0.5, budgetUsd: 5, exhausted: false }

/** An hour of graded traffic: rubric scores with the given mean, errors at the given rate. */
function hour(r: Rng, h: number, mean: number, errorRate = 0.01, n = 50): CheckInput {
  const at = START + h * HOUR
  const requests = Array.from({ length: n }, (_, i) => {
    const error = r.float() < errorRate
    const good = r.float() < (mean - 0.25) / 0.625
    return { at: at + (i * HOUR) / n, error, dq: error ? null : good ? r.pick([0.75, 1]) : r.pick([0, 0.25, 0.5]) }
  })
  return { now: at + HOUR, productionVersionId: 'v1', requests, window: quiet, judge, inputDrift: null }
}

function run(state: MonitorState, r: Rng, from: number, hours: number, mean: number, errorRate = 0.01) {
  const found: Array<{ hour: number; kinds: string[]; degradation: boolean }> = []
  for (let h = from; h < from + hours; h++) {
    const res = applyCheck(config, state, hour(r, h, mean, errorRate))
    state = res.state
    if (res.findings.length > 0)
      found.push({ hour: h, kinds: res.findings.map((f) => `${f.kind}:${f.metric}`), degradation: res.degradation })
  }
  return { state, found }
}

test('a check learns the reference for a week, then watches; a DQ drop is a degradation found within a day', () => {
  let quietAlarms = 0
  for (const seed of ['a', 'b', 'c', 'd', 'e', 'f']) {
    const r = Rng.fromSeed('monitor-check', seed)
    const learning = run(initialMonitorState(START), r, 0, 7 * 24 - 1, 0.8)
    assert.equal(learning.state.watching, null, 'still learning before the reference covers 7 days')
    assert.deepEqual(learning.found, [])
    const armed = applyCheck(config, learning.state, hour(r, 7 * 24 - 1, 0.8))
    assert.equal(armed.phase, 'watching')
    assert.ok(Math.abs(armed.state.watching!.detectors.dq.reference.mean - 0.8) < 0.02)
    const calm = run(armed.state, r, 7 * 24, 20 * 24, 0.8)
    quietAlarms += calm.found.length
    const dropped = run(calm.state, r, 27 * 24, 48, 0.7)
    const first = dropped.found[0]
    assert.ok(first, 'the 0.10 drop is found')
    assert.ok(first.hour - 27 * 24 < 24, `found after ${first.hour - 27 * 24} hours`)
    assert.deepEqual(first.kinds, ['change:dq'])
    assert.equal(first.degradation, true)
    // A promotion: the reference is learned again from the new version's traffic.
    const promoted = applyCheck(config, dropped.state, { ...hour(r, 29 * 24, 0.8), productionVersionId: 'v2' })
    assert.equal(promoted.phase, 'learning')
    assert.equal(promoted.state.productionVersionId, 'v2')
    assert.equal(promoted.state.referenceFrom, START + 29 * 24 * HOUR)
    assert.equal(promoted.state.dq.all.n > 0, true)
  }
  // 120 quiet days at 1,200 graded requests a day: the run lengths (40 days for DQ, 120 for errors)
  // allow 4 false alarms on average; a detector whose reference or bets were off would raise many.
  assert.ok(quietAlarms <= 4, `${quietAlarms} false alarms in 120 quiet days`)
})

test('slower or dearer answers are changes in the share of slow or costly requests (over the reference p95), \
not DQ degradations', () => {
  let quietAlarms = 0
  for (const seed of ['a', 'b', 'c']) {
    const r = Rng.fromSeed('monitor-check-latency', seed)
    const z = () => Math.sqrt(-2 * Math.log(1 - r.float())) * Math.cos(2 * Math.PI * r.float())
    // Log-normal latencies around 900 ms (spread 0.3: p95 ≈ 1,475 ms) and costs around $0.0004, each scaled.
    const traffic = (h: number, slower: number, dearer: number) => {
      const input = hour(r, h, 0.8)
      const requests = input.requests.map((q) => ({
        ...q,
        latencyMs: slower * 900 * Math.exp(0.3 * z()),
        costUsd: dearer * 0.0004 * Math.exp(0.2 * z()),
      }))
      return { ...input, requests }
    }
    let state = initialMonitorState(START)
    for (let h = 0; h < 7 * 24; h++) state = applyCheck(config, state, traffic(h, 1, 1)).state
    const { latency: slow, cost: dear } = state.watching?.detectors ?? {}
    assert.ok(slow?.thresholdMs && dear?.thresholdUsd, 'the latency and cost detectors are armed')
    assert.ok(slow.thresholdMs > 1_300 && slow.thresholdMs < 1_700, `threshold ${slow.thresholdMs} ms`)
    assert.ok(slow.reference.mean > 0.02 && slow.reference.mean <= 0.05, `reference share ${slow.reference.mean}`)
    assert.ok(dear.thresholdUsd > 0.00052 && dear.thresholdUsd < 0.00062, `threshold $${dear.thresholdUsd}`)
    for (let h = 7 * 24; h < 27 * 24; h++) {
      const res = applyCheck(config, state, traffic(h, 1, 1))
      state = res.state
      quietAlarms += res.findings.filter((f) => f.metric === 'latency' || f.metric === 'cost').length
    }
    const firstFinding = (from: number, slower: number, dearer: number) => {
      for (let h = from; h < from + 24; h++) {
        const res = applyCheck(config, state, traffic(h, slower, dearer))
        state = res.state
        const changed = res.findings.filter((f) => f.kind === 'change').map((f) => f.metric)
        if (changed.length > 0) return { hour: h - from, changed, degradation: res.degradation }
      }
      return null
    }
    const slower = firstFinding(27 * 24, 1.5, 1)
    assert.ok(slower && slower.hour <= 3, `50 % slower found after ${slower?.hour} hours`)
    assert.deepEqual([slower.changed, slower.degradation], [['latency'], false])
    const dearer = firstFinding(28 * 24, 1, 1.4)
    assert.ok(dearer && dearer.hour <= 3, `40 % dearer found after ${dearer?.hour} hours`)
    assert.deepEqual([dearer.changed, dearer.degradation], [['cost'], false])
  }
  // 60 quiet days; the two detectors' share of the budget allows about 0.3 false alarms together.
  assert.ok(quietAlarms <= 1, `${quietAlarms} latency and cost false alarms in 60 quiet days`)
})

test('an error burst is a change in the error rate, not a DQ degradation', () => {
  const r = Rng.fromSeed('monitor-check-errors')
  const { state } = run(initialMonitorState(START), r, 0, 7 * 24, 0.8)
  assert.notEqual(state.watching, null)
  const burst = run(state, r, 7 * 24, 6, 0.8, 0.2)
  assert.ok(burst.found.length > 0, 'the burst is found within its 6 hours')
  assert.deepEqual(burst.found[0]!.kinds, ['change:errorRate'])
  assert.equal(burst.found[0]!.degradation, false)
})

test('floors, the judge budget and input drift are findings; missing data is not a pass', () => {
  const r = Rng.fromSeed('monitor-check-floors')
  const base = hour(r, 0, 0.8)
  const low = applyCheck(config, initialMonitorState(START), { ...base, window: { ...quiet, dqMean: 0.6 } })
  assert.deepEqual(
    low.findings.map((f) => `${f.kind}:${f.metric}`),
    ['floor:dq'],
  )
  assert.equal(low.degradation, true)
  const slow = applyCheck(config, initialMonitorState(START), { ...base, window: { ...quiet, p95LatencyMs: 7000 } })
  assert.deepEqual(
    slow.findings.map((f) => `${f.kind}:${f.metric}`),
    ['floor:p95LatencyMs'],
  )
  assert.equal(slow.degradation, false)
  const thin = applyCheck(config, initialMonitorState(START), {
    ...base,
    window: { graded: 2, dqMean: 0.1, requests: 2, errors: 0, p95LatencyMs: 100 },
  })
  assert.deepEqual(thin.findings, [])
  assert.deepEqual(
    thin.floors.map((f) => f.status),
    ['missing', 'missing'],
  )
  const spent = applyCheck(config, initialMonitorState(START), {
    ...base,
    judge: { spentTodayUsd: 5, budgetUsd: 5, exhausted: true },
  })
  assert.match(spent.findings[0]!.summary, /grading stopped for the day: \$5\.00 of the \$5\.00/)
  const drift = { referenceNovelShare: 0.05, recentNovelShare: 0.5, increase: 0.45, examples: [0] }
  assert.deepEqual(applyCheck(config, initialMonitorState(START), { ...base, inputDrift: drift }).findings, [])
  const alerting = MonitorConfig.parse({ inputDrift: { alert: true } })
  const found = applyCheck(alerting, initialMonitorState(START), { ...base, inputDrift: drift }).findings
  assert.deepEqual(
    found.map((f) => `${f.kind}:${f.metric}`),
    ['input-drift:inputs'],
  )
})
