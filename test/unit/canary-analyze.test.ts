import assert from 'node:assert/strict'
import { test } from 'node:test'
import { analyzeCanary, DEFAULT_ANALYSIS, type Observation } from '../../core/canary/analyze.js'
import { pairObservations } from '../../core/canary/pairing.js'
import { Rng } from '../../core/rng.js'
import { confidenceSequence } from '../../core/stats/eprocess.js'

type Draw = { score: number | null; error?: boolean; latencyMs?: number; costUsd?: number }

/** Interleaved traffic: `n` requests per arm, 10 per second per arm; each request its own unit. */
function traffic(n: number, draw: (arm: 'baseline' | 'canary', i: number) => Draw, start = 1_000_000): Observation[] {
  const out: Observation[] = []
  for (let i = 0; i < n; i++) {
    for (const arm of ['baseline', 'canary'] as const) {
      const d = draw(arm, i)
      out.push({
        arm,
        at: start + i * 100 + (arm === 'canary' ? 50 : 0),
        unit: `${arm}-${i}`,
        score: d.score,
        error: d.error ?? false,
        latencyMs: d.latencyMs ?? 800,
        costUsd: d.costUsd ?? 0.001,
      })
    }
  }
  return out
}

const plenty = { ...DEFAULT_ANALYSIS, maxCanarySamples: 100_000 }

test('an equal canary becomes ready for a human, never promoted, never rolled back', () => {
  const r = Rng.fromSeed('equal')
  const a = analyzeCanary(traffic(400, () => ({ score: r.float() < 0.8 ? 1 : 0.5 })))
  assert.equal(a.verdict, 'ready')
  assert.ok(a.readiness.ready)
  assert.ok(a.metrics.every((m) => !m.harmful))
  assert.ok(a.pairedSamples >= DEFAULT_ANALYSIS.minCanarySamples)
  assert.ok(a.effect.lower <= 0.01 && a.effect.upper >= -0.01 && a.effect.lower < a.effect.upper)
})

test('a clearly worse canary is rolled back, with the evidence in the reasons', () => {
  const r = Rng.fromSeed('worse')
  const a = analyzeCanary(traffic(300, (arm) => ({ score: r.float() < (arm === 'canary' ? 0.45 : 0.85) ? 1 : 0.4 })))
  assert.equal(a.verdict, 'rollback')
  assert.ok(a.quality.harmful)
  assert.match(a.reasons.join(' '), /quality regression/)
  assert.ok(a.quality.estimate < -0.1)
  assert.ok(a.effect.upper < 0, 'the always-valid interval excludes 0')
})

test('a canary that fails every request trips the hard floor within about 10 graded requests', () => {
  const r = Rng.fromSeed('fail')
  const all = traffic(40, (arm) =>
    arm === 'canary' ? { score: null, error: true } : { score: r.float() < 0.8 ? 1 : 0.5 },
  )
  let firstRollbackAt: number | null = null
  for (let k = 1; k <= 40 && firstRollbackAt === null; k++) {
    const a = analyzeCanary(all.slice(0, k * 2))
    if (a.verdict === 'rollback') firstRollbackAt = a.canary.requests
  }
  assert.ok(firstRollbackAt !== null && firstRollbackAt <= 12, `rolled back after ${firstRollbackAt} canary requests`)
})

test('a slower canary is caught by the latency test; a dearer one by the cost test', () => {
  const r = Rng.fromSeed('latency-cost')
  const slow = analyzeCanary(
    traffic(600, (arm) => ({
      score: 0.9,
      latencyMs: (arm === 'canary' ? 1000 : 800) * Math.exp(0.3 * (r.float() - 0.5)),
    })),
    plenty,
  )
  assert.equal(slow.verdict, 'rollback')
  assert.ok(slow.metrics.find((m) => m.metric === 'latency')?.harmful)
  assert.match(slow.reasons.join(' '), /latency regression: canary slower than baseline in \d+% of/)
  const dear = analyzeCanary(
    traffic(600, (arm) => ({ score: 0.9, costUsd: (arm === 'canary' ? 0.0016 : 0.001) * (0.9 + 0.2 * r.float()) })),
    plenty,
  )
  assert.ok(dear.metrics.find((m) => m.metric === 'cost')?.harmful)
  const slightlyDearer = analyzeCanary(
    traffic(600, (arm) => ({ score: 0.9, costUsd: (arm === 'canary' ? 0.00105 : 0.001) * (0.9 + 0.2 * r.float()) })),
    plenty,
  )
  assert.ok(!slightlyDearer.metrics.find((m) => m.metric === 'cost')?.harmful, 'within the 10% tolerance')
  assert.match(
    dear.reasons.join(' '),
    /cost regression: canary costs 1\.\d\d× baseline over \d+ pairs \(allowed 1\.10×\)/,
  )
})

test(`the cost test: rare huge costs do not trip it, a dearer slice does; the accepted \
offline ratio moves the bar`, () => {
  const r = Rng.fromSeed('cost-order')
  // 2% of canary requests cost 100× (a long answer now and then): the mean is 3× the baseline's,
  // but one outlier counts at most −1 in the bounded relative difference.
  const spiky = analyzeCanary(
    traffic(800, (arm) => ({
      score: 0.9,
      costUsd: 0.001 * (0.9 + 0.2 * r.float()) * (arm === 'canary' && r.float() < 0.02 ? 100 : 1),
    })),
    plenty,
  )
  assert.ok((spiky.canary.meanCostUsd as number) > 2 * (spiky.baseline.meanCostUsd as number))
  assert.ok(!spiky.metrics.find((m) => m.metric === 'cost')?.harmful)
  // 40% of canary requests cost 10× (a prompt that makes some answers long): caught, although
  // most pairs are no dearer.
  const slice = analyzeCanary(
    traffic(800, (arm) => ({
      score: 0.9,
      costUsd: 0.001 * (0.9 + 0.2 * r.float()) * (arm === 'canary' && r.float() < 0.4 ? 10 : 1),
    })),
    plenty,
  )
  assert.ok(slice.metrics.find((m) => m.metric === 'cost')?.harmful)
  // Same cost distribution with a wide spread (log-normal, sd 1): no false alarm.
  const normal = () => Math.sqrt(-2 * Math.log(1 - r.float())) * Math.cos(2 * Math.PI * r.float())
  const wide = analyzeCanary(
    traffic(1500, () => ({ score: 0.9, costUsd: 0.001 * Math.exp(normal()) })),
    plenty,
  )
  assert.ok(!wide.metrics.find((m) => m.metric === 'cost')?.harmful)
  // A candidate accepted offline at 1.5× the cost is not rolled back live for costing 1.5×…
  const dearer = (ratio: number) =>
    traffic(600, (arm) => ({
      score: 0.9,
      costUsd: (arm === 'canary' ? 0.001 * ratio : 0.001) * (0.9 + 0.2 * r.float()),
    }))
  assert.ok(
    !analyzeCanary(dearer(1.5), { ...plenty, expectedCostRatio: 1.5 }).metrics.find((m) => m.metric === 'cost')
      ?.harmful,
  )
  // …but is for costing 2.5×.
  assert.ok(
    analyzeCanary(dearer(2.5), { ...plenty, expectedCostRatio: 1.5 }).metrics.find((m) => m.metric === 'cost')?.harmful,
  )
})

test('the hard floor asks for a longer run when the reference itself fails often', () => {
  const r = Rng.fromSeed('floor')
  // The baseline fails (scores 0) 40% of the time: 10 failures in a row are not rare enough.
  const flaky = traffic(200, (arm) => (arm === 'canary' ? { score: 0 } : { score: r.float() < 0.4 ? 0 : 1 }))
  const a = analyzeCanary(flaky.slice(0, 2 * 30), plenty)
  assert.ok(
    a.hardFloor.limit !== null && a.hardFloor.limit > DEFAULT_ANALYSIS.hardFloorRun,
    `limit ${a.hardFloor.limit}`,
  )
  assert.equal(a.hardFloor.triggered, a.hardFloor.run >= (a.hardFloor.limit as number))
  // With a reliable baseline the limit is the configured minimum run.
  const solid = analyzeCanary(
    traffic(30, (arm) => (arm === 'canary' ? { score: 0 } : { score: 1 })),
    plenty,
  )
  assert.equal(solid.hardFloor.limit, DEFAULT_ANALYSIS.hardFloorRun)
  assert.ok(solid.hardFloor.triggered)
  // A baseline failing more often than not: no run means anything (the other tests still apply).
  const broken = analyzeCanary(
    traffic(30, () => ({ score: 0 })),
    plenty,
  )
  assert.equal(broken.hardFloor.limit, null)
  assert.equal(broken.hardFloor.triggered, false)
})

test('drift common to both arms does not roll back (paired with the concurrent baseline)', () => {
  const r = Rng.fromSeed('drift')
  const a = analyzeCanary(
    traffic(800, (_arm, i) => {
      const p = i < 400 ? 0.85 : 0.6 // both arms degrade mid-run
      return { score: r.float() < p ? 1 : 0.4 }
    }),
    plenty,
  )
  assert.notEqual(a.verdict, 'rollback')
})

test('no baseline, no canary traffic, or a skewed split: hold and alert, never roll back', () => {
  const onlyCanary: Observation[] = Array.from({ length: 50 }, (_, i) => ({
    arm: 'canary',
    at: i * 100,
    unit: `u${i}`,
    score: 0.9,
    error: false,
    latencyMs: 800,
    costUsd: 0.001,
  }))
  assert.equal(analyzeCanary(onlyCanary).verdict, 'hold')
  assert.deepEqual(analyzeCanary(onlyCanary).alertKinds, ['no-reference'])

  const quiet = traffic(100, () => ({ score: 0.9 })).filter((o) => o.arm === 'baseline' || o.at < 1_000_000 + 2_000)
  const noData = analyzeCanary(quiet, { ...DEFAULT_ANALYSIS, noDataMs: 5_000 })
  assert.equal(noData.verdict, 'hold')
  assert.match(noData.alerts.join(' '), /no canary traffic for 5 s/)

  // Routing sends 50% of units to the canary although the label says 10%.
  const r = Rng.fromSeed('srm')
  const skewed = analyzeCanary(
    traffic(300, () => ({ score: r.float() })),
    plenty,
    { weights: [{ from: 0, weight: 0.1 }] },
  )
  assert.equal(skewed.verdict, 'hold')
  assert.ok(skewed.sampleRatio.mismatch)
  assert.match(skewed.alerts.join(' '), /sample-ratio mismatch/)
  assert.deepEqual(skewed.alertKinds, ['sample-ratio'])
  // The weight each request was routed with, when recorded, is what the check expects.
  const recorded = traffic(300, () => ({ score: r.float() })).map((o) => ({ ...o, routedWeight: 0.1 }))
  assert.ok(analyzeCanary(recorded, plenty).sampleRatio.mismatch)
  assert.ok(
    !analyzeCanary(
      recorded.map((o) => ({ ...o, routedWeight: 0.5 })),
      plenty,
    ).sampleRatio.mismatch,
  )
  // …and a correct 50% split is fine.
  assert.equal(
    analyzeCanary(
      traffic(300, () => ({ score: r.float() })),
      plenty,
      { weights: [{ from: 0, weight: 0.5 }] },
    ).sampleRatio.mismatch,
    false,
  )
})

test('ungraded requests are excluded and counted; open blocks are not used', () => {
  const obs = traffic(100, (_arm, i) => ({ score: i % 10 === 0 ? null : 0.8 }))
  const a = analyzeCanary(obs)
  assert.equal(a.canary.ungraded, 10)
  assert.equal(a.canary.graded, 90)
  assert.ok(a.pairedSamples < a.canary.graded)
  // with a clock well past the newest request, every block is closed
  assert.ok(analyzeCanary(obs, DEFAULT_ANALYSIS, { now: 2_000_000 }).pairedSamples > a.pairedSamples)
})

test('no decision after the maximum sample is inconclusive (a human decides)', () => {
  const r = Rng.fromSeed('inconclusive')
  const a = analyzeCanary(
    traffic(150, () => ({ score: r.float() })),
    { ...DEFAULT_ANALYSIS, maxCanarySamples: 100, minCanarySamples: 10_000 },
  )
  assert.equal(a.verdict, 'inconclusive')
})

test('in the bake phase production is the arm under test, the holdback its reference', () => {
  const r = Rng.fromSeed('bake')
  // production ('baseline' arm) regressed; the holdback on the previous version ('canary' arm) did not
  const a = analyzeCanary(
    traffic(300, (arm) => ({ score: r.float() < (arm === 'baseline' ? 0.45 : 0.85) ? 1 : 0.4 })),
    DEFAULT_ANALYSIS,
    { treatment: 'baseline' },
  )
  assert.equal(a.treatment, 'baseline')
  assert.equal(a.verdict, 'rollback')
  assert.match(a.reasons.join(' '), /quality regression: production − holdback/)
})

test('no change: false rollbacks stay within the budget even with many requests per block', () => {
  // 20 requests per arm per block: pairs sharing a block mean would be correlated and inflate
  // false rollbacks far above α; disjoint pairing keeps the guarantee.
  const r = Rng.fromSeed('frr-blocks')
  let rollbacks = 0
  const runs = 300
  for (let k = 0; k < runs; k++) {
    const obs = traffic(500, () => ({
      score: r.float(),
      latencyMs: 500 + 600 * r.float(),
      costUsd: 0.001 * (0.8 + 0.4 * r.float()),
    }))
    if (analyzeCanary(obs, plenty).verdict === 'rollback') rollbacks++
  }
  const budget =
    DEFAULT_ANALYSIS.alphaQuality +
    DEFAULT_ANALYSIS.alphaError +
    DEFAULT_ANALYSIS.alphaLatency +
    DEFAULT_ANALYSIS.alphaCost
  assert.ok(rollbacks / runs <= budget + 0.02, `false rollback rate ${rollbacks / runs}`)
})

test('pairing gives every canary request its own baseline group (10% canary: about 9 each)', () => {
  const obs: Observation[] = []
  for (let i = 0; i < 1000; i++)
    obs.push({
      arm: i % 10 === 0 ? 'canary' : 'baseline',
      at: i * 10,
      unit: `u${i}`,
      score: 0.5,
      error: false,
      latencyMs: 1,
      costUsd: 1,
    })
  const p = pairObservations(obs, { blockMs: 1000, closedBefore: 20_000, treatment: 'canary' })
  assert.equal(p.quality.length, 100)
  assert.equal(p.unpaired, 0)
})

test('the always-valid interval covers the true effect at its level, at every look', () => {
  const r = Rng.fromSeed('coverage')
  let misses = 0
  const runs = 200
  for (let k = 0; k < runs; k++) {
    const ds = Array.from({ length: 400 }, () => Math.max(-1, Math.min(1, 0.1 + (r.float() - 0.5) * 0.8)))
    const { lower, upper } = confidenceSequence(ds, 0.05)
    if (!(lower <= 0.1 && 0.1 <= upper)) misses++
  }
  assert.ok(misses / runs <= 0.05, `miss rate ${misses / runs}`)
})
