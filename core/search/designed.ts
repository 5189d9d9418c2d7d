/**
 * @module core/search/designed
 * Designed search: one model's prompt space measured by a designed experiment instead of walked one
 * edit at a time (docs/search.md). Late in a search, and on a model a prompt was not written for,
 * the edits that matter move quality by a few points, less than a validation pass can tell; but
 * many random prompts, each scored on a few items, tell what each instruction does on this model
 * when one model is fitted to all of them.
 *
 * 1. **Sentences**: the root's (the model's first candidate: production's prompt on it), and those of
 *    `harvest` blind edits (`mutate`) along walks from it, ten steps each. The walks are seeded by
 *    the root, so every round finds the same sentences (a proposer model's answers are cached).
 * 2. **Instructions**: the proposer groups the sentences by the instruction they give
 *    (`groupInstructions`; without it each sentence is its own); sentences that frame the prompt,
 *    and any holding a template variable, are kept in every design.
 * 3. **Designs**: design j holds a random set of instructions (one wording each, as many as
 *    `maxSentences` allows) and is scored on `designItems` random validation items; its draws come
 *    from the root and j alone, so which designs were paid for is read back from the evaluation
 *    cache (`knownScores`) and a retried round pays for nothing twice. A round pays for designs up
 *    to the model's next fit (`designBatch` at a time, concurrently): the first after
 *    `designRollouts` of them, then one after every half of that again, or at the budget's end
 *    (one validation pass is kept for the last fit).
 * 4. **Fit**: a logistic model of success on an intercept per validation item plus an effect per
 *    wording (./logistic.ts, ridge `designRidge`), fitted on every design paid for; a local search
 *    over it (from the root's set, add instructions up to the designs' size, replace one by another
 *    wording or instruction, while the prediction improves) gives the predicted best, which is
 *    validated in full and saved (operator `designed`) unless it is there already.
 *
 * Designs are evaluations, not candidates: the pool holds only fitted prompts.
 *
 * Pure module: all I/O goes through the ports.
 */
import { templateVariables, type PromptContent } from '../prompt.js'
import { Rng } from '../rng.js'
import { Exhausted, allSettled, evaluateWithin, keep, sameText, validationMean } from './common.js'
import { sentenceKey, sentences } from './edits.js'
import { fitLogistic, predictedMean, type Row } from './logistic.js'
import type { Candidate, InstructionGroups, ItemScore, RoundOutcome, SearchPorts, StrategySettings } from './types.js'

/** Steps of a harvest walk (each walk starts at the root). */
export const WALK = 10

/** The sentences a model's designs are made of. */
export interface DesignBasis {
  /** In every design, in this order. */
  fixed: string[]
  /** Each instruction's wordings. */
  instructions: string[][]
}

/** The root's sentences, then those of blind edits along walks from it (one seeded stream a walk). */
export async function harvestSentences(root: Candidate, ports: SearchPorts, edits: number): Promise<string[]> {
  const walks = Array.from({ length: Math.ceil(edits / WALK) }, (_, w) => w)
  const found = await allSettled(
    walks.map(async (w) => {
      const rng = Rng.fromSeed('designed-harvest', root.id, root.content.model, w)
      const texts: string[] = []
      let current = root.content
      for (let i = 0; i < Math.min(WALK, edits - w * WALK); i++) {
        const edit = await ports.mutate(current, rng)
        if (edit === null) continue
        texts.push(edit.content.system)
        current = edit.content
      }
      return texts
    }),
  )
  const out = new Map<string, string>()
  for (const text of [root.content.system, ...found.flat()])
    for (const s of sentences(text)) if (sentenceKey(s) !== '' && !out.has(sentenceKey(s))) out.set(sentenceKey(s), s)
  return [...out.values()]
}

/**
 * A proposer's grouping made whole: every sentence found placed once (a sentence it left out is an
 * instruction of its own, one it made up is dropped), and any sentence holding a template variable
 * fixed, so no design loses a variable.
 */
export function basisOf(found: readonly string[], groups: InstructionGroups | null): DesignBasis {
  const known = new Map(found.map((s) => [sentenceKey(s), s]))
  const placed = new Set<string>()
  const take = (s: string) => {
    const k = sentenceKey(s)
    const original = known.get(k)
    if (original === undefined || placed.has(k)) return []
    placed.add(k)
    return [original]
  }
  const pinned = (s: string) => templateVariables(s).length > 0
  const fixed = [...(groups?.fixed ?? []), ...found.filter(pinned)].flatMap(take)
  const instructions = (groups?.instructions ?? [])
    .map((g) => g.flatMap(take))
    .filter((g) => g.length > 0)
    .concat(found.flatMap((s) => (placed.has(sentenceKey(s)) ? [] : [take(s)])))
  // Root order for the fixed sentences: the order they were found in.
  const order = new Map(found.map((s, i) => [s, i]))
  fixed.sort((a, b) => (order.get(a) as number) - (order.get(b) as number))
  return { fixed, instructions }
}

/** A set of instructions, each with the wording chosen: [instruction index, wording index]. */
type Choice = readonly [instruction: number, wording: number]

const textOf = (basis: DesignBasis, set: readonly Choice[]) =>
  [...basis.fixed, ...set.map(([i, w]) => (basis.instructions[i] as string[])[w] as string)].join(' ')

interface Design {
  content: PromptContent
  items: string[]
  set: Choice[]
}

function designAt(basis: DesignBasis, root: Candidate, j: number, ports: SearchPorts, settings: StrategySettings) {
  const rng = Rng.fromSeed('designed-design', root.id, root.content.model, j)
  const k = Math.min(ports.maxSentences, basis.instructions.length)
  const set = rng
    .sample(
      basis.instructions.map((_, i) => i),
      k,
    )
    .map((i) => [i, rng.int((basis.instructions[i] as string[]).length)] as const)
  const ids = ports.validationIds
  const items = rng.sample(ids, Math.min(settings.designItems, ids.length))
  return { content: { ...root.content, system: textOf(basis, set) }, items, set }
}

/** The basis's feature index of each wording (instruction by instruction), and how many there are. */
function featureIndex(basis: DesignBasis): { of: (c: Choice) => number; count: number } {
  const offsets: number[] = []
  let count = 0
  for (const g of basis.instructions) {
    offsets.push(count)
    count += g.length
  }
  return { of: ([i, w]) => (offsets[i] as number) + w, count }
}

/** The root's instructions as choices (each instruction once, in the root's order). */
function rootSet(basis: DesignBasis, root: Candidate): Choice[] {
  const set: Choice[] = []
  for (const s of sentences(root.content.system)) {
    const i = basis.instructions.findIndex((g) => g.some((x) => sentenceKey(x) === sentenceKey(s)))
    if (i < 0 || set.some(([x]) => x === i)) continue
    set.push([i, (basis.instructions[i] as string[]).findIndex((x) => sentenceKey(x) === sentenceKey(s))])
  }
  return set
}

/**
 * The set the fitted model predicts best: from the root's set, add an instruction (while the set is
 * below `limit`, the designs' size) or replace one by another wording of it or by an instruction not
 * in the set, while the prediction improves.
 */
export function predictedBest(
  basis: DesignBasis,
  start: readonly Choice[],
  predict: (set: readonly Choice[]) => number,
  limit = start.length,
): Choice[] {
  let set = [...start]
  let score = predict(set)
  for (let improved = true; improved;) {
    improved = false
    for (let i = 0; i < basis.instructions.length && set.length < limit && !improved; i++) {
      if (set.some(([x]) => x === i)) continue
      for (let w = 0; w < (basis.instructions[i] as string[]).length && !improved; w++) {
        const next = [...set, [i, w] as const]
        const p = predict(next)
        if (p > score + 1e-9) [set, score, improved] = [next, p, true]
      }
    }
    for (let a = 0; a < set.length && !improved; a++)
      for (let i = 0; i < basis.instructions.length && !improved; i++) {
        if (set.some(([x], b) => x === i && b !== a)) continue
        for (let w = 0; w < (basis.instructions[i] as string[]).length && !improved; w++) {
          const next = set.map((c, b) => (b === a ? ([i, w] as const) : c))
          const p = predict(next)
          if (p > score + 1e-9) [set, score, improved] = [next, p, true]
        }
      }
  }
  return set
}

export async function designedRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  const root = pool[0]
  if (!root) throw new Error('designedRound needs the model’s root candidate first in the pool')
  if (!ports.knownScores) throw new Error('designedRound needs ports that answer knownScores (the evaluation cache)')
  const found = await harvestSentences(root, ports, settings.harvest)
  const groups = ports.groupInstructions ? await ports.groupInstructions(found, root.content.model) : null
  const basis = basisOf(found, groups)
  if (basis.instructions.length === 0) {
    outcome.saturated = true
    return outcome
  }
  const { of: feature, count: features } = featureIndex(basis)
  const v = ports.validationIds
  const itemIndex = new Map(v.map((id, i) => [id, i]))
  const rowsOf = (d: Design, scores: readonly ItemScore[]): Row[] =>
    scores.flatMap((s) =>
      s.score === null ? [] : [{ item: itemIndex.get(s.itemId) as number, features: d.set.map(feature), y: s.score }],
    )
  // The model's fits: the first after `designRollouts` of designs, then one after every half of that
  // again (a fit uses the designs up to its checkpoint, so a retried round refits the same).
  const first = Math.ceil(settings.designRollouts / settings.designItems)
  const step = Math.max(1, Math.ceil(first / 2))
  const checkpoint = (done: number) => (done < first ? 0 : first + step * (1 + Math.floor((done - first) / step)))
  const lastCheckpoint = (done: number) => (done < first ? 0 : first + step * Math.floor((done - first) / step))
  // Designs paid for (read back from the cache, in order), and this round's: up to the next fit.
  const reserve = v.length
  const room = Math.floor(((await ports.rolloutsRemaining()) - reserve) / settings.designItems)
  const paid: Row[][] = []
  const todo: Design[] = []
  let target: number | null = null
  for (let j = 0; j < 100_000; j++) {
    if (target !== null && (paid.length + todo.length >= target || todo.length >= room)) break
    const d = designAt(basis, root, j, ports, settings)
    if (ports.admits && !ports.admits(d.content)) continue
    const scores = await ports.knownScores(d.content, d.items)
    if (scores.length === d.items.length) paid.push(rowsOf(d, scores))
    else {
      target ??= paid.length < first ? first : checkpoint(paid.length)
      if (todo.length < room) todo.push(d)
    }
  }
  try {
    // In batches of `designBatch` at a time.
    for (let b = 0; b < todo.length; b += settings.designBatch) {
      const batch = todo.slice(b, b + settings.designBatch)
      const scores = await allSettled(batch.map((d) => evaluateWithin(ports, d.content, d.items)))
      batch.forEach((d, i) => paid.push(rowsOf(d, scores[i] as ItemScore[])))
    }
    outcome.proposals += todo.length
    const budgetLeft = room > todo.length
    const upTo = budgetLeft ? lastCheckpoint(paid.length) : paid.length
    if (upTo === 0) return outcome
    const theta = fitLogistic(paid.slice(0, upTo).flat(), v.length, features, settings.designRidge)
    const start = rootSet(basis, root)
    const limit = Math.min(ports.maxSentences, basis.instructions.length)
    const best = predictedBest(basis, start, (set) => predictedMean(theta, v.length, set.map(feature)), limit)
    const content: PromptContent = { ...root.content, system: textOf(basis, best) }
    const same = (c: Candidate) => c.content.model === content.model && sameText(c.content, content)
    if (sameSet(best, start) || pool.some(same) || (ports.admits && !ports.admits(content))) {
      // Nothing new to save and no design left to pay for: this model's search is over.
      outcome.exhausted = todo.length === 0
      return outcome
    }
    outcome.proposals++
    const mean = await validationMean(ports, content)
    const before = pool.length
    await keep(pool, ports, {
      content,
      parentIds: [root.id],
      operator: 'designed',
      status: 'accepted',
      feedbackUsed: [],
      minibatch: null,
      validationMean: mean,
    })
    if (pool.length > before) outcome.accepted++
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}

const sameSet = (a: readonly Choice[], b: readonly Choice[]) =>
  a.length === b.length && a.every(([i, w]) => b.some(([x, y]) => x === i && y === w))
