import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { Rng } from '../../core/rng.js'
import { copiesTraining, crossover, merge, sentences } from '../../core/search/edits.js'
import { Exhausted, evaluateWithin } from '../../core/search/common.js'
import { paretoWeights } from '../../core/search/pareto.js'
import { POOLED_LOCAL_MODEL } from '../../core/search/pooled-local.js'
import { STRATEGIES, STRATEGY_NAMES, runRound } from '../../core/search/strategies.js'
import { DEFAULT_STRATEGY_SETTINGS, incumbent, meanOf } from '../../core/search/types.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'
import { memoryPorts } from '../helpers/memory-search.js'

const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))

test('Pareto front: specialists best on some items keep weight; a dominated candidate gets none', () => {
  const w = paretoWeights([
    { id: 'all-rounder', scores: [1, 1, 0, 0] },
    { id: 'specialist', scores: [0, 0, 1, 0] },
    { id: 'dominated', scores: [1, 0, 0, 0] },
    { id: 'other', scores: [0, 0, 0, 1] },
  ])
  assert.deepEqual(Object.fromEntries(w), { 'all-rounder': 2, specialist: 1, other: 1 })
})

test('sentence edits: crossover keeps shared sentences; merge applies both lineages to the ancestor', () => {
  const rng = Rng.fromSeed('edits')
  const a = 'Be brief. Name the service. Give commands.'
  const b = 'Be brief. State the risk.'
  for (let i = 0; i < 20; i++) {
    const child = crossover(a, b, rng, 4)
    if (child === null) continue
    assert.ok(sentences(child).includes('Be brief.'))
    assert.ok(sentences(child).length <= 4)
  }
  const ancestor = 'Be brief. Name the service.'
  const left = 'Be brief. Name the service. Give commands.' // added a sentence
  const right = 'Name the service. State the risk.' // removed one, added one
  assert.deepEqual(sentences(merge(ancestor, left, right, 5) as string), [
    'Name the service.',
    'Give commands.',
    'State the risk.',
  ])
  assert.equal(merge(ancestor, left, right, 2), null, 'over the sentence cap')
})

test('copy guard: a prompt that pastes a training input is caught; the seed’s own wording is not', () => {
  const input = 'payments-api returns 502 errors after the deploy of version 2.14 to the eu-west cluster'
  const seed = 'You triage incidents and answer with JSON.'
  assert.equal(
    copiesTraining(`${seed} For example payments-api returns 502 errors after the deploy of version 2.14.`, seed, [
      input,
    ]),
    'payments api returns 502 errors after the deploy',
  )
  assert.equal(copiesTraining(`${seed} Always name the failing service.`, seed, [input]), null)
})

/** The scenario's seed prompt in the pool, fully validated (what every search starts from). */
async function seedPool(ports: ReturnType<typeof memoryPorts>) {
  const s = scenario.task.prompt
  ports.pool.push({
    id: 'seed',
    content: s,
    parentIds: [],
    operator: 'seed',
    status: 'seed',
    validationMean: meanOf(await ports.evaluate(s, ports.validationIds)),
  })
}

async function run(name: (typeof STRATEGY_NAMES)[number], seed: string, budget: number, rounds = 200, jitter?: Rng) {
  const world = new SimWorld(scenario)
  const ports = memoryPorts(world, { seed, budget, train: 120, validation: 60 })
  if (jitter) {
    // Evaluations finish in a random order (as chunks on several workers do).
    const evaluate = ports.evaluate.bind(ports)
    ports.evaluate = async (content, ids) => {
      const out = await evaluate(content, ids)
      await new Promise((r) => setTimeout(r, jitter.int(5)))
      return out
    }
  }
  await seedPool(ports)
  for (let r = 0; r < rounds; r++) {
    const o = await STRATEGIES[name](ports.pool, DEFAULT_STRATEGY_SETTINGS, ports)
    if (o.exhausted) break
  }
  return ports
}

for (const name of STRATEGY_NAMES) {
  test(`${name}: never passes the rollout budget, is reproducible by seed, and keeps lineage`, async () => {
    const a = await run(name, `t-${name}`, 700)
    assert.ok(a.rollouts() <= 700, `spent ${a.rollouts()}`)
    const b = await run(name, `t-${name}`, 700)
    assert.deepEqual(
      a.pool.map((c) => [c.content.system, c.status, c.validationMean, c.operator]),
      b.pool.map((c) => [c.content.system, c.status, c.validationMean, c.operator]),
    )
    assert.ok(a.pool.length > 1, 'proposed something')
    for (const c of a.pool.slice(1))
      assert.ok(
        c.parentIds.length >= 1 && c.parentIds.every((p) => a.pool.some((x) => x.id === p)),
        `${c.id} has known parents`,
      )
  })
}

test('reflective strategies beat the seed on validation within a small budget', async () => {
  for (const name of ['gepa', 'gepa-best', 'beam'] as const) {
    const ports = await run(name, `improve-${name}`, 2_000)
    const best = incumbent(ports.pool)
    assert.ok(
      best && (best.validationMean as number) > (ports.pool[0]?.validationMean as number) + 0.05,
      `${name}: seed ${ports.pool[0]?.validationMean}, best ${best?.validationMean}`,
    )
  }
})

test('pooled-local: proposals kept beside their parent; new incumbents confirmed; a truly better prompt', async () => {
  const world = new SimWorld(scenario)
  const ports = memoryPorts(world, { seed: 'pooled-local', budget: 2_000, train: 120, validation: 60 })
  const seed = scenario.task.prompt
  await seedPool(ports)
  const settings = { ...DEFAULT_STRATEGY_SETTINGS, minibatchSize: 8, ...POOLED_LOCAL_MODEL }
  const known = async (c: { content: typeof seed }) =>
    (await ports.knownScores?.(c.content, ports.validationIds))?.length ?? 0
  let confirmations = 0
  for (let r = 0; r < 500; r++) {
    const top = incumbent(ports.pool)
    assert.ok(top)
    const unconfirmed = (await known(top)) < ports.validationIds.length
    const before = ports.pool.length
    const outcome = await runRound(STRATEGIES['pooled-local'], ports.pool, settings, ports)
    if (outcome.exhausted) break
    if (unconfirmed) {
      // The round only scored the incumbent on the rest of the validation items.
      confirmations++
      assert.equal(outcome.proposals, 0)
      assert.equal(ports.pool.length, before)
      assert.equal(await known(top), ports.validationIds.length)
    } else assert.ok(outcome.proposals > 0, `round ${r} proposed nothing`)
  }
  assert.ok(confirmations >= 3, `${confirmations} confirmations`)
  const kept = ports.pool.slice(1)
  assert.ok(kept.length >= 60, `${kept.length} kept`)
  for (const c of kept) {
    assert.equal(c.status, 'accepted')
    assert.ok((await known(c)) >= 8, `${c.id} is scored on validation items`)
    const parent = ports.pool.find((p) => p.id === c.parentIds[0])
    assert.ok(parent && (await known(parent)) >= 8, `${c.id}'s parent is scored beside it`)
  }
  assert.ok(kept.some((c) => c.operator === 'random-edit') && kept.some((c) => c.operator === 'reflect'))
  // Exact quality (mean success probability over 400 unseen examples), not the search's own estimate.
  const exact = (content: typeof seed) => {
    const clauses = world.parseClauses(content.system, content.model)
    const keys = Array.from({ length: 400 }, (_, i) => `exact-${i}`)
    return keys.reduce((a, k) => a + world.probability(world.example(k), clauses, content.model), 0) / keys.length
  }
  const best = incumbent(ports.pool)
  assert.ok(
    best && exact(best.content) > exact(seed) + 0.05,
    `seed ${exact(seed)}, best ${best && exact(best.content)}`,
  )
  // The search ended on a confirmed incumbent, with the last passes of the budget kept for that.
  assert.equal(await known(best), ports.validationIds.length)
  assert.ok(ports.rollouts() < 2_000, `${ports.rollouts()} rollouts`)
})

test('campaign estimate: ranges ordered, search capped by the budget, strategy-specific costs', async () => {
  const { estimateCampaign } = await import('../../core/search/estimate.js')
  const { parseCampaignConfig } = await import('../../core/config.js')
  const base = {
    availableRecords: 1_000,
    tokens: { input: 400, output: 200 },
    price: { inputPerMTok: 1, outputPerMTok: 4 },
  }
  const gepa = estimateCampaign({
    ...base,
    config: parseCampaignConfig({
      sample: { size: 300 },
      search: { strategy: 'gepa', rounds: 5, proposalsPerRound: 4, minibatchSize: 4, rolloutBudget: 100_000 },
    }),
  })
  assert.deepEqual(gepa.items, { train: 120, validation: 90, holdout: 90 })
  assert.equal(gepa.rollouts.search.low, 20 * 8)
  assert.equal(gepa.rollouts.search.high, 20 * (8 + 90))
  assert.equal(gepa.rollouts.total.expected, 120 + 90 + gepa.rollouts.search.expected + 180)
  assert.ok(Math.abs((gepa.usd.expected as number) - (gepa.rollouts.total.expected * (400 * 1 + 200 * 4)) / 1e6) < 1e-9)
  const random = estimateCampaign({
    ...base,
    config: parseCampaignConfig({
      search: { strategy: 'random', rounds: 5, proposalsPerRound: 4, rolloutBudget: 500 },
    }),
  })
  const { train, validation } = random.items
  assert.equal(
    random.rollouts.search.expected,
    500 - train - validation,
    'capped by the rollout budget less the baseline, which comes out of it first',
  )
  assert.equal(random.rollouts.total.high, 500 + random.rollouts.holdout, 'only the holdout gate is past the budget')
  assert.equal(estimateCampaign({ ...base, price: null, config: parseCampaignConfig({}) }).usd.expected, null)
  // A search over two models: two switch-model validation passes, and both finalists on the holdout.
  const models = estimateCampaign({
    ...base,
    config: parseCampaignConfig({
      sample: { size: 300 },
      search: {
        strategy: 'gepa',
        rounds: 5,
        proposalsPerRound: 4,
        minibatchSize: 4,
        rolloutBudget: 100_000,
        models: ['sim-standard', 'sim-small'],
        objective: { kind: 'cheapest' },
      },
    }),
  })
  assert.equal(models.rollouts.search.low, 2 * 90 + 20 * 8)
  assert.equal(models.rollouts.holdout, 3 * 90)
  assert.ok(models.assumptions.some((a) => /a search over 2 model/.test(a)))
  // A migration: one model, and production's prompt unchanged on it is a third holdout arm (the drop).
  const migrate = estimateCampaign({
    ...base,
    config: parseCampaignConfig({
      sample: { size: 300 },
      search: { strategy: 'gepa', objective: { kind: 'migrate', toModel: 'sim-small' } },
    }),
  })
  assert.equal(migrate.rollouts.holdout, 3 * 90)
  // Three finalists per model: each model's three best-ranked candidates on the holdout.
  const three = estimateCampaign({
    ...base,
    config: parseCampaignConfig({
      sample: { size: 300 },
      search: { strategy: 'gepa', objective: { kind: 'migrate', toModel: 'sim-small' }, finalistsPerModel: 3 },
    }),
  })
  assert.equal(three.rollouts.holdout, (1 + 3 + 1) * 90)
  assert.ok(three.assumptions.some((a) => /3 best-ranked candidates on the holdout/.test(a)))
  // A spend budget that leaves the search nothing says so, and names the finalists as a way out.
  const tight = estimateCampaign({
    ...base,
    budgetCheck: { maxTokens: 400, inFlight: 4 },
    config: parseCampaignConfig({
      sample: { size: 300 },
      search: { objective: { kind: 'migrate', toModel: 'sim-small' }, finalistsPerModel: 3, budgetUsd: 0.01 },
    }),
  })
  assert.match(tight.warnings.join('\n'), /does not cover scoring the baseline/)
  assert.match(
    tight.warnings.join('\n'),
    /or lower search\.finalistsPerModel \(3: each finalist is a pass over the holdout\)/,
  )
})

test(`campaign estimate: how a spend budget divides between the baseline, the holdout reserve \
and the search`, async () => {
  const { estimateCampaign } = await import('../../core/search/estimate.js')
  const { parseCampaignConfig } = await import('../../core/config.js')
  const price = { inputPerMTok: 1, outputPerMTok: 4 }
  const tokens = { input: 400, output: 200 }
  const perCall = (400 * 1 + 200 * 4) / 1e6
  const worst = (400 * 1 + 1_000 * 4) / 1e6
  const config = (budgetUsd: number) =>
    parseCampaignConfig({ sample: { size: 300 }, search: { strategy: 'gepa', rounds: 5, budgetUsd } })
  const budgetCheck = { maxTokens: 1_000, inFlight: 8 }
  const ample = estimateCampaign({ availableRecords: 1_000, tokens, price, budgetCheck, config: config(2) })
  const b = ample.budget!
  assert.ok(Math.abs(b.baselineUsd - 210 * perCall) < 1e-12)
  // Both arms on the 90 holdout items, and eight calls in flight at their worst case.
  assert.ok(Math.abs(b.holdoutReserveUsd - (180 * perCall + 8 * worst)) < 1e-12)
  assert.ok(Math.abs(b.searchUsd - (2 - b.baselineUsd - b.holdoutReserveUsd)) < 1e-12)
  assert.equal(b.searchRollouts, Math.floor(b.searchUsd / perCall))
  assert.deepEqual(ample.warnings, [])
  // Enough for a few search calls only: the search will end on the budget.
  const tight = estimateCampaign({ availableRecords: 1_000, tokens, price, budgetCheck, config: config(0.55) })
  assert.ok(tight.budget!.searchRollouts > 0 && tight.budget!.searchRollouts < tight.rollouts.search.expected)
  assert.match(tight.warnings[0] ?? '', /search\.budgetUsd \$0\.55 leaves ~\$[\d.]+ for the search, about \d+ rollouts/)
  // Not even the baseline and the gate: the field and the amount to raise it above.
  const short = estimateCampaign({ availableRecords: 1_000, tokens, price, budgetCheck, config: config(0.3) })
  assert.equal(short.budget!.searchRollouts, 0)
  assert.match(short.warnings[0] ?? '', /does not cover .* Raise search\.budgetUsd above \$0\.5032\./)
  // No budget, no price or no call sizes: nothing to divide.
  assert.equal(estimateCampaign({ availableRecords: 1_000, tokens, price, config: config(1) }).budget, null)
  assert.equal(
    estimateCampaign({ availableRecords: 1_000, tokens, price: null, budgetCheck, config: config(1) }).budget,
    null,
  )
})

test('concurrent evaluations are checked against the budget one at a time: together they never pass it', async () => {
  const world = new SimWorld(scenario)
  const ports = memoryPorts(world, { seed: 'budget-race', budget: 50, train: 120, validation: 60 })
  const s = scenario.task.prompt
  // Six evaluations of 10 new items each, asked for at once, with 50 rollouts: five fit, one does not.
  const asks = Array.from({ length: 6 }, (_, i) =>
    evaluateWithin(ports, { ...s, system: `${s.system} Variant ${i}.` }, ports.trainIds.slice(0, 10)),
  )
  const settled = await Promise.allSettled(asks)
  assert.equal(settled.filter((r) => r.status === 'fulfilled').length, 5)
  const refused = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
  assert.equal(refused.length, 1)
  assert.ok(refused[0]?.reason instanceof Exhausted)
  assert.equal(
    settled.findIndex((r) => r.status === 'rejected'),
    5,
    'the last one asked for is the one refused',
  )
  assert.equal(ports.rollouts(), 50)
})

test(`beam works on its parents and on each stage’s children at once, and draws the \
same whatever finishes first`, async () => {
  const plain = await run('beam', 'beam-order', 900, 6)
  const shuffled = await run('beam', 'beam-order', 900, 6, Rng.fromSeed('finish-order'))
  const reshuffled = await run('beam', 'beam-order', 900, 6, Rng.fromSeed('another-finish-order'))
  const view = (p: typeof plain) =>
    p.pool.map((c) => [c.content.system, c.status, c.validationMean, c.operator, c.parentIds])
  assert.deepEqual(view(shuffled), view(plain))
  assert.deepEqual(view(reshuffled), view(plain))
  assert.equal(shuffled.rollouts(), plain.rollouts())
  assert.ok(plain.pool.length > 3, 'the rounds proposed children')
})
