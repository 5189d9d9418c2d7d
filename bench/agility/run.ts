/**
 * bench:agility — switching models without losing quality (issue 17).
 *
 * Each instance is a simulated world with three model tiers that respond to clauses in their own
 * ways (./families.ts); the exact quality of any (model, prompt) pair is known (mean success
 * probability over 1,500 test examples, no sampling noise) and so is each tier's exact optimum.
 * Production is the strong tier with its optimum prompt. For each instance the run measures:
 *
 * - **migration** to each cheaper tier (`migrate` objective, budget --budget): the drop (old prompt
 *   on the new tier vs the old pair, exact), the share of it recovered by the finalist
 *   ((finalist − old prompt on new tier) / (new tier's optimum − old prompt on new tier)), and
 *   whether the decision rule ships it;
 * - **cheapest within the margin** over all three tiers (`cheapest` objective, budget
 *   --pairs-budget): whether a cheaper pair that matches production exists (a cheaper tier's exact
 *   optimum ≥ production's quality), whether one is found and shipped (exact quality ≥ production −
 *   margin), and the cost per request saved;
 * - **regressions**: a shipped pair whose exact quality is below production's by more than the margin.
 *
 * Baselines on the same instances and holdout items: swap the model only (production's prompt on the
 * new tier), re-optimize on the old model only (then move that prompt), random search over pairs.
 * A last row, `exact-optimum` (JSON `ceiling`), puts each tier's exact optimum prompt through the same
 * holdout decision: what a perfect search would reach, so what the decision's power alone costs.
 *
 *   npm run bench:agility [-- --seeds 20 (up to 60) --split test|dev --budget 2000 --pairs-budget 4000
 *     --margin 0.05 --holdout 1000 --validation 100 --strategy pooled-local --minibatch 8
 *     --finalists 1 --only migrate|cheapest --json]
 *
 * --finalists k is the campaign setting `search.finalistsPerModel`: each search's k best-ranked
 * candidates per model go to the holdout (Kaizen's and random search's), α divided among them all,
 * and a migration reports the target's finalist that ships, or else the best of them there.
 *
 * The median recovered share comes with its distribution-free 95 % interval (order statistics) and
 * the found-cheaper rate with Wilson's: with 40 migrations the median's interval spans about ±10
 * points, so two settings whose medians differ by less are not told apart (--seeds 60 narrows it).
 *
 * AGILITY_DEBUG=1 also prints, per migration and per tier of the cheapest search, the best pair the
 * search validated against the finalist it ranks first (search vs selection), each with the
 * validation items it was scored on, its pooled estimate and its exact quality; AGILITY_DEBUG=2 adds
 * the eight candidates ranked first (exact share recovered, pooled estimate) and the rank of the
 * best one; AGILITY_DEBUG=3 instead compares the finalist's clauses (as the target tier reads them)
 * with the tier's exact optimum: each clause it lacks or has in excess, with the exact change of
 * quality from adding or removing that clause alone, and the clauses it holds only in a wording the
 * tier ignores.
 */
import { parseArgs } from 'node:util'
import { failer, mean, median, medianInterval, wholeNumberFlag, wilsonInterval } from '../lib/cli.js'
import { decideAgility, migrationFinalist, type AgilityObjective, type PairMeasure } from '../../core/agility.js'
import type { PromptContent } from '../../core/prompt.js'
import { ranked } from '../../core/search/common.js'
import { randomSearchRound } from '../../core/search/baselines.js'
import { leadersOf, modelRound } from '../../core/search/models.js'
import { POOLED_LOCAL_MODEL } from '../../core/search/pooled-local.js'
import { STRATEGIES, runRound } from '../../core/search/strategies.js'
import { DEFAULT_STRATEGY_SETTINGS, type Candidate, type StrategyRound } from '../../core/search/types.js'
import { memoryPorts } from '../../sim/memory-ports.js'
import { context as instanceContext, measure, type Ctx } from './context.js'
import { DEV_INSTANCES, PRODUCTION_MODEL, TEST_INSTANCES, TIERS } from './families.js'

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    split: { type: 'string', default: 'test' },
    budget: { type: 'string', default: '2000' },
    'pairs-budget': { type: 'string', default: '4000' },
    margin: { type: 'string', default: '0.05' },
    holdout: { type: 'string', default: '1000' },
    validation: { type: 'string', default: '100' },
    strategy: { type: 'string', default: 'pooled-local' },
    minibatch: { type: 'string' },
    proposals: { type: 'string', default: String(DEFAULT_STRATEGY_SETTINGS.proposals) },
    finalists: { type: 'string', default: '1' },
    only: { type: 'string', default: 'both' },
    json: { type: 'boolean', default: false },
  },
})

const fail = failer('bench:agility')
const int = wholeNumberFlag(fail)
if (values.split !== 'test' && values.split !== 'dev') fail('--split: use "test" (reporting seeds) or "dev" (tuning)')
if (!['both', 'migrate', 'cheapest'].includes(values.only as string))
  fail('--only: migrate (the migrations), cheapest (the search over all tiers) or both (default)')
const pool = values.split === 'dev' ? DEV_INSTANCES : TEST_INSTANCES
const seeds = int('seeds', values.seeds, 1)
if (seeds > pool.length) fail(`--seeds: the ${values.split} split has ${pool.length} instances`)
const instances = pool.slice(0, seeds)
const budget = int('budget', values.budget, 100)
const pairsBudget = int('pairs-budget', values['pairs-budget'], 100)
const perModel = int('finalists', values.finalists, 1)
if (perModel > 5) fail('--finalists: at most 5 per model (the campaign setting search.finalistsPerModel)')
const margin = Number(values.margin)
if (!(margin >= 0 && margin < 0.5)) fail(`--margin: use a number from 0 to 0.5 (got "${values.margin}")`)
const strategyName = values.strategy as keyof typeof STRATEGIES
if (!(strategyName in STRATEGIES)) fail(`--strategy: use one of ${Object.keys(STRATEGIES).join(', ')}`)
const sizes = {
  train: 150,
  validation: int('validation', values.validation, 10),
  holdout: int('holdout', values.holdout, 50),
  test: 1500,
}
// Items per proposal: pooled-local scores every proposal on 8 validation items; GEPA screens on 3
// training items (the settings each was tuned with on the dev seeds).
const pooledLocal = strategyName === 'pooled-local'
const settings = {
  ...DEFAULT_STRATEGY_SETTINGS,
  minibatchSize: int('minibatch', values.minibatch ?? (pooledLocal ? '8' : '3'), 1),
  proposals: int('proposals', values.proposals, 1),
  ...(pooledLocal ? POOLED_LOCAL_MODEL : {}),
}

/** AGILITY_DEBUG: how many validation items each candidate of the last searches was scored on. */
const scoredItems = new Map<Candidate, number>()
/** Run a search until its budget is spent; returns the pool. */
async function search(ctx: Ctx, round: StrategyRound, seed: string, rollouts: number): Promise<Candidate[]> {
  const ports = memoryPorts(ctx.world, {
    seed,
    budget: rollouts,
    trainIds: ctx.keys.train,
    validationIds: ctx.keys.validation,
  })
  const validation = await ports.evaluate(ctx.production, ctx.keys.validation)
  ports.pool.push({
    id: 'production',
    content: ctx.production,
    parentIds: [],
    operator: 'seed',
    status: 'seed',
    validationMean: validation.reduce((a, s) => a + (s.score ?? 0), 0) / validation.length,
  })
  let idle = 0
  for (let r = 0; r < 10_000; r++) {
    const outcome = await runRound(round, ports.pool, settings, ports)
    if (outcome.exhausted || (await ports.rolloutsRemaining()) <= 0) break
    idle = outcome.proposals === 0 ? idle + 1 : 0
    if (idle >= 25) break
  }
  if (process.env.AGILITY_DEBUG)
    for (const c of ports.pool)
      scoredItems.set(c, ctx.keys.validation.length - (await ports.uncachedCount(c.content, ctx.keys.validation)))
  return ports.pool
}

/** What the holdout said of a shipped pair: its mean against production's and the bound the test passed. */
function holdoutSaid(d: ReturnType<typeof decideAgility>, production: PairMeasure): string {
  const v = d.verdicts.find((x) => x.id === d.ship)
  const prod = mean(production.scores.map((s) => s ?? 0)) ?? 0
  return `${v?.quality.toFixed(4)} vs ${prod.toFixed(4)}, lower bound of the difference ${v?.lowerBound?.toFixed(4)}`
}

const bestOn = (pool: readonly Candidate[], model: string) => leadersOf(pool, [model])[0]
/** A search's finalists on a model: its --finalists best-ranked candidates there. */
const finalistsOn = (pool: readonly Candidate[], model: string) =>
  leadersOf(pool, [model], perModel).map((c) => c.content)

/** Random search over pairs: each round a model drawn at random, blind edits of production's prompt on it. */
function randomPairs(models: readonly string[]): StrategyRound {
  return async (pool, s, ports) => {
    const model = models[ports.rng.int(models.length)] as string
    const prod = pool.find((c) => c.status === 'seed') as Candidate
    const own = pool.filter((c) => c.content.model === model && c !== prod)
    const root: Candidate =
      model === prod.content.model ? prod : { ...prod, id: `root-${model}`, content: { ...prod.content, model } }
    const sub = [root, ...own]
    const before = sub.length
    const out = await randomSearchRound(sub, s, ports)
    pool.push(...sub.slice(before))
    return out
  }
}

type Method = 'kaizen' | 'swap-only' | 'reoptimize-old' | 'random-pairs' | 'exact-optimum'
/**
 * The last is not a baseline but the ceiling: each tier's exact optimum prompt (known only to the
 * benchmark) put through the same holdout decision, so a perfect search. What it misses, the holdout
 * test's power misses (1,000 sampled items, α shared among the finalists, the margin).
 */
const METHODS: Method[] = ['kaizen', 'swap-only', 'reoptimize-old', 'random-pairs', 'exact-optimum']
const BASELINES: Method[] = ['swap-only', 'reoptimize-old', 'random-pairs']

interface Migration {
  instance: number
  target: string
  drop: number
  recovered: number
  shipped: boolean
  regression: boolean
}
interface Cheapest {
  instance: number
  exists: boolean
  found: boolean
  shippedModel: string | null
  costCut: number
  regression: boolean
}
const results = new Map<Method, { migrations: Migration[]; cheapest: Cheapest[] }>(
  METHODS.map((m) => [m, { migrations: [], cheapest: [] }]),
)
const log = (line: string) => process.stderr.write(`${line}\n`)
const started = performance.now()
const inner = STRATEGIES[strategyName]
const worlds: Array<{
  instance: number
  production: number
  optimum: Record<string, number>
  costPer1k: Record<string, number>
}> = []

/** One line per instance (not with --json): Kaizen's migrations and, unless --only migrate, its cheapest pair. */
function logInstance(instance: number, ctx: Ctx, q0: number): void {
  if (values.json) return
  const k = results.get('kaizen')!
  const mig = k.migrations.filter((m) => m.instance === instance)
  const ch = values.only === 'migrate' ? null : (k.cheapest.at(-1) as Cheapest)
  log(
    `instance ${instance}: production ${q0.toFixed(3)}, optima ` +
      `${TIERS.map((t) => `${t} ${(ctx.optimum[t] as number).toFixed(3)}`).join(', ')}; ` +
      mig
        .map(
          (m) =>
            `${m.target}: drop ${m.drop.toFixed(3)}, recovered ${(100 * m.recovered).toFixed(0)} %` +
            (m.shipped ? ', shipped' : ''),
        )
        .join('; ') +
      (ch
        ? `; cheapest: ${ch.shippedModel ?? 'none'}${ch.exists ? ' (a cheaper match exists)' : ''}, ` +
          `cost cut ${(100 * ch.costCut).toFixed(0)} %`
        : ''),
  )
}

for (const instance of instances) {
  const ctx = instanceContext(instance, sizes)
  const q0 = ctx.quality(ctx.production)
  const prodMeasure = measure(ctx, ctx.production, 'production')
  worlds.push({
    instance,
    production: q0,
    optimum: ctx.optimum,
    costPer1k: Object.fromEntries(ctx.models.map((m) => [m.model, m.costPer1k])),
  })
  // A shared old-model re-optimization for the reoptimize-old baseline.
  const oldPool = await search(ctx, inner, `agility-old:${instance}`, budget)
  const oldBest = bestOn(oldPool, PRODUCTION_MODEL) as Candidate

  for (const target of TIERS.filter((t) => t !== PRODUCTION_MODEL && values.only !== 'cheapest')) {
    const objective: AgilityObjective = { kind: 'migrate', toModel: target, margin }
    const swapped = { ...ctx.production, model: target }
    const base = ctx.quality(swapped)
    const denom = ctx.optimum[target] as number
    const recovered = (q: number) => (denom - base > 1e-9 ? (q - base) / (denom - base) : 1)
    const kaizenPool = await search(
      ctx,
      modelRound(inner, { models: ctx.models, objective }),
      `agility-mig:${instance}:${target}`,
      budget,
    )
    const rndPool = await search(ctx, randomPairs([target]), `agility-rnd:${instance}:${target}`, budget)
    const rnd = finalistsOn(rndPool, target)
    const finalists: Record<Method, PromptContent[]> = {
      kaizen: finalistsOn(kaizenPool, target),
      'swap-only': [swapped],
      'reoptimize-old': [{ ...oldBest.content, model: target }],
      'random-pairs': rnd.length > 0 ? rnd : [swapped],
      'exact-optimum': [ctx.optimumPrompt(target)],
    }
    if (process.env.AGILITY_DEBUG) {
      const own = kaizenPool.filter((c) => c.content.model === target && c.validationMean !== null)
      const bestSeen = Math.max(...own.map((c) => ctx.quality(c.content)))
      const best = own.find((c) => ctx.quality(c.content) === bestSeen) as Candidate
      const finalist = ranked(own)[0] as Candidate
      // Each with the validation items it was scored on, its estimate and its exact quality.
      const about = (c: Candidate) =>
        `${scoredItems.get(c)} items, estimate ${c.estimate?.toFixed(3)}, exact ${ctx.quality(c.content).toFixed(3)}`
      log(
        `  ${target}: ${own.length} validated, best seen ${recovered(bestSeen).toFixed(2)}, ` +
          `finalist ${recovered(ctx.quality(finalist.content)).toFixed(2)}; best seen: ranked ` +
          `${ranked(own).indexOf(best)}, ${about(best)}; finalist: ${about(finalist)}`,
      )
      if (process.env.AGILITY_DEBUG === '3') {
        // The finalist's clauses against the optimum's, each difference with what moving it alone is worth.
        const has = ctx.world.parseClauses(finalist.content.system, target)
        const opt = ctx.optimumClauses[target] as string[]
        const qf = ctx.qualityOf(has, target)
        const moves = [
          ...opt.filter((c) => !has.includes(c)).map((c) => ({ c: `+${c}`, set: [...has, c] })),
          ...has.filter((c) => !opt.includes(c)).map((c) => ({ c: `-${c}`, set: has.filter((x) => x !== c) })),
        ].map((m) => `${m.c} ${(ctx.qualityOf(m.set, target) - qf).toFixed(3)}`)
        const reworded = ctx.world.parseClauses(finalist.content.system).filter((c) => !has.includes(c))
        log(
          `    clauses: finalist ${has.length} (${qf.toFixed(3)}), optimum ${opt.length}; ${moves.join(', ')}` +
            `${reworded.length ? `; ignored wordings: ${reworded.join(', ')}` : ''}`,
        )
      }
      if (process.env.AGILITY_DEBUG === '2') {
        const order = ranked(kaizenPool.filter((c) => c.content.model === target))
        const trueOrder = [...order].sort((a, b) => ctx.quality(b.content) - ctx.quality(a.content))
        log(
          `    top by estimate: ${order
            .slice(0, 8)
            .map((c) => `${recovered(ctx.quality(c.content)).toFixed(2)}(${c.estimate?.toFixed(3)})`)
            .join(' ')}; best's rank ${order.indexOf(trueOrder[0] as Candidate)}, ` +
            `drop ${(q0 - base).toFixed(3)} range ${(denom - base).toFixed(3)}`,
        )
      }
    }
    for (const method of METHODS) {
      const fs = finalists[method]
      const measures = fs.map((f, i) => measure(ctx, f, i === 0 ? `${method}:${target}` : `${method}:${target}:${i}`))
      const d = decideAgility(objective, prodMeasure, measures, {
        seed: `${instance}:${target}`,
        resamples: 4000,
      })
      const q = ctx.quality(fs[measures.findIndex((m) => m.id === migrationFinalist(d, target))] as PromptContent)
      if (process.env.AGILITY_DEBUG && d.ship !== null && q < q0 - margin - 1e-9)
        log(
          `  regression: ${method} to ${target} shipped at ${q.toFixed(4)} vs production ${q0.toFixed(4)}; ` +
            `holdout: ${holdoutSaid(d, prodMeasure)}`,
        )
      results.get(method)!.migrations.push({
        instance,
        target,
        drop: q0 - base,
        recovered: recovered(q),
        shipped: d.ship !== null,
        regression: d.ship !== null && q < q0 - margin - 1e-9,
      })
    }
  }

  // Cheapest within the margin, over every tier.
  if (values.only === 'migrate') {
    logInstance(instance, ctx, q0)
    continue
  }
  const objective: AgilityObjective = { kind: 'cheapest', margin }
  const cheaperTiers = TIERS.filter((t) => t !== PRODUCTION_MODEL)
  const exists = cheaperTiers.some((t) => (ctx.optimum[t] as number) >= q0)
  const kaizenPool = await search(
    ctx,
    modelRound(inner, { models: ctx.models, objective }),
    `agility-pairs:${instance}`,
    pairsBudget,
  )
  const rndPool = await search(ctx, randomPairs([...TIERS]), `agility-pairs-rnd:${instance}`, pairsBudget)
  const finalistSets: Record<Method, PromptContent[]> = {
    kaizen: TIERS.flatMap((t) => finalistsOn(kaizenPool, t)),
    'swap-only': cheaperTiers.map((t) => ({ ...ctx.production, model: t })),
    'reoptimize-old': TIERS.map((t) => ({ ...oldBest.content, model: t })),
    'random-pairs': TIERS.flatMap((t) => finalistsOn(rndPool, t)),
    'exact-optimum': TIERS.map((t) => ctx.optimumPrompt(t)),
  }
  if (process.env.AGILITY_DEBUG) {
    for (const t of TIERS) {
      const own = kaizenPool.filter((c) => c.content.model === t && c.validationMean !== null)
      const fin = bestOn(kaizenPool, t)
      log(
        `  cheapest ${t}: q0 ${q0.toFixed(3)}, opt ${(ctx.optimum[t] as number).toFixed(3)}, ` +
          `${own.length} validated, ` +
          `best seen ${Math.max(...own.map((c) => ctx.quality(c.content))).toFixed(3)}, ` +
          `finalist ${fin ? ctx.quality(fin.content).toFixed(3) : '-'} (est ${fin?.estimate?.toFixed(3)})`,
      )
    }
  }
  for (const method of METHODS) {
    const fs = finalistSets[method].filter(
      (f) => !(f.model === ctx.production.model && f.system === ctx.production.system),
    )
    const measures = fs.map((f, i) => measure(ctx, f, `${method}:${i}`))
    const d = decideAgility(objective, prodMeasure, measures, { seed: `${instance}:cheapest`, resamples: 4000 })
    const shipped = d.ship === null ? null : (fs[measures.findIndex((m) => m.id === d.ship)] as PromptContent)
    const q = shipped ? ctx.quality(shipped) : q0
    const cheaper = shipped !== null && shipped.model !== PRODUCTION_MODEL
    if (process.env.AGILITY_DEBUG && shipped !== null && q < q0 - margin - 1e-9)
      log(
        `  regression: ${method} (cheapest) shipped ${shipped.model} at ${q.toFixed(4)} vs ${q0.toFixed(4)}; ` +
          `holdout: ${holdoutSaid(d, prodMeasure)}`,
      )
    results.get(method)!.cheapest.push({
      instance,
      exists,
      found: cheaper && q >= q0 - margin - 1e-9,
      shippedModel: shipped?.model ?? null,
      costCut: shipped ? (ctx.cost(ctx.production) - ctx.cost(shipped)) / ctx.cost(ctx.production) : 0,
      regression: shipped !== null && q < q0 - margin - 1e-9,
    })
  }
  logInstance(instance, ctx, q0)
}

const summarize = (method: Method) => {
  const r = results.get(method)!
  const withMatch = r.cheapest.filter((c) => c.exists)
  const found = withMatch.filter((c) => c.found).length
  const all = [...r.migrations.map((m) => m.regression), ...r.cheapest.map((c) => c.regression)]
  return {
    method,
    dropMedian: median(r.migrations.map((m) => m.drop)),
    recoveredMedian: median(r.migrations.map((m) => m.recovered)),
    recoveredInterval: medianInterval(r.migrations.map((m) => m.recovered)),
    migrationsShippedRate: mean(r.migrations.map((m) => (m.shipped ? 1 : 0))),
    costCutMedian: median(withMatch.map((c) => c.costCut)),
    foundCheaperRate: withMatch.length === 0 ? null : found / withMatch.length,
    foundCheaperInterval: wilsonInterval(found, withMatch.length),
    regressionRate: all.filter(Boolean).length / all.length,
  }
}
const kaizen = summarize('kaizen')
const out = {
  split: values.split,
  instances: instances.length,
  budget,
  pairsBudget,
  finalistsPerModel: perModel,
  margin,
  sizes,
  strategy: strategyName,
  withCheaperMatch: results.get('kaizen')!.cheapest.filter((c) => c.exists).length,
  dropMedian: kaizen.dropMedian,
  recoveredMedian: kaizen.recoveredMedian,
  recoveredInterval: kaizen.recoveredInterval,
  migrationsShippedRate: kaizen.migrationsShippedRate,
  costCutMedian: kaizen.costCutMedian,
  foundCheaperRate: kaizen.foundCheaperRate,
  foundCheaperInterval: kaizen.foundCheaperInterval,
  regressionRate: kaizen.regressionRate,
  baselines: BASELINES.map(summarize),
  /** The same decision on each tier's exact optimum: what a perfect search would reach. */
  ceiling: summarize('exact-optimum'),
  worlds,
  seconds: +((performance.now() - started) / 1000).toFixed(1),
}
if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
else {
  const f = (x: number | null, pct = false) => (x === null ? '—' : pct ? `${(100 * x).toFixed(0)} %` : x.toFixed(3))
  log(
    `\n${out.instances} ${out.split} instances, migration budget ${budget}, pairs budget ${pairsBudget}, margin ` +
      `${margin}, holdout ${sizes.holdout}, finalists per model ${perModel}; a cheaper tier can match production ` +
      `in ${out.withCheaperMatch}`,
  )
  const within = (x: number | null, i: [number, number] | null) =>
    `${f(x, true)}${i ? ` (${(100 * i[0]).toFixed(0)}–${(100 * i[1]).toFixed(0)})` : ''}`
  log('method          drop  recovered (95 % CI)  migrations shipped  found cheaper (95 % CI)  cost cut  regressions')
  for (const s of [kaizen, ...out.baselines, out.ceiling])
    log(
      `${s.method.padEnd(14)} ${f(s.dropMedian)}  ${within(s.recoveredMedian, s.recoveredInterval).padStart(19)}  ` +
        `${f(s.migrationsShippedRate, true).padStart(18)}  ` +
        `${within(s.foundCheaperRate, s.foundCheaperInterval).padStart(23)}  ` +
        `${f(s.costCutMedian, true).padStart(8)}  ${f(s.regressionRate, true).padStart(11)}`,
    )
  log(`(${out.seconds} s)`)
}
