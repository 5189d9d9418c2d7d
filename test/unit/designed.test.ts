/**
 * Designed search (core/search/designed.ts) and its logistic model (core/search/logistic.ts).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { basisOf, designedRound } from '../../core/search/designed.js'
import { fitLogistic, predictedMean, type Row } from '../../core/search/logistic.js'
import { modelRound } from '../../core/search/models.js'
import { runRound } from '../../core/search/strategies.js'
import { DEFAULT_STRATEGY_SETTINGS, type Candidate } from '../../core/search/types.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'
import { withProduction } from '../helpers/model-search.js'

test('the logistic fit recovers sentence effects from random designs scored on a few items each', () => {
  const rng = Rng.fromSeed('logistic')
  const items = 20
  const intercepts = Array.from({ length: items }, () => rng.float() * 2 - 1)
  const effects = [1.5, 0.5, 0, 0, -0.5, -1.5]
  const rows: Row[] = []
  for (let d = 0; d < 1500; d++) {
    const features = rng.sample([0, 1, 2, 3, 4, 5], 3)
    for (const item of rng.sample([...intercepts.keys()], 2)) {
      const z = (intercepts[item] as number) + features.reduce((s, f) => s + (effects[f] as number), 0)
      rows.push({ item, features, y: rng.float() < 1 / (1 + Math.exp(-z)) ? 1 : 0 })
    }
  }
  const theta = fitLogistic(rows, items, effects.length, 2)
  const fitted = effects.map((_, f) => theta[items + f] as number)
  fitted.forEach((x, f) => assert.ok(Math.abs(x - (effects[f] as number)) < 0.3, `effect ${f}: ${x}`))
  assert.ok(predictedMean(theta, items, [0, 1, 2]) > predictedMean(theta, items, [3, 4, 5]) + 0.3)
  // Fractional scores (a DQ in [0, 1]) fit too: halving every outcome shrinks the effects towards 0.
  const half = fitLogistic(
    rows.map((r) => ({ ...r, y: r.y / 2 })),
    items,
    effects.length,
    2,
  )
  assert.ok(Math.abs(half[items] as number) < Math.abs(theta[items] as number))
})

test('a grouping is made whole: every sentence placed once, invented ones dropped, variables fixed', () => {
  const found = ['You triage {{ticket}}.', 'Be brief.', 'Keep it short.', 'Name the service.', 'Cite the log.']
  const basis = basisOf(found, {
    instructions: [
      ['be brief', 'Keep it short.', 'Made up.'],
      ['Name the service.', 'Keep it short.'],
    ],
    fixed: [],
  })
  // Matched by sentence key; the second place of "Keep it short." and the invented sentence are dropped;
  // "Cite the log." was left out, so it is an instruction of its own; the variable's sentence is fixed.
  assert.deepEqual(basis, {
    fixed: ['You triage {{ticket}}.'],
    instructions: [['Be brief.', 'Keep it short.'], ['Name the service.'], ['Cite the log.']],
  })
  // No proposer grouping: each sentence is its own instruction.
  assert.equal(basisOf(found, null).instructions.length, 4)
})

test('designed search re-optimizes a prompt for a model that ignores a wording; designs are never saved', async () => {
  const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
  const world = new SimWorld(scenario)
  const budget = 1500
  const { ports } = await withProduction(world, { seed: 'designed', budget, validation: 50 })
  const models = [
    { model: 'sim-large', costPer1k: 10 },
    { model: 'sim-small', costPer1k: 0.2 },
  ]
  const round = modelRound(designedRound, {
    models,
    objective: { kind: 'migrate', toModel: 'sim-small', margin: 0.05 },
  })
  const settings = { ...DEFAULT_STRATEGY_SETTINGS, harvest: 100, designRollouts: 800 }
  let rounds = 0
  for (; rounds < 100; rounds++) if ((await runRound(round, ports.pool, settings, ports)).exhausted) break
  assert.ok(rounds < 100, 'the search ends when its budget is spent')
  assert.ok(ports.rollouts() <= budget, `${ports.rollouts()} rollouts`)
  // The pool holds production, its prompt moved to sim-small, and the fitted prompts only.
  assert.deepEqual([...new Set(ports.pool.map((c) => c.operator))].sort(), ['designed', 'seed', 'switch-model'])
  assert.ok(ports.pool.length <= 6, `${ports.pool.length} candidates`)
  const root = ports.pool.find((c) => c.operator === 'switch-model') as Candidate
  const fitted = ports.pool.filter((c) => c.operator === 'designed')
  assert.ok(fitted.every((c) => c.content.model === 'sim-small' && c.parentIds[0] === root.id))
  const best = fitted.sort((a, b) => b.validationMean! - a.validationMean!)[0] as Candidate
  assert.ok(world.parseClauses(best.content.system, 'sim-small').includes('json-only'), best.content.system)
  assert.ok(best.validationMean! > root.validationMean! + 0.2, `${best.validationMean} vs ${root.validationMean}`)
  // Run again from the root alone, every design is found in the cache: nothing paid, nothing new.
  const paid = ports.rollouts()
  const again: Candidate[] = [root, ...fitted]
  const outcome = await designedRound(again, settings, ports)
  assert.equal(ports.rollouts(), paid)
  assert.equal(again.length, 1 + fitted.length)
  assert.equal(outcome.exhausted, true)
})
