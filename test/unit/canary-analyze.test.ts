import assert from 'node:assert/strict'
import { test } from 'node:test'
import { analyzeCanary, DEFAULT_ANALYSIS, type Observation } from '../../core/canary/analyze.js'
import { Rng } from '../../core/rng.js'

/** Interleaved traffic: `n` requests per arm, 10 per second, scores from `draw`. */
function traffic(n: number, draw: (arm: 'baseline' | 'canary', i: number) => { score: number | null; error?: boolean }, start = 1_000_000): Observation[] {
  const out: Observation[] = []
  for (let i = 0; i < n; i++) {
    for (const arm of ['baseline', 'canary'] as const) {
      const d = draw(arm, i)
      out.push({ arm, at: start + i * 100 + (arm === 'canary' ? 50 : 0), score: d.score, error: d.error ?? false })
    }
  }
  return out
}

test('an equal canary becomes ready for a human, never promoted, never rolled back', () => {
  const r = Rng.fromSeed('equal')
  const a = analyzeCanary(traffic(400, () => ({ score: r.float() < 0.8 ? 1 : 0.5 })), DEFAULT_ANALYSIS)
  assert.equal(a.verdict, 'ready')
  assert.ok(a.readiness.ready)
  assert.equal(a.quality.harmful, false)
  assert.ok(a.pairedSamples >= DEFAULT_ANALYSIS.minCanarySamples)
})

test('a clearly worse canary is rolled back, with the evidence in the reasons', () => {
  const r = Rng.fromSeed('worse')
  const a = analyzeCanary(traffic(300, (arm) => ({ score: r.float() < (arm === 'canary' ? 0.45 : 0.85) ? 1 : 0.4 })), DEFAULT_ANALYSIS)
  assert.equal(a.verdict, 'rollback')
  assert.ok(a.quality.harmful)
  assert.match(a.reasons.join(' '), /quality regression/)
  assert.ok(a.quality.meanDelta < -0.1)
})

test('a canary that fails every request trips the hard floor within about 10 graded requests', () => {
  const r = Rng.fromSeed('fail')
  const all = traffic(40, (arm) => (arm === 'canary' ? { score: null, error: true } : { score: r.float() < 0.8 ? 1 : 0.5 }))
  let firstRollbackAt: number | null = null
  for (let k = 1; k <= 40 && firstRollbackAt === null; k++) {
    const a = analyzeCanary(all.slice(0, k * 2), DEFAULT_ANALYSIS)
    if (a.verdict === 'rollback') firstRollbackAt = a.canary.requests
  }
  assert.ok(firstRollbackAt !== null && firstRollbackAt <= 12, `rolled back after ${firstRollbackAt} canary requests`)
})

test('drift common to both arms does not roll back (paired with the concurrent baseline)', () => {
  const r = Rng.fromSeed('drift')
  const a = analyzeCanary(
    traffic(800, (_arm, i) => {
      const p = i < 400 ? 0.85 : 0.6 // both arms degrade mid-run
      return { score: r.float() < p ? 1 : 0.4 }
    }),
    DEFAULT_ANALYSIS,
  )
  assert.notEqual(a.verdict, 'rollback')
})

test('canary traffic without any baseline holds instead of rolling back', () => {
  const obs: Observation[] = Array.from({ length: 50 }, (_, i) => ({ arm: 'canary', at: i * 100, score: 0.9, error: false }))
  const a = analyzeCanary(obs, DEFAULT_ANALYSIS)
  assert.equal(a.verdict, 'hold')
})

test('ungraded requests are excluded and counted; open blocks are not used', () => {
  const obs = traffic(100, (arm, i) => ({ score: i % 10 === 0 ? null : 0.8 }))
  const a = analyzeCanary(obs, DEFAULT_ANALYSIS)
  assert.equal(a.canary.ungraded, 10)
  assert.equal(a.canary.graded, 90)
  // the newest block is still open: fewer paired samples than graded canary requests
  assert.ok(a.pairedSamples < a.canary.graded)
})

test('no decision after the maximum sample is inconclusive (a human decides)', () => {
  const r = Rng.fromSeed('inconclusive')
  const config = { ...DEFAULT_ANALYSIS, maxCanarySamples: 100, minCanarySamples: 10_000 }
  const a = analyzeCanary(traffic(150, () => ({ score: r.float() })), config)
  assert.equal(a.verdict, 'inconclusive')
})

test('no change: false rollbacks stay within the quality budget even with many requests per block', () => {
  // 20 requests per arm per block: pairs that shared a block mean would be correlated and
  // inflate false rollbacks far above α; disjoint pairing keeps the guarantee.
  const r = Rng.fromSeed('frr-blocks')
  let rollbacks = 0
  const runs = 300
  for (let k = 0; k < runs; k++) {
    const obs = traffic(500, () => ({ score: r.float() }))
    if (analyzeCanary(obs, { ...DEFAULT_ANALYSIS, maxCanarySamples: 100_000 }).quality.harmful) rollbacks++
  }
  assert.ok(rollbacks / runs <= DEFAULT_ANALYSIS.alphaQuality + 0.02, `false rollback rate ${rollbacks / runs}`)
})
