import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  AgilityObjective,
  decideAgility,
  migrationDrop,
  migrationFinalist,
  nonInferiority,
  paretoFront,
  type PairMeasure,
} from '../../core/agility.js'
import { Rng } from '../../core/rng.js'
import { chooseModel, modelRound, unchangedOn } from '../../core/search/models.js'
import { runRound, STRATEGIES } from '../../core/search/strategies.js'
import { DEFAULT_STRATEGY_SETTINGS, type Candidate } from '../../core/search/types.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { withProduction } from '../helpers/model-search.js'
import { SimWorld } from '../../sim/world.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { join } from 'node:path'

/** n Bernoulli(p) scores drawn from a seeded stream. */
const bernoulli = (p: number, n: number, seed: string) => {
  const rng = Rng.fromSeed(seed)
  return Array.from({ length: n }, () => (rng.float() < p ? 1 : 0))
}
const pair = (
  id: string,
  model: string,
  scores: ReadonlyArray<number | null>,
  costPerRequest: number,
  latencyMs = 1000,
): PairMeasure => ({
  id,
  model,
  scores,
  costPerRequest,
  latencyMs,
})

test('objectives are validated with defaults from the schema and errors naming the field', () => {
  assert.deepEqual(AgilityObjective.parse({ kind: 'cheapest' }), { kind: 'cheapest', margin: 0.02 })
  const bad = AgilityObjective.safeParse({ kind: 'migrate', margin: 0.9 })
  assert.ok(!bad.success)
  const paths = bad.error.issues.map((i) => i.path.join('.'))
  assert.ok(paths.includes('margin') && paths.includes('toModel'), paths.join(', '))
})

test('the front keeps the pairs no other pair beats on quality, cost and latency at once', () => {
  const front = paretoFront([
    pair('a', 'big', [1, 1, 1, 0], 0.01, 2000),
    pair('b', 'mid', [1, 1, 0, 0], 0.001, 900),
    pair('c', 'mid', [1, 0, 0, 0], 0.002, 900), // worse than b everywhere
    pair('d', 'small', [1, 0, 0, 0], 0.0001, 400),
  ])
  assert.deepEqual(
    front.filter((p) => p.onFront).map((p) => p.id),
    ['a', 'b', 'd'],
  )
  const a = front.find((p) => p.id === 'a')!
  assert.equal(a.costPer1k, 10)
  assert.ok(a.qualityInterval[0] < 0.75 && a.qualityInterval[1] === 1)
})

test('non-inferiority: equal quality passes with a margin, a real drop does not', () => {
  const base = pair('p', 'big', bernoulli(0.75, 2000, 'base'), 0.01)
  // The same items answered equally well (a shuffled copy keeps the mean).
  const same = pair('s', 'small', bernoulli(0.75, 2000, 'other'), 0.001)
  assert.ok(nonInferiority(base, same, { margin: 0.05 }).significant)
  assert.ok(!nonInferiority(base, same, { margin: 0 }).significant)
  const worse = pair('w', 'small', bernoulli(0.6, 2000, 'worse'), 0.001)
  assert.ok(!nonInferiority(base, worse, { margin: 0.05 }).significant)
})

test('the migration drop: the unchanged prompt on the new model against production, and the share won back', () => {
  const production = pair('p', 'big', [1, 1, 1, 1, 0, 1, null, 1], 0.01)
  const unchanged = pair('u', 'small', [0, 1, 0, 1, 0, 0, 1, null], 0.001)
  const finalist = pair('f', 'small', [1, 1, 0, 1, 0, 1, 1, 1], 0.001)
  const d = migrationDrop(production, unchanged, finalist)
  // Paired on the six items both were scored on: production 5/6, unchanged 2/6.
  assert.equal(d.n, 6)
  assert.equal(d.productionQuality, 5 / 6)
  assert.equal(d.quality, 2 / 6)
  assert.ok(Math.abs(d.difference - -0.5) < 1e-12)
  assert.ok(d.interval[0] < -0.5 && d.interval[1] > -0.5 && d.interval[1] < 0, String(d.interval))
  // Over the same six items the finalist scores 4/6: (4 − 2) / (5 − 2) of the drop.
  assert.ok(Math.abs((d.recovered as number) - 2 / 3) < 1e-12)
  assert.deepEqual([d.id, d.model], ['u', 'small'])
  // No drop, nothing to win back; no finalist, no share.
  assert.equal(migrationDrop(production, production, finalist).recovered, null)
  assert.equal(migrationDrop(production, unchanged, null).recovered, null)
  assert.throws(() => migrationDrop(production, pair('x', 'small', [1], 0), null), RangeError)
})

test("a migration's unchanged arm: production's prompt moved to the model, not a transplant of another prompt", () => {
  const c = (id: string, model: string, operator: string, parentIds: string[], status = 'accepted') => ({
    id,
    model,
    operator,
    parentIds,
    status: status as 'seed' | 'accepted',
    content: { model },
  })
  const pool = [
    c('child', 'big', 'reflect', ['prod']),
    c('transplant', 'small', 'switch-model', ['child']),
    c('prod', 'big', 'seed', [], 'seed'),
    c('moved', 'small', 'switch-model', ['prod']),
  ]
  assert.equal(unchangedOn(pool, 'small')?.id, 'moved')
  assert.equal(unchangedOn(pool, 'tiny'), undefined)
  assert.equal(unchangedOn(pool.slice(0, 2), 'small'), undefined, 'no production, no unchanged arm')
})

test('α is divided among the finalists the objective could ship, not every finalist', () => {
  const production = pair('p', 'big', bernoulli(0.75, 400, 'alpha-prod'), 0.01)
  const cheap = pair('c', 'small', bernoulli(0.73, 400, 'alpha-cheap'), 0.001)
  const sameModel = pair('s', 'big', bernoulli(0.76, 400, 'alpha-same'), 0.01) // no cheaper: cannot ship
  const bound = (objective: unknown, finalists: PairMeasure[]) =>
    decideAgility(AgilityObjective.parse(objective), production, finalists, { seed: 'a' }).verdicts[0]!.lowerBound
  const cheapest = { kind: 'cheapest', margin: 0.05 }
  assert.equal(bound(cheapest, [cheap, sameModel]), bound(cheapest, [cheap]))
  // A finalist over the cost limit cannot ship either.
  const dear = pair('d', 'mid', bernoulli(0.8, 400, 'alpha-dear'), 0.005)
  const capped = { ...cheapest, maxCostPer1k: 2 }
  assert.equal(bound(capped, [cheap, dear]), bound(capped, [cheap]))
  const migrate = { kind: 'migrate', toModel: 'small', margin: 0.05 }
  assert.equal(bound(migrate, [cheap, dear]), bound(migrate, [cheap]))
  // Two that could ship: each is tested at α / 2, a lower bound further down.
  const cheap2 = pair('c2', 'tiny', bernoulli(0.7, 400, 'alpha-cheap2'), 0.0005)
  assert.ok(bound(cheapest, [cheap, cheap2])! < bound(cheapest, [cheap])!)
  assert.ok(bound({ kind: 'best-quality' }, [cheap, sameModel])! < bound({ kind: 'best-quality' }, [cheap])!)
})

test('the decision: cheapest non-inferior pair, migration within limits, best quality within a cost cap', () => {
  const n = 1500
  const prod = pair('prod', 'big', bernoulli(0.75, n, 'prod'), 0.01, 2000)
  const mid = pair('mid', 'mid', bernoulli(0.76, n, 'mid'), 0.001, 900)
  const small = pair('small', 'small', bernoulli(0.55, n, 'small'), 0.0002, 400)
  const cheapest = decideAgility({ kind: 'cheapest', margin: 0.05 }, prod, [mid, small], { resamples: 2000 })
  assert.equal(cheapest.ship, 'mid', cheapest.reason)
  assert.match(cheapest.reason, /cheapest non-inferior pair: mid/)
  const smallVerdict = cheapest.verdicts.find((v) => v.id === 'small')!
  assert.equal(smallVerdict.nonInferior, false)
  assert.match(smallVerdict.reasons.join(), /not shown non-inferior/)

  const migrateSmall = decideAgility({ kind: 'migrate', toModel: 'small', margin: 0.05 }, prod, [small])
  assert.equal(migrateSmall.ship, null)
  assert.match(migrateSmall.reason, /small does not qualify/)
  const capped = decideAgility({ kind: 'migrate', toModel: 'mid', margin: 0.05, maxLatencyMs: 500 }, prod, [mid])
  assert.equal(capped.ship, null)
  assert.match(capped.reason, /latency 900 ms, over the limit of 500 ms/)

  // Best quality under $5 per 1,000 requests: production ($10) breaks the cap, so non-inferior is enough.
  const best = decideAgility({ kind: 'best-quality', margin: 0.05, maxCostPer1k: 5 }, prod, [mid, small])
  assert.equal(best.ship, 'mid', best.reason)
  // Without a cap, mid must be significantly better than production, and it is not.
  assert.equal(decideAgility({ kind: 'best-quality', margin: 0.05 }, prod, [mid, small]).ship, null)
})

test('several finalists on the target model: the best that qualifies ships, α divided among them', () => {
  const n = 1000
  const prod = pair('prod', 'big', bernoulli(0.75, n, 'k-prod'), 0.01)
  const weak = pair('weak', 'small', bernoulli(0.6, n, 'k-weak'), 0.001)
  const good = pair('good', 'small', bernoulli(0.76, n, 'k-good'), 0.001)
  const fair = pair('fair', 'small', bernoulli(0.73, n, 'k-fair'), 0.001)
  const objective = AgilityObjective.parse({ kind: 'migrate', toModel: 'small', margin: 0.05 })
  const d = decideAgility(objective, prod, [weak, fair, good], { resamples: 2000 })
  assert.equal(d.ship, 'good', d.reason)
  assert.match(d.reason, /the best on the holdout of 3 finalists on it/)
  assert.equal(migrationFinalist(d, 'small'), 'good')
  // Each is tested at α / 3: the same finalist's bound is lower than when tested alone.
  const alone = decideAgility(objective, prod, [good], { resamples: 2000 })
  const bound = (x: typeof d, id: string) => x.verdicts.find((v) => v.id === id)!.lowerBound!
  assert.ok(bound(d, 'good') < bound(alone, 'good'))
  // None qualifies: nothing ships, and the reason is the best one's, the drop is reported with it.
  const none = decideAgility(objective, prod, [weak, pair('weak2', 'small', bernoulli(0.62, n, 'k-w2'), 0.001)])
  assert.equal(none.ship, null)
  assert.match(none.reason, /^small does not qualify: none of its 2 finalists does; the best on the holdout: not shown/)
  assert.equal(migrationFinalist(none, 'small'), 'weak2')
  assert.equal(migrationFinalist(none, 'mid'), null)
})

test('a model search gives each model production`s prompt first, then searches the chosen one', async () => {
  const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
  const world = new SimWorld(scenario)
  const { ports, production } = await withProduction(world, { seed: 'models', budget: 1500, validation: 40 })
  const models = [
    { model: 'sim-large', costPer1k: 10 },
    { model: 'sim-standard', costPer1k: 1 },
    { model: 'sim-small', costPer1k: 0.2 },
  ]
  const round = modelRound(STRATEGIES['gepa-best'], {
    models,
    objective: { kind: 'migrate', toModel: 'sim-small', margin: 0.05 },
  })
  const first = await runRound(round, ports.pool, DEFAULT_STRATEGY_SETTINGS, ports)
  // Migration: only the target model is tried, with production's prompt, parent production.
  const switched = ports.pool.filter((c) => c.operator === 'switch-model')
  assert.equal(first.proposals, 1)
  assert.deepEqual(
    switched.map((c) => [c.content.model, c.content.system, c.parentIds]),
    [['sim-small', production.system, ['prod']]],
  )
  for (let r = 0; r < 40; r++) {
    const o = await runRound(round, ports.pool, DEFAULT_STRATEGY_SETTINGS, ports)
    if (o.exhausted) break
  }
  // Every later candidate is on the target model, and the search rewords the JSON instruction sim-small ignores.
  assert.ok(ports.pool.filter((c) => c.id !== 'prod').every((c) => c.content.model === 'sim-small'))
  const best = ports.pool
    .filter((c) => c.content.model === 'sim-small' && c.validationMean !== null)
    .sort((a, b) => (b.estimate ?? b.validationMean!) - (a.estimate ?? a.validationMean!))[0] as Candidate
  assert.ok(world.parseClauses(best.content.system, 'sim-small').includes('json-only'), best.content.system)
  assert.ok(
    best.validationMean! > switched[0]!.validationMean! + 0.2,
    `${best.validationMean} vs ${switched[0]!.validationMean}`,
  )

  // Cheapest: the cheapest model whose optimistic score reaches production's is chosen.
  const pool: Candidate[] = [
    { ...ports.pool[0]!, validationMean: 0.7, estimate: 0.7 },
    {
      id: 's',
      content: { ...production, model: 'sim-small' },
      parentIds: ['prod'],
      operator: 'switch-model',
      status: 'accepted',
      validationMean: 0.2,
      estimate: 0.2,
    },
    {
      id: 'm',
      content: { ...production, model: 'sim-standard' },
      parentIds: ['prod'],
      operator: 'switch-model',
      status: 'accepted',
      validationMean: 0.62,
      estimate: 0.62,
    },
  ]
  // Each model is worked on once before scores choose: the cheapest model no round has touched first.
  const cheapest = { models, objective: { kind: 'cheapest', margin: 0.05 } } as const
  assert.equal(chooseModel(pool, pool[0]!, cheapest), 'sim-small')
  const worked = (model: string): Candidate => ({
    id: `w-${model}`,
    content: { ...production, model, system: `${production.system} Be brief.` },
    parentIds: ['prod'],
    operator: 'reflect',
    status: 'accepted',
    validationMean: 0.1,
    estimate: 0.1,
  })
  assert.equal(chooseModel([...pool, worked('sim-small')], pool[0]!, cheapest), 'sim-standard')
  pool.push(worked('sim-small'), worked('sim-standard'))
  // Then the cheapest model whose optimistic score reaches production's.
  assert.equal(chooseModel(pool, pool[0]!, { models, objective: { kind: 'cheapest', margin: 0.05 } }), 'sim-standard')
  // No cheaper model reaches it yet: the most promising cheaper one is searched, never production's
  // own model (which always reaches production's score, and where no cheaper pair can be found).
  const far = pool.map((c) => (c.id === 'm' ? { ...c, validationMean: 0.3, estimate: 0.3 } : c))
  assert.equal(chooseModel(far, far[0]!, { models, objective: { kind: 'cheapest', margin: 0.05 } }), 'sim-standard')
  const farther = far.map((c) => (c.id === 's' ? { ...c, validationMean: 0.45, estimate: 0.45 } : c))
  assert.equal(
    chooseModel(farther, farther[0]!, { models, objective: { kind: 'cheapest', margin: 0.05 } }),
    'sim-small',
  )
  assert.equal(
    chooseModel(pool, pool[0]!, { models, objective: { kind: 'best-quality', margin: 0.05, maxCostPer1k: 5 } }),
    'sim-standard',
  )
})
