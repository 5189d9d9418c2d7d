/**
 * @module core/search/beam
 * Reflective beam search, ProTeGi-style: each prompt in the beam (the best `beamWidth` so far)
 * runs on a training minibatch; the proposer turns its failures' feedback into edits ("textual
 * gradients"); the children compete by successive halving on validation items (all survivors on
 * a few items, the better half on twice as many, …), and the last survivor pays for a full
 * validation pass and joins the pool. Losers are kept as rejected candidates for the lineage.
 * Work that does not depend on other work runs at once (the parents; the children of a stage), so
 * a round's evaluations fan out over every worker.
 *
 * Pure module: all I/O goes through the ports.
 */
import { Rng } from '../rng.js'
import { Exhausted, allSettled, evaluateWithin, keep, ranked, sameText, validationMean } from './common.js'
import {
  meanOf,
  type Candidate,
  type Proposal,
  type RoundOutcome,
  type SearchPorts,
  type StrategySettings,
} from './types.js'

export async function beamRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  const beam = ranked(pool).slice(0, settings.beamWidth)
  if (beam.length === 0) throw new Error('beamRound needs a scored seed candidate in the pool')
  const perParent = Math.max(1, Math.ceil(settings.proposals / beam.length))
  // The parents are worked on at once; each draws from a stream of its own, so the draws are the
  // same whichever parent's evaluations finish first.
  const streams = beam.map((_, i) => Rng.fromSeed(ports.rng.int(2_147_483_647), 'beam-parent', i))
  try {
    const offspring = await allSettled(
      beam.map(async (parent, i) => {
        const rng = streams[i] as Rng
        const minibatch = rng.sample(ports.trainIds, settings.minibatchSize * 2)
        const scores = await evaluateWithin(ports, parent.content, minibatch)
        const failures = scores.filter((s) => s.score !== null && s.score < 0.999)
        if (failures.length === 0) return null // a perfect minibatch: nothing to learn from this parent
        // Each gradient sees a different handful of the errors, as ProTeGi samples error groups. The
        // proposals are asked for at once; each is asked right after its group is drawn, and a
        // proposer draws before it awaits anything, so the draws are those of one-by-one asking.
        const asked: Array<Promise<Proposal | null>> = []
        for (let k = 0; k < perParent; k++)
          asked.push(
            ports.propose(parent.content, rng.sample(failures, Math.max(1, Math.ceil(failures.length / 2))), rng),
          )
        const mine: Proposal[] = []
        for (const proposal of await allSettled(asked)) {
          if (
            !proposal ||
            pool.some((c) => sameText(c.content, proposal.content)) ||
            mine.some((p) => sameText(p.content, proposal.content))
          )
            continue
          mine.push(proposal)
        }
        return mine
      }),
    )
    const children: Array<{ parent: Candidate; proposal: Proposal }> = []
    offspring.forEach((mine, i) => {
      for (const proposal of mine ?? []) {
        if (
          children.length < settings.proposals &&
          !children.some((c) => sameText(c.proposal.content, proposal.content))
        )
          children.push({ parent: beam[i] as Candidate, proposal })
      }
    })
    outcome.proposals = children.length
    if (children.length === 0) {
      outcome.saturated = offspring.some((mine) => mine === null)
      return outcome
    }
    // Successive halving on a shuffled validation order; each stage's children are scored together.
    const order = ports.rng.shuffle(ports.validationIds)
    let alive = children.map((c, i) => ({ ...c, i, mean: 0 }))
    let n = Math.max(4, Math.ceil(order.length / 2 ** Math.ceil(Math.log2(Math.max(2, alive.length)))))
    while (alive.length > 1 && n < order.length) {
      const scored = await allSettled(alive.map((c) => evaluateWithin(ports, c.proposal.content, order.slice(0, n))))
      alive.forEach((c, j) => (c.mean = meanOf(scored[j] ?? []) ?? 0))
      alive.sort((x, y) => y.mean - x.mean || x.i - y.i)
      const out = alive.slice(Math.ceil(alive.length / 2))
      alive = alive.slice(0, Math.ceil(alive.length / 2))
      for (const c of out)
        await keep(pool, ports, {
          content: c.proposal.content,
          parentIds: [c.parent.id],
          operator: c.proposal.operator,
          status: 'rejected',
          feedbackUsed: c.proposal.feedbackUsed,
          minibatch: null,
          validationMean: null,
        })
      n *= 2
    }
    const means = await allSettled(alive.map((c) => validationMean(ports, c.proposal.content)))
    for (const [j, c] of alive.entries()) {
      await keep(pool, ports, {
        content: c.proposal.content,
        parentIds: [c.parent.id],
        operator: c.proposal.operator,
        status: 'accepted',
        feedbackUsed: c.proposal.feedbackUsed,
        minibatch: null,
        validationMean: means[j] ?? null,
      })
      outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}
