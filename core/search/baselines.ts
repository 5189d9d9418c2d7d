/**
 * @module core/search/baselines
 * The baselines every smarter strategy must beat, at the same rollout budget:
 * - random search: a prompt a few blind edits away from the seed, fully validated; the best wins;
 * - hill climbing: one blind edit of the incumbent (a prompt not tried before), fully validated,
 *   kept if it does better — by its own validation mean, or, when the search ranks by pooled
 *   estimates, kept in any case and the pooled ranking picks the next incumbent.
 *
 * Pure module: all I/O goes through the ports.
 */
import { Exhausted, keep, ranked, sameText, validationMean } from './common.js'
import type { Candidate, RoundOutcome, SearchPorts, StrategySettings } from './types.js'

const done = (): RoundOutcome => ({ proposals: 0, accepted: 0, exhausted: false, saturated: false })

function seedOf(pool: readonly Candidate[]): Candidate {
  const seed = pool.find((c) => c.status === 'seed') ?? pool[0]
  if (!seed) throw new Error('a search needs the seed candidate in the pool')
  return seed
}

export async function randomSearchRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome = done()
  const seed = seedOf(pool)
  try {
    for (let p = 0; p < settings.proposals; p++) {
      let content = seed.content
      const edits = 1 + ports.rng.int(Math.max(1, ports.maxSentences))
      for (let e = 0; e < edits; e++) content = (await ports.mutate(content))?.content ?? content
      if (content.system === seed.content.system) continue
      outcome.proposals++
      const mean = await validationMean(ports, content)
      await keep(pool, ports, {
        content,
        parentIds: [seed.id],
        operator: `random(${edits})`,
        status: 'accepted',
        feedbackUsed: [],
        minibatch: null,
        validationMean: mean,
      })
      outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}

export async function hillClimbRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome = done()
  try {
    for (let p = 0; p < settings.proposals; p++) {
      const parent = ranked(pool)[0] ?? seedOf(pool)
      let proposal = null
      for (let tries = 0; tries < 8 && !proposal; tries++) {
        const p = await ports.mutate(parent.content)
        if (p && !pool.some((c) => sameText(c.content, p.content))) proposal = p
      }
      if (!proposal) continue
      outcome.proposals++
      const mean = await validationMean(ports, proposal.content)
      const better = mean !== null && (settings.pooled || mean > (parent.validationMean ?? -Infinity) + 1e-12)
      await keep(pool, ports, {
        content: proposal.content,
        parentIds: [parent.id],
        operator: proposal.operator,
        status: better ? 'accepted' : 'rejected',
        feedbackUsed: [],
        minibatch: null,
        validationMean: better ? mean : null,
      })
      if (better) outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}
