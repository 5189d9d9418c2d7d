/**
 * @module core/search/beam
 * Reflective beam search, ProTeGi-style: each prompt in the beam (the best `beamWidth` so far)
 * runs on a training minibatch; the proposer turns its failures' feedback into edits ("textual
 * gradients"); the children compete by successive halving on validation items (all survivors on
 * a few items, the better half on twice as many, …), and the last survivor pays for a full
 * validation pass and joins the pool. Losers are kept as rejected candidates for the lineage.
 *
 * Pure module: all I/O goes through the ports.
 */
import { Exhausted, evaluateWithin, keep, ranked, sameText, validationMean } from './common.js'
import { meanOf, type Candidate, type Proposal, type RoundOutcome, type SearchPorts, type StrategySettings } from './types.js'

export async function beamRound(pool: Candidate[], settings: StrategySettings, ports: SearchPorts): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  const beam = ranked(pool).slice(0, settings.beamWidth)
  if (beam.length === 0) throw new Error('beamRound needs a scored seed candidate in the pool')
  const children: Array<{ parent: Candidate; proposal: Proposal }> = []
  let perfect = 0
  try {
    const perParent = Math.max(1, Math.ceil(settings.proposals / beam.length))
    for (const parent of beam) {
      const minibatch = ports.rng.sample(ports.trainIds, settings.minibatchSize * 2)
      const scores = await evaluateWithin(ports, parent.content, minibatch)
      const failures = scores.filter((s) => s.score !== null && s.score < 0.999)
      if (failures.length === 0) {
        perfect++
        continue
      }
      for (let k = 0; k < perParent && children.length < settings.proposals; k++) {
        // Each gradient sees a different handful of the errors, as ProTeGi samples error groups.
        const group = ports.rng.sample(failures, Math.max(1, Math.ceil(failures.length / 2)))
        const proposal = await ports.propose(parent.content, group)
        if (!proposal || pool.some((c) => sameText(c.content, proposal.content)) || children.some((c) => sameText(c.proposal.content, proposal.content))) continue
        children.push({ parent, proposal })
      }
    }
    outcome.proposals = children.length
    if (children.length === 0) {
      outcome.saturated = perfect > 0
      return outcome
    }
    // Successive halving on a shuffled validation order.
    const order = ports.rng.shuffle(ports.validationIds)
    let alive = children.map((c, i) => ({ ...c, i, mean: 0 }))
    let n = Math.max(4, Math.ceil(order.length / 2 ** Math.ceil(Math.log2(Math.max(2, alive.length)))))
    while (alive.length > 1 && n < order.length) {
      for (const c of alive) c.mean = meanOf(await evaluateWithin(ports, c.proposal.content, order.slice(0, n))) ?? 0
      alive.sort((x, y) => y.mean - x.mean || x.i - y.i)
      const out = alive.slice(Math.ceil(alive.length / 2))
      alive = alive.slice(0, Math.ceil(alive.length / 2))
      for (const c of out) await keep(pool, ports, { content: c.proposal.content, parentIds: [c.parent.id], operator: c.proposal.operator, status: 'rejected', feedbackUsed: c.proposal.feedbackUsed, minibatch: null, validationMean: null })
      n *= 2
    }
    for (const c of alive) {
      const mean = await validationMean(ports, c.proposal.content)
      await keep(pool, ports, { content: c.proposal.content, parentIds: [c.parent.id], operator: c.proposal.operator, status: 'accepted', feedbackUsed: c.proposal.feedbackUsed, minibatch: null, validationMean: mean })
      outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}
