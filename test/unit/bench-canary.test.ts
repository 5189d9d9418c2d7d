import assert from 'node:assert/strict'
import { test } from 'node:test'
import { analyzeCanary, DEFAULT_ANALYSIS, type Observation } from '../../core/canary/analyze.js'
import { kaizen } from '../../bench/canary/detectors.js'
import { FastRng } from '../../bench/canary/random.js'
import { generate, SCENARIOS, type Sample } from '../../bench/canary/scenarios.js'

/** The benchmark's sample as live traffic: request i and its r baseline requests share block i. */
function asTraffic(s: Sample, upTo: number): Observation[] {
  const out: Observation[] = []
  for (let i = 0; i < upTo; i++) {
    for (let j = 0; j < s.r; j++) {
      const idx = i * s.r + j
      out.push({
        arm: 'baseline',
        at: i * 1000 + 100 + j,
        unit: `b${idx}`,
        score: s.baselineError[idx] ? null : (s.baseline[idx] as number),
        error: s.baselineError[idx] === 1,
        latencyMs: null,
        costUsd: null,
      })
    }
    out.push({
      arm: 'canary',
      at: i * 1000 + 500,
      unit: `c${i}`,
      score: s.canaryError[i] ? null : (s.canary[i] as number),
      error: s.canaryError[i] === 1,
      latencyMs: null,
      costUsd: null,
    })
  }
  return out
}

test('the benchmark measures the shipped detector: same decisions as analyzeCanary at every look', () => {
  const config = { ...DEFAULT_ANALYSIS, blockMs: 1000, graceMs: 1, maxCanarySamples: 100_000 }
  let rollbacks = 0
  let readies = 0
  for (const scenario of SCENARIOS.filter((s) => ['continuous', 'pass-fail', 'rare-errors'].includes(s.name))) {
    for (const r of [1, 9]) {
      for (const condition of ['null', 'regression'] as const) {
        for (let rep = 0; rep < 3; rep++) {
          const sample = generate(scenario, condition, r, 600, new FastRng(rep * 31 + r))
          const bench = kaizen(sample, 50, config)
          for (let look = 50; look <= 600; look += 50) {
            const live = analyzeCanary(asTraffic(sample, look), config, { now: look * 1000 + 10_000 })
            const benchRolledBack = bench.rollbackAt !== null && bench.rollbackAt <= look
            assert.equal(
              live.verdict === 'rollback',
              benchRolledBack,
              `${scenario.name} r=${r} ${condition} rep ${rep} look ${look}: live ${live.verdict}, bench ` +
                `rollback at ${bench.rollbackAt}`,
            )
            if (!benchRolledBack) {
              const benchReady = bench.readyAt !== null && bench.readyAt !== undefined && bench.readyAt <= look
              assert.equal(
                live.verdict === 'ready',
                benchReady,
                `${scenario.name} r=${r} ${condition} look ${look}: live ${live.verdict}, bench ready at ` +
                  `${bench.readyAt}`,
              )
            }
            if (live.verdict === 'rollback') rollbacks++
            if (live.verdict === 'ready') readies++
          }
        }
      }
    }
  }
  assert.ok(rollbacks > 0 && readies > 0, 'both decisions were exercised')
})

test('the benchmark and the product agree on the hard floor at the edge of "concurrent"', () => {
  // r = 1, 60 canary requests: the last 10 fail; the baseline fails in blocks 50, 52, 54, 56, 58.
  // Block 50's baseline request came before the run's first failure: not concurrent with the run.
  const n = 60
  const sample: Sample = {
    canary: new Float64Array(n).fill(0.8),
    canaryError: new Uint8Array(n),
    baseline: new Float64Array(n).fill(0.8),
    baselineError: new Uint8Array(n),
    r: 1,
  }
  for (let i = 50; i < 60; i++) sample.canary[i] = 0
  for (const i of [50, 52, 54, 56, 58]) sample.baseline[i] = 0
  const config = { ...DEFAULT_ANALYSIS, blockMs: 1000, graceMs: 1, maxCanarySamples: 100_000 }
  const live = analyzeCanary(asTraffic(sample, n), config, { now: n * 1000 + 10_000 })
  const bench = kaizen(sample, 10, config)
  assert.equal(live.hardFloor.triggered, true, JSON.stringify(live.hardFloor))
  assert.equal(bench.rollbackAt, 60)
})
