import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { reflectiveRound } from '../../core/search/reflective.js'
import { incumbent, meanOf } from '../../core/search/types.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { SimulationProposer } from '../../sim/proposer.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'
import { memoryPorts } from '../helpers/memory-search.js'

const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))

async function search(world: SimWorld, seed: string, rounds = 8, budget = 3000) {
  const ports = memoryPorts(world, { seed, budget, train: 120, validation: 90 })
  const seedContent = scenario.task.prompt
  ports.pool.push({
    id: 'seed',
    content: seedContent,
    parentIds: [],
    operator: 'seed',
    status: 'seed',
    validationMean: meanOf(await ports.evaluate(seedContent, ports.validationIds)),
  })
  let exhausted = false
  for (let r = 0; r < rounds && !exhausted; r++)
    exhausted = (await reflectiveRound(ports.pool, { proposals: 4, minibatchSize: 4 }, ports)).exhausted
  return { ports, best: incumbent(ports.pool)! }
}

test('reflective search improves validation DQ over the seed prompt within its budget', async () => {
  const { ports, best } = await search(new SimWorld(scenario), 'improve')
  const seed = ports.pool[0]!
  assert.ok(
    best.validationMean! > seed.validationMean! + 0.05,
    `seed ${seed.validationMean}, best ${best.validationMean}`,
  )
  assert.ok(ports.rollouts() <= 3000)
  assert.ok(best.parentIds.length === 1 && best.status === 'accepted')
})

test('the same seed gives the same search, bit for bit', async () => {
  const a = await search(new SimWorld(scenario), 'same', 4)
  const b = await search(new SimWorld(scenario), 'same', 4)
  assert.deepEqual(
    a.ports.pool.map((c) => [c.content.system, c.validationMean, c.status]),
    b.ports.pool.map((c) => [c.content.system, c.validationMean, c.status]),
  )
})

test('the budget is a hard cap on rollouts', async () => {
  const { ports } = await search(new SimWorld(scenario), 'tight', 50, 400)
  assert.ok(ports.rollouts() <= 400, `spent ${ports.rollouts()}`)
})

test('the simulated proposer follows truthful feedback and respects the clause limit', () => {
  const world = new SimWorld(scenario)
  const proposer = new SimulationProposer(world, { hallucination: 0 })
  const rng = Rng.fromSeed('proposer')
  const missing = scenario.clauses.find((c) => c.id === 'commands-with-targets')!
  const p = proposer.propose(scenario.task.prompt, [{ itemId: 'x', score: 0.4, feedback: missing.feedback! }], rng)!
  assert.equal(p.operator, 'reflect')
  assert.ok(world.parseClauses(p.content.system).includes('commands-with-targets'))
  const conflict = scenario.effects.conflicts[0]!
  const withConflict = {
    ...scenario.task.prompt,
    system: `${scenario.task.prompt.system} ${scenario.clauses.find((c) => c.id === conflict.clause)!.paraphrases[0]}`,
  }
  const removed = proposer.propose(withConflict, [{ itemId: 'y', score: 0.3, feedback: conflict.feedback }], rng)!
  assert.ok(!world.parseClauses(removed.content.system).includes(conflict.clause))
  let system = scenario.task.prompt.system
  for (let i = 0; i < 60; i++) system = proposer.randomEdit(system, rng)
  assert.ok(world.parseClauses(system).length <= scenario.task.maxClauses)
  assert.ok(system.trim().length > 0)
})
