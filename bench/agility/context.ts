/**
 * One bench:agility instance as its scripts see it (run.ts, designed.ts): the world,
 * the example keys of each split, production, exact quality and cost of a pair, each tier's exact
 * optimum, a pair's sampled scores on the holdout (what a campaign's decision observes), and whether
 * the `cheapest` objective's decision ships one of some pairs within the margin.
 */
import { decideAgility, type PairMeasure } from '../../core/agility.js'
import { renderMessages, type PromptContent } from '../../core/prompt.js'
import type { ModelChoice } from '../../core/search/models.js'
import { SimWorld } from '../../sim/world.js'
import { exactOptimum, exampleKeys, promptFor } from '../search/optimum.js'
import { TIERS, agilityInstance, tierView, type AgilityInstance } from './families.js'

/** How many example keys each split draws. */
export interface SplitSizes {
  train: number
  validation: number
  holdout: number
  test: number
}

export interface Ctx {
  /** The drawn instance: its scenario (clause library, tiers), production's clauses and text. */
  instance: AgilityInstance
  world: SimWorld
  keys: Record<'train' | 'validation' | 'holdout' | 'test', string[]>
  production: PromptContent
  quality(c: PromptContent): number
  optimum: Record<string, number>
  /** AGILITY_DEBUG=3: each tier's optimum clauses and the exact quality of a clause set on a tier. */
  optimumClauses: Record<string, string[]>
  qualityOf(clauses: readonly string[], model: string): number
  /** A tier's exact optimum prompt. */
  optimumPrompt(model: string): PromptContent
  cost(c: PromptContent): number
  models: ModelChoice[]
}

export function context(instance: number, sizes: SplitSizes): Ctx {
  const keys = {
    train: exampleKeys({} as never, 'train', sizes.train),
    validation: exampleKeys({} as never, 'validation', sizes.validation),
    holdout: exampleKeys({} as never, 'holdout', sizes.holdout),
    test: exampleKeys({} as never, 'test', sizes.test),
  }
  const inst = agilityInstance(instance, keys.test)
  const world = inst.world
  const memo = new Map<string, number>()
  const quality = (c: PromptContent) => {
    const k = `${c.model}\u0000${c.system}`
    let q = memo.get(k)
    if (q === undefined) {
      const clauses = world.parseClauses(c.system, c.model)
      q =
        keys.test.reduce((a, key) => a + world.probability(world.example(key), clauses, c.model), 0) / keys.test.length
      memo.set(k, q)
    }
    return q
  }
  const costMemo = new Map<string, number>()
  const cost = (c: PromptContent) => {
    const k = `${c.model}\u0000${c.system}`
    let v = costMemo.get(k)
    if (v === undefined) {
      const price = world.model(c.model).price
      let sum = 0
      const sample = keys.holdout.slice(0, 100)
      for (const key of sample) {
        const ex = world.example(key)
        const text = renderMessages(c, ex.input)
          .map((m) => m.content)
          .join('\n')
        const u = world.usage(c.model, text, world.respond(c.system, ex, c.model, 0).text)
        sum += (u.inputTokens * price.inputPerMTok + u.outputTokens * price.outputPerMTok) / 1e6
      }
      v = sum / sample.length
      costMemo.set(k, v)
    }
    return v
  }
  const production: PromptContent = { ...inst.scenario.task.prompt, system: inst.productionSystem }
  const optimum: Record<string, number> = {}
  const optimumClauses: Record<string, string[]> = {}
  // A clause set written for a tier (in the wordings it acts on), as a prompt on it.
  const promptOn = (m: string, clauses: readonly string[]): PromptContent => ({
    ...production,
    model: m,
    system: promptFor(tierView(inst.scenario, m), clauses),
  })
  const qualityOf = (clauses: readonly string[], m: string) => quality(promptOn(m, clauses))
  for (const m of TIERS) {
    const view = tierView(inst.scenario, m)
    const opt = exactOptimum(new SimWorld(view), keys.test, m)
    optimumClauses[m] = opt.clauses
    optimum[m] = qualityOf(opt.clauses, m)
  }
  const models = TIERS.map((m) => ({ model: m, costPer1k: 1000 * cost({ ...production, model: m }) }))
  const optimumPrompt = (m: string) => promptOn(m, optimumClauses[m] as string[])
  return {
    instance: inst,
    world,
    keys,
    production,
    quality,
    optimum,
    optimumClauses,
    optimumPrompt,
    qualityOf,
    cost,
    models,
  }
}

/** Sampled scores on the holdout (what a campaign observes): success 1, else 0. */
export function measure(ctx: Ctx, c: PromptContent, id: string): PairMeasure {
  const scores = ctx.keys.holdout.map((key) =>
    ctx.world.respond(c.system, ctx.world.example(key), c.model, 0).success ? 1 : 0,
  )
  const m = ctx.world.model(c.model)
  return { id, model: c.model, scores, costPerRequest: ctx.cost(c), latencyMs: m.latencyMs.median }
}

/**
 * Whether the `cheapest` objective's holdout decision, as bench:agility takes it, ships one of these
 * pairs (one a model) and the shipped pair is within `margin` of production's exact quality.
 */
export function shipsCheaper(ctx: Ctx, pairs: readonly PromptContent[], margin: number, seed: string): boolean {
  const decision = decideAgility(
    { kind: 'cheapest', margin },
    measure(ctx, ctx.production, 'production'),
    pairs.map((p) => measure(ctx, p, p.model)),
    { seed, resamples: 4000 },
  )
  const shipped = pairs.find((p) => p.model === decision.ship)
  return shipped !== undefined && ctx.quality(shipped) >= ctx.quality(ctx.production) - margin - 1e-9
}
