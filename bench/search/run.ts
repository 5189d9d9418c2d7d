/**
 * bench:search — how many rollouts each search strategy needs to get near the best prompt, and
 * whether what it would ship is honest.
 *
 * Each scenario instance is a simulated world whose exact test accuracy is known for any prompt
 * (from probabilities, no sampling noise) and whose optimum is computed exactly (enumeration
 * where small, exact-objective multistart otherwise). Every strategy runs on the same instances
 * with the same budget; the prompt it would ship at any moment is its incumbent (the best-ranked
 * candidate: pooled estimate, or own validation mean with --select own); at the end the holdout gate (paired test
 * against the seed prompt) decides whether it ships at all.
 *
 *   npm run bench:search -- --scenario moderate --seeds 30 --budget 4000 [--strategies gepa,random] [--fidelity 0]
 *     [--split test|dev] [--select pooled|own] [--validation N] [--json]
 *
 * --select: rank candidates by pooled estimates (the default, as campaigns do) or by their own validation means.
 *
 * --scenario: a bundled family (moderate, hard).
 */
import { parseArgs } from 'node:util'
import { failer, mean, median, wholeNumberFlag } from '../lib/cli.js'
import { pairedTest } from '../../core/stats/paired.js'
import { ranked } from '../../core/search/common.js'
import { STRATEGIES, STRATEGY_NAMES, runRound, type StrategyName } from '../../core/search/strategies.js'
import { DEFAULT_STRATEGY_SETTINGS, rankScore, type Candidate, type StrategySettings } from '../../core/search/types.js'
import { SimWorld } from '../../sim/world.js'
import { DEV_INSTANCES, TEST_INSTANCES, familyScenario } from './families.js'
import { exactAccuracy, exactOptimum, exampleKeys } from './optimum.js'
import { memoryPorts } from '../../sim/memory-ports.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'moderate' },
    seeds: { type: 'string', default: '30' },
    budget: { type: 'string', default: '4000' },
    // fewshot is left out by default: the bundled families do not model demonstrations (their exact optimum is over
    // clauses).
    strategies: { type: 'string', default: STRATEGY_NAMES.filter((s) => s !== 'fewshot').join(',') },
    fidelity: { type: 'string' },
    split: { type: 'string', default: 'test' },
    validation: { type: 'string', default: '30' },
    holdout: { type: 'string', default: '300' },
    'test-size': { type: 'string', default: '1500' },
    proposals: { type: 'string', default: String(DEFAULT_STRATEGY_SETTINGS.proposals) },
    minibatch: { type: 'string', default: String(DEFAULT_STRATEGY_SETTINGS.minibatchSize) },
    'merge-every': { type: 'string', default: '0' },
    'beam-width': { type: 'string', default: String(DEFAULT_STRATEGY_SETTINGS.beamWidth) },
    select: { type: 'string', default: 'pooled' },
    json: { type: 'boolean', default: false },
  },
})

const fail = failer('bench:search')
const int = wholeNumberFlag(fail)
const family = values.scenario as 'moderate' | 'hard'
if (family !== 'moderate' && family !== 'hard')
  fail(`--scenario: use one of the bundled families "moderate" or "hard" (got "${values.scenario}")`)
const seeds = int('seeds', values.seeds, 1)
const budget = int('budget', values.budget, 50)
const strategies = (values.strategies ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean) as StrategyName[]
for (const s of strategies)
  if (!STRATEGY_NAMES.includes(s))
    fail(`--strategies: unknown strategy "${s}"; use some of ${STRATEGY_NAMES.join(', ')}`)
const fidelity = values.fidelity === undefined ? undefined : Number(values.fidelity)
if (fidelity !== undefined && !(fidelity >= 0 && fidelity <= 1))
  fail(`--fidelity: use a number from 0 to 1 (got "${values.fidelity}")`)
if (values.split !== 'test' && values.split !== 'dev')
  fail(`--split: use "test" (reporting seeds) or "dev" (tuning seeds)`)
const instances = (values.split === 'dev' ? DEV_INSTANCES : TEST_INSTANCES).slice(0, seeds)
if (instances.length < seeds) fail(`--seeds: the ${values.split} split has ${instances.length} instances`)
if (values.select !== 'pooled' && values.select !== 'own')
  fail(
    `--select: use "pooled" (rank by estimates pooled across candidates) or "own" (by each candidate's own ` +
      `validation mean)`,
  )
const settings: StrategySettings = {
  ...DEFAULT_STRATEGY_SETTINGS,
  pooled: values.select === 'pooled',
  proposals: int('proposals', values.proposals, 1),
  minibatchSize: int('minibatch', values.minibatch, 1),
  mergeEvery: int('merge-every', values['merge-every'], 0),
  beamWidth: int('beam-width', values['beam-width'], 1),
}
const sizes = {
  train: 150,
  validation: int('validation', values.validation, 10),
  holdout: int('holdout', values.holdout, 10),
  test: int('test-size', values['test-size'], 100),
}
const MARKS = [0.5, 0.8, 0.9] as const
const FIXED_BUDGETS = [500, 1000, 2000, 4000].filter((b) => b <= budget)

interface Run {
  reach: Record<(typeof MARKS)[number], number | null>
  gapAt: Record<number, number>
  finalGap: number
  shippedGap: number
  regression: boolean
  selectionGap: number
  overfitGap: number
  proposerCalls: number
  rollouts: number
  shipped: 'finalist' | 'seed'
}

function runOne(
  strategy: StrategyName,
  instance: number,
  world: SimWorld,
  seedAcc: number,
  optAcc: number,
  keys: Record<'train' | 'validation' | 'holdout' | 'test', string[]>,
): Promise<Run> {
  return (async () => {
    const accOf = (() => {
      const memo = new Map<string, number>()
      return (system: string): number => {
        const cached = memo.get(system)
        if (cached !== undefined) return cached
        const a = exactAccuracy(world, world.parseClauses(system), keys.test)
        memo.set(system, a)
        return a
      }
    })()
    const gap = (acc: number) => (optAcc - seedAcc > 1e-9 ? (acc - seedAcc) / (optAcc - seedAcc) : 1)
    const ports = memoryPorts(world, {
      seed: `bench-search:${instance}`,
      budget,
      trainIds: keys.train,
      validationIds: keys.validation,
    })
    const reach: Run['reach'] = { 0.5: null, 0.8: null, 0.9: null }
    const gapAt: Record<number, number> = {}
    let incumbentGap = 0
    const sample = () => {
      const inc = ranked(ports.pool)[0]
      incumbentGap = inc ? gap(accOf(inc.content.system)) : 0
      const r = ports.rollouts()
      for (const m of MARKS) if (reach[m] === null && incumbentGap >= m - 1e-9) reach[m] = r
      for (const b of FIXED_BUDGETS) if (r <= b) gapAt[b] = incumbentGap
    }
    ports.onEvaluate = sample
    const seed = world.scenario.task.prompt
    const validation = await ports.evaluate(seed, keys.validation)
    const seedCandidate: Candidate = {
      id: 'seed',
      content: seed,
      parentIds: [],
      operator: 'seed',
      status: 'seed',
      validationMean: validation.reduce((a, s) => a + (s.score ?? 0), 0) / validation.length,
    }
    ports.pool.push(seedCandidate)
    const round = STRATEGIES[strategy]
    let idle = 0
    for (let r = 0; r < 10_000; r++) {
      const outcome = await runRound(round, ports.pool, settings, ports)
      sample()
      if (outcome.exhausted || (await ports.rolloutsRemaining()) <= 0) break
      idle = outcome.proposals === 0 ? idle + 1 : 0
      if (idle >= 25) break // nothing left to propose
    }
    sample()
    for (const b of FIXED_BUDGETS) if (gapAt[b] === undefined) gapAt[b] = incumbentGap
    const finalist = ranked(ports.pool)[0] as Candidate
    // The holdout gate: finalist vs seed on fresh items, paired, one-sided α = 0.05.
    let shipped: Run['shipped'] = 'seed'
    if (finalist.content.system !== seed.system) {
      const hs = await ports.evaluate(seed, keys.holdout)
      const hf = await ports.evaluate(finalist.content, keys.holdout)
      const t = pairedTest(
        hs.map((s) => s.score ?? 0),
        hf.map((s) => s.score ?? 0),
        { alpha: 0.05, seed: `holdout:${instance}`, resamples: 4_000 },
      )
      if (t.significant) shipped = 'finalist'
    }
    const finalAcc = accOf(finalist.content.system)
    const shippedAcc = shipped === 'finalist' ? finalAcc : seedAcc
    const bestSeen = Math.max(
      ...ports.pool.filter((c) => c.validationMean !== null).map((c) => accOf(c.content.system)),
    )
    return {
      reach,
      gapAt,
      finalGap: gap(finalAcc),
      shippedGap: gap(shippedAcc),
      regression: shippedAcc < seedAcc - 1e-9,
      selectionGap: gap(bestSeen) - gap(finalAcc),
      overfitGap: (rankScore(finalist) ?? 0) - finalAcc,
      proposerCalls: ports.proposerCalls(),
      rollouts: ports.rollouts(),
      shipped,
    }
  })()
}

const log = (line: string) => process.stderr.write(`${line}\n`)
const started = performance.now()
const runs = new Map<StrategyName, Run[]>(strategies.map((s) => [s, []]))
const worlds: Array<{ instance: number; seedAcc: number; optAcc: number; method: string }> = []
for (const instance of instances) {
  const scenario = familyScenario(family, instance, fidelity === undefined ? {} : { fidelity })
  const world = new SimWorld(scenario)
  const keys = {
    train: exampleKeys(scenario, 'train', sizes.train),
    validation: exampleKeys(scenario, 'validation', sizes.validation),
    holdout: exampleKeys(scenario, 'holdout', sizes.holdout),
    test: exampleKeys(scenario, 'test', sizes.test),
  }
  const seedAcc = exactAccuracy(world, world.parseClauses(scenario.task.prompt.system), keys.test)
  const opt = exactOptimum(world, keys.test)
  worlds.push({ instance, seedAcc, optAcc: opt.accuracy, method: opt.method })
  for (const s of strategies) (runs.get(s) as Run[]).push(await runOne(s, instance, world, seedAcc, opt.accuracy, keys))
  if (!values.json)
    log(`instance ${instance}: seed ${seedAcc.toFixed(3)}, optimum ${opt.accuracy.toFixed(3)} (${opt.method})`)
}

const summary = strategies.map((name) => {
  const rs = runs.get(name) as Run[]
  const r = (m: (typeof MARKS)[number]) => {
    // Median over seeds; a seed that never got there counts as worse than any that did.
    const vals = rs.map((x) => x.reach[m] ?? Number.POSITIVE_INFINITY)
    const med = median(vals)
    return med === null || !Number.isFinite(med) ? null : med
  }
  const hit = (m: (typeof MARKS)[number]) => rs.filter((x) => x.reach[m] !== null).length / rs.length
  return {
    name,
    r50: r(0.5),
    r80: r(0.8),
    r90: r(0.9),
    hitRate50: hit(0.5),
    hitRate80: hit(0.8),
    hitRate90: hit(0.9),
    finalGap: mean(rs.map((x) => x.finalGap)),
    shippedGap: mean(rs.map((x) => x.shippedGap)),
    gapAtBudget: Object.fromEntries(FIXED_BUDGETS.map((b) => [b, mean(rs.map((x) => x.gapAt[b] as number))])),
    regressionRate: rs.filter((x) => x.regression).length / rs.length,
    shippedRate: rs.filter((x) => x.shipped === 'finalist').length / rs.length,
    selectionGap: mean(rs.map((x) => x.selectionGap)),
    overfitGap: mean(rs.map((x) => x.overfitGap)),
    proposerCalls: mean(rs.map((x) => x.proposerCalls)),
  }
})
const out = {
  scenario: family,
  split: values.split,
  seeds: instances.length,
  budget,
  fidelity: fidelity ?? 'scenario default',
  settings,
  sizes,
  seedAccuracy: mean(worlds.map((w) => w.seedAcc)),
  optimumAccuracy: mean(worlds.map((w) => w.optAcc)),
  optimumMethods: [...new Set(worlds.map((w) => w.method))],
  seconds: +((performance.now() - started) / 1000).toFixed(1),
  strategies: summary,
}
if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
else {
  const f = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d))
  log(
    `\n${family} family, ${instances.length} ${values.split} seeds, budget ${budget} rollouts, fidelity ` +
      `${out.fidelity}; seed accuracy ${f(out.seedAccuracy, 3)}, optimum ${f(out.optimumAccuracy, 3)}`,
  )
  log(
    'strategy      R@50   R@80   R@90   hit@80  final gap  shipped gap  regressions  selection gap  overfit ' +
      'gap  proposer calls',
  )
  for (const s of summary) {
    log(
      `${s.name.padEnd(12)} ${String(s.r50 ?? '>B').padStart(5)}  ${String(s.r80 ?? '>B').padStart(5)}  ` +
        `${String(s.r90 ?? '>B').padStart(5)}  ${f(s.hitRate80).padStart(6)}  ${f(s.finalGap).padStart(9)}  ` +
        `${f(s.shippedGap).padStart(11)}  ${f(s.regressionRate).padStart(11)}  ` +
        `${f(s.selectionGap).padStart(13)}  ${f(s.overfitGap, 3).padStart(11)}  ` +
        `${f(s.proposerCalls, 0).padStart(14)}`,
    )
  }
  log(`(${out.seconds} s)`)
}
