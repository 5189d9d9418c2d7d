import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { pairedTest } from '../../core/stats/paired.js'

test('a clear improvement on paired items is significant', () => {
  const r = Rng.fromSeed('paired-better')
  const base = Array.from({ length: 80 }, () => (r.float() < 0.55 ? 1 : 0.4))
  const cand = base.map((b) => (b === 1 ? 1 : r.float() < 0.6 ? 1 : 0.4))
  const t = pairedTest(base, cand, { seed: 's' })
  assert.ok(t.meanDelta > 0.1)
  assert.ok(t.pValue < 0.001, `p = ${t.pValue}`)
  assert.ok(t.lowerBound > 0)
  assert.equal(t.significant, true)
  assert.equal(t.losses, 0)
})

test('no difference is not significant, and a worse candidate never is', () => {
  const r = Rng.fromSeed('paired-null')
  const base = Array.from({ length: 60 }, () => r.float())
  const same = base.map((b) => Math.min(1, Math.max(0, b + (r.float() - 0.5) * 0.1)))
  assert.equal(pairedTest(base, same, { seed: 'a' }).significant, false)
  const worse = base.map((b) => Math.max(0, b - 0.2))
  const t = pairedTest(base, worse, { seed: 'b' })
  assert.equal(t.significant, false)
  assert.ok(t.pValue > 0.99)
})

test('false positive rate under the null stays near alpha', () => {
  const r = Rng.fromSeed('paired-fpr')
  let rejections = 0
  const runs = 300
  for (let k = 0; k < runs; k++) {
    const base = Array.from({ length: 40 }, () => (r.float() < 0.7 ? 1 : 0))
    const cand = Array.from({ length: 40 }, () => (r.float() < 0.7 ? 1 : 0))
    if (pairedTest(base, cand, { seed: `run-${k}`, resamples: 2000 }).significant) rejections++
  }
  assert.ok(rejections / runs <= 0.09, `false positive rate ${rejections / runs}`)
})

test('small samples use exact enumeration and the result is deterministic', () => {
  const t1 = pairedTest([0, 0, 0, 0, 0], [1, 1, 1, 1, 1])
  assert.equal(t1.pValue, 1 / 32)
  assert.deepEqual(
    pairedTest([0.2, 0.4, 0.1], [0.3, 0.2, 0.9], { seed: 'x' }),
    pairedTest([0.2, 0.4, 0.1], [0.3, 0.2, 0.9], { seed: 'x' }),
  )
})

test('min effect is honoured and unpaired input is refused', () => {
  const base = Array.from({ length: 50 }, () => 0.5)
  const cand = Array.from({ length: 50 }, () => 0.52)
  assert.equal(pairedTest(base, cand, { minEffect: 0.05 }).significant, false)
  assert.throws(() => pairedTest([1, 2], [1]), /paired samples/)
})
