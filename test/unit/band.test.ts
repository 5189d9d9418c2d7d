import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_ANALYSIS } from '../../core/canary/analyze.js'
import { effectBand } from '../../core/canary/band.js'
import type { Observation } from '../../core/canary/pairing.js'
import { Rng } from '../../core/rng.js'

test('effect band: one always-valid interval per look, narrowing as requests arrive, around the true effect', () => {
  const rng = Rng.fromSeed('band')
  const obs: Observation[] = []
  for (let i = 0; i < 1_200; i++) {
    const arm = i % 2 === 0 ? 'canary' : 'baseline'
    const p = arm === 'canary' ? 0.8 : 0.6 // true effect +0.2
    obs.push({
      arm,
      at: 1_000_000 + i * 100,
      unit: `u${i % 300}`,
      score: rng.float() < p ? 1 : 0,
      error: false,
      latencyMs: 100,
      costUsd: 0.001,
      routedWeight: 0.5,
    })
  }
  const band = effectBand(obs, DEFAULT_ANALYSIS, 10)
  assert.ok(band.length >= 8, `looks with paired data: ${band.length}`)
  for (let i = 1; i < band.length; i++) {
    assert.ok(band[i]!.at > band[i - 1]!.at)
    assert.ok(band[i]!.paired >= band[i - 1]!.paired, 'later looks see at least as many pairs')
  }
  const [first, last] = [band[0]!, band.at(-1)!]
  assert.ok(last.upper - last.lower < first.upper - first.lower, 'the interval narrows')
  assert.ok(last.lower <= 0.2 && 0.2 <= last.upper, `[${last.lower}, ${last.upper}] holds the true effect`)
  assert.ok(last.lower > 0, 'and by the end it excludes no effect')
  assert.deepEqual(effectBand([], DEFAULT_ANALYSIS), [])
})
