/**
 * @module core/search/reflective
 * Reflective evolution (GEPA-style, select-best parent): each proposal takes the current best
 * candidate, runs it on a small training minibatch, hands the failures and their feedback to the
 * proposer, runs the child on the same minibatch and accepts it only if it does strictly better
 * there. Only accepted children pay for a full validation pass. See docs/search.md.
 *
 * Pure module: all I/O goes through the ports.
 */
import { incumbent, meanOf, sumOf, type Candidate, type RoundOutcome, type SearchPorts } from './types.js'

export type { RoundOutcome } from './types.js'

export interface ReflectiveSettings {
  proposals: number
  minibatchSize: number
}

/**
 * Run one round of proposals against the pool (mutated in place with new candidates).
 * @example
 * const outcome = await reflectiveRound(pool, { proposals: 4, minibatchSize: 4 }, ports)
 */
export async function reflectiveRound(
  pool: Candidate[],
  settings: ReflectiveSettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  let perfectMinibatches = 0
  for (let p = 0; p < settings.proposals; p++) {
    const parent = incumbent(pool)
    if (!parent) throw new Error('reflectiveRound needs a scored seed candidate in the pool')
    const minibatch = ports.rng.sample(ports.trainIds, settings.minibatchSize)
    const affordable = async (ids: readonly string[], content = parent.content) =>
      (await ports.uncachedCount(content, ids)) <= (await ports.rolloutsRemaining())
    if (!(await affordable(minibatch))) {
      outcome.exhausted = true
      break
    }
    const parentScores = await ports.evaluate(parent.content, minibatch)
    const failures = parentScores
      .filter((s) => s.score !== null && s.score < 0.999)
      .sort((a, b) => (a.score ?? 0) - (b.score ?? 0))
    if (failures.length === 0) {
      perfectMinibatches++
      continue
    }
    const proposal = await ports.propose(parent.content, failures)
    if (!proposal) continue
    outcome.proposals++
    if (!(await affordable(minibatch, proposal.content))) {
      outcome.exhausted = true
      break
    }
    const childScores = await ports.evaluate(proposal.content, minibatch)
    const accepted = sumOf(childScores) > sumOf(parentScores) + 1e-12
    let validationMean: number | null = null
    if (accepted) {
      if (!(await affordable(ports.validationIds, proposal.content))) {
        outcome.exhausted = true
        break
      }
      validationMean = meanOf(await ports.evaluate(proposal.content, ports.validationIds))
    }
    const { candidate, created } = await ports.save({
      content: proposal.content,
      parentIds: [parent.id],
      operator: proposal.operator,
      status: accepted ? 'accepted' : 'rejected',
      feedbackUsed: proposal.feedbackUsed,
      minibatch: { parent: meanOf(parentScores) ?? 0, child: meanOf(childScores) ?? 0, n: minibatch.length },
      validationMean,
    })
    if (created) pool.push(candidate)
    if (accepted) outcome.accepted++
  }
  outcome.saturated = outcome.proposals === 0 && perfectMinibatches > 0
  return outcome
}
