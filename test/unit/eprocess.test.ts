import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { adaptiveBets, alwaysValidP, harmEProcess, mixtureBets, readinessEProcess } from '../../core/stats/eprocess.js'

const normalish = (r: Rng, mean: number, sd: number) => {
  const u = Math.max(r.float(), 1e-12)
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.float())
  return Math.min(1, Math.max(-1, mean + sd * z))
}

test('bets follow the growth-optimal formula and respect the cap', () => {
  const b = mixtureBets(0.05, 0.09, 0.75)
  const star = 0.05 / (0.09 + 0.0025)
  assert.deepEqual(b.weights, [0.25, 0.5, 0.25])
  assert.ok(Math.abs(b.lambdas[1]! - star) < 1e-12)
  assert.equal(mixtureBets(0.9, 0.01, 0.75).lambdas[2], 0.75)
  assert.throws(() => mixtureBets(0, 0.1, 0.75), /gap > 0/)
})

test('harm test: false rollbacks stay below alpha under continuous monitoring', () => {
  const r = Rng.fromSeed('harm-null')
  const bets = mixtureBets(0.05, 0.09, 0.75)
  let crossed = 0
  const runs = 400
  for (let k = 0; k < runs; k++) {
    const ds = Array.from({ length: 600 }, () => normalish(r, 0, 0.3))
    if (harmEProcess(ds, bets, 0.025).crossedAt !== null) crossed++
  }
  assert.ok(crossed / runs <= 0.025 + 0.02, `false rollback rate ${crossed / runs}`)
})

test('harm test detects a real regression, and a total failure fast', () => {
  const r = Rng.fromSeed('harm-alt')
  const bets = mixtureBets(0.05, 0.09, 0.75)
  const detected = Array.from({ length: 50 }, () =>
    harmEProcess(
      Array.from({ length: 1500 }, () => normalish(r, -0.1, 0.3)),
      bets,
      0.025,
    ),
  ).filter((t) => t.crossedAt !== null)
  assert.ok(detected.length >= 45, `${detected.length}/50 detected`)
  const total = harmEProcess(
    Array.from({ length: 30 }, () => -0.8),
    bets,
    0.025,
  )
  assert.ok(total.crossedAt !== null && total.crossedAt <= 15, `crossed at ${total.crossedAt}`)
  assert.ok(alwaysValidP(total) <= 0.025)
})

test('readiness: fires for no-worse canaries, rarely for canaries worse than the margin', () => {
  const r = Rng.fromSeed('ready')
  const bets = mixtureBets(0.05, 0.09, 0.75 / 1.05)
  const fine = Array.from({ length: 40 }, () =>
    readinessEProcess(
      Array.from({ length: 800 }, () => normalish(r, 0, 0.3)),
      bets,
      0.05,
      0.05,
    ),
  )
  assert.ok(fine.filter((t) => t.crossedAt !== null).length >= 36)
  let falseReady = 0
  for (let k = 0; k < 300; k++) {
    if (
      readinessEProcess(
        Array.from({ length: 600 }, () => normalish(r, -0.05, 0.3)),
        bets,
        0.05,
        0.05,
      ).crossedAt !== null
    )
      falseReady++
  }
  assert.ok(falseReady / 300 <= 0.05 + 0.025, `false ready ${falseReady / 300}`)
})

test('adaptive bets keep the guarantee and adapt to high-variance pass/fail data', () => {
  const r = Rng.fromSeed('adaptive')
  const plan = adaptiveBets(0.05, 0.09, 0.75)
  // pass/fail differences: sd ≈ 0.57, far from the 0.3 prior
  const passFail = (p: number) => (r.float() < p ? 1 : 0) - (r.float() < 0.8 ? 1 : 0)
  let falseRollbacks = 0
  for (let k = 0; k < 400; k++)
    if (
      harmEProcess(
        Array.from({ length: 1000 }, () => passFail(0.8)),
        plan,
        0.025,
      ).crossedAt !== null
    )
      falseRollbacks++
  assert.ok(falseRollbacks / 400 <= 0.025 + 0.02, `false rollback rate ${falseRollbacks / 400}`)
  let adaptiveHits = 0
  let fixedHits = 0
  const fixed = mixtureBets(0.05, 0.09, 0.75)
  for (let k = 0; k < 100; k++) {
    const ds = Array.from({ length: 2000 }, () => passFail(0.75))
    if (harmEProcess(ds, plan, 0.025).crossedAt !== null) adaptiveHits++
    if (harmEProcess(ds, fixed, 0.025).crossedAt !== null) fixedHits++
  }
  assert.ok(adaptiveHits > fixedHits + 15, `adaptive ${adaptiveHits} vs fixed ${fixedHits} detections of 100`)
})
