/**
 * A reference for bench:agility's recovery goal: how much of the migration drop a learner that
 * knows more than any search can recovers from the same rollouts. Not a search strategy and not
 * Kaizen: it is given the scenario's clause library (every clause and both of its wordings, with
 * which wordings are the same clause), which a search must find through its proposer.
 *
 * For each migration of bench:agility (same worlds, production, tiers, 100 validation items and
 * exact objective), the learner spends the whole budget on a designed experiment: random sets of
 * as many clauses as the task allows, each in a random wording, each scored on `--items` random
 * validation items (sampled success, as the search sees it). It fits a logistic model of success
 * with an intercept per validation item and an effect per (clause, wording) — with `--clusters`,
 * per (input cluster, clause, wording), the cluster being known — and writes the best set the
 * model predicts. With `--sentences` it is not told which wordings are one clause: designs draw
 * sentences (so both wordings of a clause may be in one set) and the set it writes may hold both.
 * Nothing is validated and no holdout decision is taken: the set's exact quality
 * gives the share of the drop recovered, as bench:agility defines it. It also counts, among the
 * instances where a cheaper tier's exact optimum matches production (bench:agility's "a cheaper
 * tier can match production"), those where its set on a cheaper tier is within `--margin` of
 * production's exact quality: a bound on the found-cheaper rate from `--budget` rollouts a tier
 * (2,000 on each of the two cheaper tiers is bench:agility's pairs budget of 4,000), since no
 * holdout test stands in its way.
 *
 *   npx tsx bench/agility/designed.ts [--split test|dev --seeds 60 --budget 2000 --items 4
 *     --validation 100 --ridge 2 --margin 0.05 --clusters --sentences]
 */
import { parseArgs } from 'node:util'
import { Rng } from '../../core/rng.js'
import type { PromptContent } from '../../core/prompt.js'
import { failer, median, medianInterval, wholeNumberFlag } from '../lib/cli.js'
import { PROMPT_PREAMBLE } from '../search/optimum.js'
import { context, shipsCheaper } from './context.js'
import { fitLogistic, type Row } from '../../core/search/logistic.js'
import { DEV_INSTANCES, PRODUCTION_MODEL, TEST_INSTANCES, TIERS } from './families.js'

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'test' },
    seeds: { type: 'string', default: '60' },
    budget: { type: 'string', default: '2000' },
    items: { type: 'string', default: '4' },
    validation: { type: 'string', default: '100' },
    ridge: { type: 'string', default: '2' },
    margin: { type: 'string', default: '0.05' },
    clusters: { type: 'boolean', default: false },
    sentences: { type: 'boolean', default: false },
  },
})
const fail = failer('bench/agility/designed')
const int = wholeNumberFlag(fail)
if (values.split !== 'test' && values.split !== 'dev') fail('--split: use "test" or "dev"')
const instances = values.split === 'dev' ? DEV_INSTANCES : TEST_INSTANCES
const seeds = int('seeds', values.seeds, 1)
if (seeds > instances.length) fail(`--seeds: the ${values.split} split has ${instances.length} instances`)
const budget = int('budget', values.budget, 10)
const perDesign = int('items', values.items, 1)
const nValidation = int('validation', values.validation, 10)
const ridge = Number(values.ridge)
if (!(ridge > 0)) fail(`--ridge: use a positive number (got "${values.ridge}")`)
const margin = Number(values.margin)
if (!(margin >= 0 && margin < 0.5)) fail(`--margin: use a number from 0 to 0.5 (got "${values.margin}")`)

// bench:agility's splits: validation items for the designs, the holdout for the decision, test for exact quality.
const sizes = { train: 150, validation: nValidation, holdout: 1000, test: 1500 }
const recovered: number[] = []
// Instances where a cheaper tier's exact optimum matches production; those where the learner's set
// on some cheaper tier is within the margin of production (exact quality); and those where the
// cheapest objective's decision on the holdout ships such a pair.
const cheaper = { exists: 0, reached: 0, shipped: 0 }
const started = Date.now()
for (const instance of instances.slice(0, seeds)) {
  const ctx = context(instance, sizes)
  const { world, keys, instance: inst } = ctx
  const { scenario } = inst
  const validation = keys.validation
  const library = scenario.clauses.map((c) => c.id)
  const clusters = scenario.clusters.map((c) => c.id)
  const limit = scenario.task.maxClauses
  const pair = (system: string, model: string): PromptContent => ({ ...ctx.production, model, system })
  const production = ctx.quality(ctx.production)
  const line: string[] = []
  const learnedPairs: PromptContent[] = []
  let [exists, reached] = [false, false]
  for (const tier of TIERS.filter((t) => t !== PRODUCTION_MODEL)) {
    const best = ctx.optimum[tier] as number
    const swapped = ctx.quality(pair(ctx.production.system, tier))
    // A set of (clause, wording) as instruction text.
    const text = (set: ReadonlyArray<readonly [string, number]>) =>
      [
        PROMPT_PREAMBLE,
        ...set.map(([c, w]) => scenario.clauses.find((x) => x.id === c)?.paraphrases[w] as string),
      ].join(' ')
    const feature = (cluster: string, clause: string, wording: number) =>
      (values.clusters ? clusters.indexOf(cluster) * library.length * 2 : 0) + library.indexOf(clause) * 2 + wording
    const rng = Rng.fromSeed('bench-agility-designed', instance, tier)
    const rows: Row[] = []
    while (rows.length + perDesign <= budget) {
      const set = values.sentences
        ? rng.sample(
            library.flatMap((c) => [[c, 0] as const, [c, 1] as const]),
            limit,
          )
        : rng.sample(library, limit).map((c) => [c, rng.int(2)] as const)
      const t = text(set)
      for (const item of rng.sample([...validation.keys()], perDesign)) {
        const ex = world.example(validation[item] as string)
        const y = world.respond(t, ex, tier, 0).success ? 1 : 0
        rows.push({ item, features: set.map(([c, w]) => feature(ex.cluster, c, w)), y })
      }
    }
    const nFeatures = library.length * 2 * (values.clusters ? clusters.length : 1)
    const theta = fitLogistic(rows, validation.length, nFeatures, ridge)
    const itemClusters = validation.map((k) => world.example(k).cluster)
    // The model's predicted mean success over the validation items, for a set.
    const predicted = (set: ReadonlyArray<readonly [string, number]>) =>
      itemClusters.reduce((s, cluster, i) => {
        const z = set.reduce((x, [c, w]) => x + (theta[validation.length + feature(cluster, c, w)] as number), 0)
        return s + 1 / (1 + Math.exp(-((theta[i] as number) + z)))
      }, 0) / validation.length
    // Local search from production's clauses: replace one (clause, wording) while the prediction improves.
    let set: Array<readonly [string, number]> = inst.productionClauses.map((c) => [c, 0] as const)
    let score = predicted(set)
    for (let improved = true; improved;) {
      improved = false
      for (let a = 0; a < set.length && !improved; a++)
        for (const c of library)
          for (const w of [0, 1]) {
            // Told which wordings are one clause: one wording a clause; else any two sentences.
            if (improved || set.some(([x, y], j) => x === c && (y === w || !values.sentences) && j !== a)) continue
            const next = set.map((e, j) => (j === a ? ([c, w] as const) : e))
            const s = predicted(next)
            if (s > score + 1e-9) [set, score, improved] = [next, s, true]
          }
    }
    const learnedPair = pair(text(set), tier)
    learnedPairs.push(learnedPair)
    const learned = ctx.quality(learnedPair)
    const share = (learned - swapped) / (best - swapped)
    recovered.push(share)
    exists ||= best >= production
    reached ||= learned >= production - margin - 1e-9
    line.push(`${tier}: drop ${(production - swapped).toFixed(3)}, recovered ${Math.round(100 * share)} %`)
  }
  const found = shipsCheaper(ctx, learnedPairs, margin, `${instance}:cheapest`)
  if (exists) {
    cheaper.exists++
    cheaper.reached += reached ? 1 : 0
    cheaper.shipped += found ? 1 : 0
  }
  const said = exists
    ? `; a cheaper match ${reached ? 'reached' : 'not reached'}, ${found ? 'shipped' : 'not shipped'}`
    : ''
  console.log(`instance ${instance}: ${line.join('; ')}${said}`)
}
const ci = medianInterval(recovered)
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${Math.round(100 * x)} %`)
const variant = (values.clusters ? ', effects per cluster' : '') + (values.sentences ? ', wordings not paired' : '')
const setting =
  `${seeds} ${values.split} instances, ${recovered.length} migrations, budget ${budget} rollouts, ` +
  `${perDesign} of ${nValidation} validation items a design, ridge ${ridge}${variant}`
const interval = `95 % CI ${pct(ci?.[0])}–${pct(ci?.[1])}`
const matched =
  `of the ${cheaper.exists} instances where a cheaper tier can match production, a set within ${margin} of it ` +
  `in ${cheaper.reached}, shipped by the holdout decision in ${cheaper.shipped}`
console.log(
  `${setting}: recovered ${pct(median(recovered))} (${interval}); ${matched} ` +
    `(${((Date.now() - started) / 1000).toFixed(0)} s)`,
)
