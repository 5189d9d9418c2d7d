import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng, seed32 } from '../../core/rng.js'

test('same seed gives the same sequence; different seeds differ', () => {
  const a = Rng.fromSeed('campaign-1', 3)
  const b = Rng.fromSeed('campaign-1', 3)
  const c = Rng.fromSeed('campaign-1', 4)
  const xs = Array.from({ length: 20 }, () => a.float())
  assert.deepEqual(
    xs,
    Array.from({ length: 20 }, () => b.float()),
  )
  assert.notDeepEqual(
    xs,
    Array.from({ length: 20 }, () => c.float()),
  )
})

test('a saved state resumes the exact sequence', () => {
  const a = Rng.fromSeed('resume')
  for (let i = 0; i < 7; i++) a.float()
  const resumed = Rng.fromState(a.state())
  assert.deepEqual(
    Array.from({ length: 10 }, () => a.int(1000)),
    Array.from({ length: 10 }, () => resumed.int(1000)),
  )
})

test('floats are uniform enough and ints stay in range', () => {
  const r = Rng.fromSeed('uniform')
  let sum = 0
  const n = 20_000
  for (let i = 0; i < n; i++) {
    const x = r.float()
    assert.ok(x >= 0 && x < 1)
    sum += x
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ${sum / n}`)
  for (let i = 0; i < 1000; i++) {
    const k = r.int(7)
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7)
  }
  assert.throws(() => r.int(0), /positive integer/)
})

test('sample draws distinct items; weightedIndex follows weights', () => {
  const r = Rng.fromSeed('sample')
  const s = r.sample(['a', 'b', 'c', 'd', 'e'], 3)
  assert.equal(new Set(s).size, 3)
  const counts = [0, 0, 0]
  for (let i = 0; i < 9000; i++) counts[r.weightedIndex([1, 2, 6])]!++
  assert.ok(counts[2]! > counts[1]! && counts[1]! > counts[0]!, JSON.stringify(counts))
  assert.ok(Math.abs(counts[2]! / 9000 - 6 / 9) < 0.03)
})

test('seed32 spreads nearby seeds', () => {
  assert.notEqual(seed32('a', 1), seed32('a', 2))
  assert.equal(seed32('x'), seed32('x'))
})
