/**
 * A prototype, not a strategy of Kaizen: the designed experiment of bench/agility/designed.ts run as
 * a search would run it, on bench:agility's `cheapest` objective — inside the search's accounting
 * (memory ports: production's validation paid, every cache miss a rollout, the pairs budget shared by
 * the two cheaper tiers) and with the sentences a search has (those of production's prompt and of the
 * simulated proposer's blind edits along a random walk from it; proposer calls cost no rollouts),
 * rather than the clause library handed over.
 *
 * One thing stands in for a port that does not exist: which sentences give the same instruction is
 * read off the scenario's clause library (an oracle for a proposer that would group sentences by
 * instruction); sentences that state no clause stay in every prompt. With `--sentences`, each
 * sentence is its own instruction (what a search knows today).
 *
 * For each cheaper tier: harvest sentences, score random sets of instructions (one wording each, up to
 * the clause limit) on `--items` random validation items each until the tier's share of the budget is
 * spent, fit the logistic model (./logistic.ts), and take the set it predicts best (local search from
 * production's instructions). The two pairs go to bench:agility's holdout decision (`decideAgility`,
 * 1,000 items). Reports the share of each tier's drop recovered (exact quality, as bench:agility) and,
 * where a cheaper tier can match production, how often a pair within the margin is reached and shipped.
 *
 *   npx tsx bench/agility/design-search.ts [--split dev|test --seeds 60 --budget 4000 --harvest 300
 *     --items 4 --sentences]
 */
import { parseArgs } from 'node:util'
import type { PromptContent } from '../../core/prompt.js'
import { Rng } from '../../core/rng.js'
import { sentenceKey, sentences } from '../../core/search/edits.js'
import { memoryPorts } from '../../sim/memory-ports.js'
import { failer, median, medianInterval, wholeNumberFlag } from '../lib/cli.js'
import { context, shipsCheaper } from './context.js'
import { DEV_INSTANCES, PRODUCTION_MODEL, TEST_INSTANCES, TIERS } from './families.js'
import { fitLogistic, type Row } from '../../core/search/logistic.js'

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'dev' },
    seeds: { type: 'string', default: '60' },
    budget: { type: 'string', default: '4000' },
    harvest: { type: 'string', default: '300' },
    items: { type: 'string', default: '4' },
    sentences: { type: 'boolean', default: false },
  },
})
const fail = failer('bench/agility/design-search')
const int = wholeNumberFlag(fail)
if (values.split !== 'test' && values.split !== 'dev') fail('--split: use "test" or "dev"')
const pool = values.split === 'dev' ? DEV_INSTANCES : TEST_INSTANCES
const seeds = int('seeds', values.seeds, 1)
if (seeds > pool.length) fail(`--seeds: the ${values.split} split has ${pool.length} instances`)
const budget = int('budget', values.budget, 200)
const harvest = int('harvest', values.harvest, 0)
const perDesign = int('items', values.items, 1)
const RIDGE = 2
const MARGIN = 0.05
const sizes = { train: 150, validation: 100, holdout: 1000, test: 1500 }

type Choice = readonly [instruction: string, sentence: string]
const recovered: number[] = []
const coverage: number[] = []
const cheaper = { exists: 0, reached: 0, shipped: 0 }
const started = Date.now()
for (const instance of pool.slice(0, seeds)) {
  const ctx = context(instance, sizes)
  const { world } = ctx
  const validation = ctx.keys.validation
  const limit = ctx.instance.scenario.task.maxClauses
  const ports = memoryPorts(world, {
    seed: `bench-agility-design-search:${instance}`,
    budget,
    trainIds: ctx.keys.train,
    validationIds: validation,
  })
  await ports.evaluate(ctx.production, validation) // production's validation, as a search pays it
  const q0 = ctx.quality(ctx.production)
  const tiers = TIERS.filter((t) => t !== PRODUCTION_MODEL)
  const pairs: PromptContent[] = []
  let [exists, reached] = [false, false]
  for (const [done, tier] of tiers.entries()) {
    const root: PromptContent = { ...ctx.production, model: tier }
    const rng = Rng.fromSeed('bench-agility-design-search', instance, tier)
    // Sentences: the root's, and those of blind edits along a random walk from it (back to the root
    // every 10 steps; at the clause limit an edit of the root can only remove or reword).
    const found = new Map<string, string>()
    const add = (text: string) => {
      for (const s of sentences(text)) if (!found.has(sentenceKey(s))) found.set(sentenceKey(s), s)
    }
    add(root.system)
    let current = root
    for (let i = 0; i < harvest; i++) {
      if (i % 10 === 0) current = root
      const edit = await ports.mutate(current, rng)
      if (edit === null) continue
      add(edit.content.system)
      current = edit.content
    }
    // Instructions: the oracle's grouping (or one per sentence); sentences of no clause stay fixed.
    const groups = new Map<string, string[]>()
    const fixed: string[] = []
    for (const s of found.values()) {
      const clauses = world.parseClauses(s)
      const id = clauses.length === 0 ? undefined : values.sentences ? sentenceKey(s) : (clauses[0] as string)
      if (id === undefined) fixed.push(s)
      else groups.set(id, [...(groups.get(id) ?? []), s])
    }
    coverage.push([...groups.values()].flat().length / (ctx.instance.scenario.clauses.length * 2))
    const feature = new Map<string, number>()
    for (const [id, g] of groups) for (const s of g) feature.set(`${id}\u0000${s}`, feature.size)
    const featureOf = ([id, s]: Choice) => feature.get(`${id}\u0000${s}`) as number
    const text = (set: readonly Choice[]) => [...fixed, ...set.map(([, s]) => s)].join(' ')
    // Designs until this tier's share of the rollouts left is spent.
    const stop = ports.rollouts() + Math.floor((await ports.rolloutsRemaining()) / (tiers.length - done))
    const rows: Row[] = []
    const ids = [...groups.keys()]
    while (ports.rollouts() + perDesign <= stop) {
      const set = rng.sample(ids, Math.min(limit, ids.length)).map((id) => [id, rng.pick(groups.get(id)!)] as const)
      const items = rng.sample([...validation.keys()], perDesign)
      const scores = await ports.evaluate(
        { ...root, system: text(set) },
        items.map((i) => validation[i] as string),
      )
      items.forEach((item, j) => rows.push({ item, features: set.map(featureOf), y: scores[j]?.score ?? 0 }))
    }
    const theta = fitLogistic(rows, validation.length, feature.size, RIDGE)
    const predicted = (set: readonly Choice[]) => {
      const z = set.reduce((x, c) => x + (theta[validation.length + featureOf(c)] as number), 0)
      return validation.reduce((s, _, i) => s + 1 / (1 + Math.exp(-((theta[i] as number) + z))), 0) / validation.length
    }
    // Local search from the root's instructions: replace one while the prediction improves.
    let set: Choice[] = sentences(root.system).flatMap((s) => {
      const id = [...groups].find(([, g]) => g.includes(s))?.[0]
      return id === undefined ? [] : [[id, s] as const]
    })
    let score = predicted(set)
    for (let improved = true; improved;) {
      improved = false
      for (let a = 0; a < set.length && !improved; a++)
        for (const [id, g] of groups)
          for (const s of g) {
            if (improved || set.some(([x], j) => x === id && j !== a)) continue
            const next = set.map((e, j) => (j === a ? ([id, s] as const) : e))
            const p = predicted(next)
            if (p > score + 1e-9) [set, score, improved] = [next, p, true]
          }
    }
    const pair: PromptContent = { ...root, system: text(set) }
    pairs.push(pair)
    const [q, swapped, best] = [ctx.quality(pair), ctx.quality(root), ctx.optimum[tier] as number]
    recovered.push((q - swapped) / (best - swapped))
    exists ||= best >= q0
    reached ||= q >= q0 - MARGIN - 1e-9
  }
  const ok = shipsCheaper(ctx, pairs, MARGIN, `${instance}:cheapest`)
  if (exists) {
    cheaper.exists++
    if (reached) cheaper.reached++
    if (ok) cheaper.shipped++
  }
  const said = exists ? `a cheaper match ${reached ? 'reached' : 'not reached'}, ${ok ? 'shipped' : 'not shipped'}` : ''
  console.log(`instance ${instance}: ${ports.rollouts()} rollouts; ${said || 'no cheaper match'}`)
}
const ci = medianInterval(recovered)
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${Math.round(100 * x)} %`)
console.log(
  `${seeds} ${values.split} instances, pairs budget ${budget}, harvest ${harvest} edits a tier, ${perDesign} items ` +
    `a design${values.sentences ? ', each sentence its own instruction' : ''}: recovered ${pct(median(recovered))} ` +
    `(95 % CI ${pct(ci?.[0])}–${pct(ci?.[1])}), sentences found ${pct(median(coverage))} of the library; of the ` +
    `${cheaper.exists} instances where a cheaper tier can match production, within ${MARGIN} in ${cheaper.reached}, ` +
    `shipped in ${cheaper.shipped} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
)
