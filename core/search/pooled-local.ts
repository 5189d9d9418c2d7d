/**
 * @module core/search/pooled-local
 * Pooled local search: the pooled sentence model (./pooled.ts) judges every proposal.
 *
 * GEPA screens a proposal on a few training items and pays a full validation pass for each one it
 * accepts. With ~100 validation items two prompts' means differ by ±0.06 from noise alone, while
 * the edits that matter late in a search move quality by 0.02–0.05: the accepted children are
 * mostly the lucky ones and the best of them mostly luck. Here instead:
 *
 * - **every proposal is kept**, scored on `minibatchSize` validation items beside its parent on the
 *   same items: one more paired observation of what its sentences do on this model. The pooled
 *   model, fitted on all of them, ranks the candidates;
 * - **the parent** is drawn from the three best by that ranking;
 * - **a third of the proposals are blind edits** (`mutate`) rather than reflections on failures: a
 *   sentence that helps or hurts on this model without any failure's feedback naming it (a model's
 *   own preference, docs/model-agility.md) is found only that way;
 * - **confirmation**: a round starts by scoring the candidate ranked first on every validation item
 *   when it has not been yet; the last three validation passes of the rollout budget are kept for
 *   that, so the search never ends on an incumbent that rests on a handful of items.
 *
 * A kept candidate's `validationMean` is its mean over the `minibatch.n` validation items it was
 * first scored on (a confirmation does not rewrite it); it is ranked by its pooled estimate, which
 * uses every score paid for, a confirmation's included.
 *
 * Pure module: all I/O goes through the ports.
 */
import { Exhausted, evaluateWithin, keep, ranked } from './common.js'
import { meanOf, type Candidate, type RoundOutcome, type SearchPorts, type StrategySettings } from './types.js'

/** Share of proposals that are blind edits. */
export const BLIND_SHARE = 1 / 3
/**
 * The pooled model under this search (the defaults are ridge 20, residual prior 200). A stronger
 * ridge: most sentences here appear in few candidates scored on few items, and a weak penalty lets
 * the luckiest of them lift its candidates to the top. A weaker residual prior: a confirmed
 * candidate's own 100-odd scores then count for two thirds of its estimate, not one third.
 * Chosen on bench:agility's dev seeds (share of the migration drop recovered, median; 20
 * instances): ridge 20 66 %, 80 71 %, 200 68–74 %; with ridge 200, residual prior 20 70 %,
 * 50 73–75 %, 200 68 % (60 instances: 50 65 %, 200 62 %). BENCHMARKS.md has the test seeds.
 */
export const POOLED_LOCAL_MODEL = { ridge: 200, residualPrior: 50 } as const
/** Validation passes of the rollout budget kept, at the end, for confirming incumbents. */
export const ENDGAME_PASSES = 3
/** Parents are drawn from this many of the best-ranked candidates. */
const PARENTS = 3

export async function pooledLocalRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  try {
    const top = ranked(pool)[0]
    if (!top) throw new Error('pooledLocalRound needs a scored seed candidate in the pool')
    // Confirmation: the incumbent on every validation item (what is cached costs nothing).
    if ((await ports.uncachedCount(top.content, ports.validationIds)) > 0) {
      await evaluateWithin(ports, top.content, ports.validationIds)
      return outcome
    }
    // The end: the last passes of the budget are kept for confirmations, so the search never
    // stops on an incumbent scored on a few items.
    if ((await ports.rolloutsRemaining()) <= ENDGAME_PASSES * ports.validationIds.length) {
      outcome.exhausted = true
      return outcome
    }
    const m = Math.min(settings.minibatchSize, ports.validationIds.length)
    for (let p = 0; p < settings.proposals; p++) {
      const parent = ports.rng.pick(ranked(pool).slice(0, PARENTS)) as Candidate
      const items = ports.rng.sample(ports.validationIds, m)
      const parentScores = await evaluateWithin(ports, parent.content, items)
      const failures = parentScores
        .filter((s) => s.score !== null && s.score < 0.999)
        .sort((x, y) => (x.score ?? 0) - (y.score ?? 0))
      // Blind by share, and whenever the parent failed none of the items (nothing to reflect on).
      const blind = ports.rng.float() < BLIND_SHARE || failures.length === 0
      const proposal = blind
        ? await ports.mutate(parent.content, ports.rng)
        : await ports.propose(parent.content, failures)
      if (!proposal) continue
      outcome.proposals++
      const childScores = await evaluateWithin(ports, proposal.content, items)
      const before = pool.length
      await keep(pool, ports, {
        content: proposal.content,
        parentIds: [parent.id],
        operator: proposal.operator,
        status: 'accepted',
        feedbackUsed: proposal.feedbackUsed,
        minibatch: { parent: meanOf(parentScores) ?? 0, child: meanOf(childScores) ?? 0, n: items.length },
        validationMean: meanOf(childScores),
      })
      if (pool.length > before) outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}
