/**
 * @module core/search/evolution
 * Edit-based evolution (no reflection): two parents drawn by tournament from the best
 * `population` candidates; their sentences are crossed over, and the child gets a blind edit
 * half of the time (or when crossover gives nothing new). Screened on a minibatch against the
 * better parent, fully validated only when accepted.
 *
 * Pure module: all I/O goes through the ports.
 */
import { crossover } from './edits.js'
import { Exhausted, evaluateWithin, ranked, screen } from './common.js'
import {
  rankScore,
  sumOf,
  type Candidate,
  type Proposal,
  type RoundOutcome,
  type SearchPorts,
  type StrategySettings,
} from './types.js'

function tournament(population: readonly Candidate[], ports: SearchPorts): Candidate {
  const a = ports.rng.pick(population)
  const b = ports.rng.pick(population)
  return (rankScore(a) ?? 0) >= (rankScore(b) ?? 0) ? a : b
}

export async function evolutionRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  try {
    for (let p = 0; p < settings.proposals; p++) {
      const population = ranked(pool).slice(0, settings.population)
      if (population.length === 0) throw new Error('evolutionRound needs a scored seed candidate in the pool')
      const a = tournament(population, ports)
      const b = tournament(population, ports)
      let proposal: Proposal | null = null
      const crossed =
        a.id !== b.id ? crossover(a.content.system, b.content.system, ports.rng, ports.maxSentences) : null
      if (crossed) proposal = { content: { ...a.content, system: crossed }, operator: 'crossover', feedbackUsed: [] }
      if (!proposal || ports.rng.float() < 0.5) {
        const edited = await ports.mutate(proposal?.content ?? a.content)
        if (edited)
          proposal = { ...edited, operator: proposal ? `${proposal.operator}+${edited.operator}` : edited.operator }
      }
      if (!proposal) continue
      outcome.proposals++
      const minibatch = ports.rng.sample(ports.trainIds, settings.minibatchSize)
      const sa = await evaluateWithin(ports, a.content, minibatch)
      const sb = b.id === a.id ? sa : await evaluateWithin(ports, b.content, minibatch)
      const [parents, scores] = sumOf(sa) >= sumOf(sb) ? [[a, b], sa] : [[b, a], sb]
      const r = await screen(pool, ports, a.id === b.id ? [a] : parents, proposal, minibatch, scores)
      if (r.accepted) outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}
