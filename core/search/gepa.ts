/**
 * @module core/search/gepa
 * Reflective evolution, GEPA-style: the parent is sampled from the per-instance Pareto front of
 * the validation scores (or is the best candidate, `select: 'best'`); it runs on a small training
 * minibatch; the proposer reflects on the failures and their feedback; the child runs on the same
 * minibatch and is accepted only if it does strictly better there; only accepted children pay for
 * a full validation pass. Optionally, every `mergeEvery` proposals, two front members that share
 * an ancestor are merged (what each lineage added and removed, applied to the ancestor) and
 * screened against the better of the two.
 *
 * Pure module: all I/O goes through the ports.
 */
import { merge } from './edits.js'
import { Exhausted, evaluateWithin, ranked, screen } from './common.js'
import { paretoWeights } from './pareto.js'
import type { Candidate, ItemScore, RoundOutcome, SearchPorts, StrategySettings } from './types.js'

export interface GepaOptions {
  select: 'pareto' | 'best'
  /** Race an accepted child's validation against the incumbent, stopping early when it is clearly behind. */
  race?: boolean
}

async function frontWeights(pool: readonly Candidate[], ports: SearchPorts): Promise<Map<string, number>> {
  const scored = []
  for (const c of ranked(pool)) {
    // Fully validated candidates: their validation scores are cached, so this costs nothing.
    const s = await ports.evaluate(c.content, ports.validationIds)
    scored.push({ id: c.id, scores: s.map((x) => x.score) })
  }
  return paretoWeights(scored)
}

function ancestors(pool: readonly Candidate[], id: string): Map<string, number> {
  const byId = new Map(pool.map((c) => [c.id, c]))
  const depth = new Map<string, number>()
  let frontier = [id]
  for (let d = 0; frontier.length > 0 && d < 1_000; d++) {
    const next: string[] = []
    for (const x of frontier) {
      if (depth.has(x)) continue
      depth.set(x, d)
      next.push(...(byId.get(x)?.parentIds ?? []))
    }
    frontier = next
  }
  return depth
}

/**
 * Two front members with a common ancestor, neither an ancestor of the other: the pair and the
 * nearest shared ancestor.
 */
function mergePair(
  pool: readonly Candidate[],
  front: readonly Candidate[],
  ports: SearchPorts,
): [Candidate, Candidate, Candidate] | null {
  const byId = new Map(pool.map((c) => [c.id, c]))
  const pairs: Array<[Candidate, Candidate, Candidate]> = []
  for (let i = 0; i < front.length; i++) {
    for (let j = i + 1; j < front.length; j++) {
      const a = front[i] as Candidate
      const b = front[j] as Candidate
      const da = ancestors(pool, a.id)
      const db = ancestors(pool, b.id)
      if (da.has(b.id) || db.has(a.id)) continue
      let best: string | null = null
      for (const [x, d] of da)
        if (
          db.has(x) &&
          (best === null || d + (db.get(x) as number) < (da.get(best) as number) + (db.get(best) as number))
        )
          best = x
      const anc = best ? byId.get(best) : undefined
      if (anc) pairs.push([a, b, anc])
    }
  }
  return pairs.length > 0 ? ports.rng.pick(pairs) : null
}

export async function gepaRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
  options: GepaOptions = { select: 'pareto' },
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  let perfect = 0
  try {
    for (let p = 0; p < settings.proposals; p++) {
      const candidates = ranked(pool)
      if (candidates.length === 0) throw new Error('gepaRound needs a scored seed candidate in the pool')
      const weights =
        options.select === 'pareto' ? await frontWeights(pool, ports) : new Map([[(candidates[0] as Candidate).id, 1]])
      const front = candidates.filter((c) => weights.has(c.id))

      if (
        settings.mergeEvery > 0 &&
        (pool.length + p) % settings.mergeEvery === settings.mergeEvery - 1 &&
        front.length >= 2
      ) {
        const pair = mergePair(pool, front, ports)
        if (pair) {
          const [a, b, anc] = pair
          const text = merge(anc.content.system, a.content.system, b.content.system, ports.maxSentences)
          if (text) {
            const minibatch = ports.rng.sample(ports.trainIds, settings.minibatchSize)
            const sa = await evaluateWithin(ports, a.content, minibatch)
            const sb = await evaluateWithin(ports, b.content, minibatch)
            const better: ItemScore[] = sum(sa) >= sum(sb) ? sa : sb
            outcome.proposals++
            const r = await screen(
              pool,
              ports,
              [a, b],
              { content: { ...a.content, system: text }, operator: 'merge', feedbackUsed: [] },
              minibatch,
              better,
              { allowTie: true },
            )
            if (r.accepted) outcome.accepted++
            continue
          }
        }
      }

      const parent = front[ports.rng.weightedIndex(front.map((c) => weights.get(c.id) ?? 0))] as Candidate
      const minibatch = ports.rng.sample(ports.trainIds, settings.minibatchSize)
      const parentScores = await evaluateWithin(ports, parent.content, minibatch)
      const failures = parentScores
        .filter((s) => s.score !== null && s.score < 0.999)
        .sort((x, y) => (x.score ?? 0) - (y.score ?? 0))
      if (failures.length === 0) {
        perfect++
        continue
      }
      const proposal = await ports.propose(parent.content, failures)
      if (!proposal) continue
      outcome.proposals++
      const r = await screen(pool, ports, [parent], proposal, minibatch, parentScores, {
        race: options.race ? (candidates[0] as Candidate) : null,
      })
      if (r.accepted) outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  outcome.saturated = outcome.proposals === 0 && perfect > 0
  return outcome
}

const sum = (xs: readonly ItemScore[]) => xs.reduce((a, x) => a + (x.score ?? 0), 0)
