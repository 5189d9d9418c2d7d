/**
 * @module core/search/common
 * Steps every strategy shares: spend checks, full validation, GEPA's minibatch screen (parent and
 * child on the same few training items, strict acceptance, full validation only on acceptance),
 * and saving a candidate into the pool.
 *
 * Pure module: all I/O goes through the ports.
 */
import type { PromptContent } from '../prompt.js'
import { meanOf, sumOf, type Candidate, type ItemScore, type NewCandidate, type Proposal, type SearchPorts } from './types.js'

export class Exhausted extends Error {
  constructor() {
    super('rollout budget exhausted')
  }
}

/** Evaluate, or throw Exhausted when that would pass the rollout budget. */
export async function evaluateWithin(ports: SearchPorts, content: PromptContent, ids: readonly string[]): Promise<ItemScore[]> {
  if ((await ports.uncachedCount(content, ids)) > (await ports.rolloutsRemaining())) throw new Exhausted()
  return ports.evaluate(content, ids)
}

export async function validationMean(ports: SearchPorts, content: PromptContent): Promise<number | null> {
  return meanOf(await evaluateWithin(ports, content, ports.validationIds))
}

/** Save a candidate; add it to the pool when it is new. */
export async function keep(pool: Candidate[], ports: SearchPorts, c: NewCandidate): Promise<Candidate> {
  const { candidate, created } = await ports.save(c)
  if (created) pool.push(candidate)
  return candidate
}

export interface ScreenResult {
  accepted: boolean
  candidate: Candidate
}

/**
 * Screen a proposal on the minibatch the parents were scored on: accepted only if it beats the
 * best parent's sum strictly (or matches it, with `allowTie`); then one full validation pass.
 */
export async function screen(
  pool: Candidate[],
  ports: SearchPorts,
  parents: readonly Candidate[],
  proposal: Proposal,
  minibatch: readonly string[],
  parentScores: readonly ItemScore[],
  allowTie = false,
): Promise<ScreenResult> {
  const childScores = await evaluateWithin(ports, proposal.content, minibatch)
  const margin = sumOf(childScores) - sumOf(parentScores)
  const accepted = allowTie ? margin > -1e-12 : margin > 1e-12
  const mean = accepted ? await validationMean(ports, proposal.content) : null
  const candidate = await keep(pool, ports, {
    content: proposal.content,
    parentIds: parents.map((p) => p.id),
    operator: proposal.operator,
    status: accepted ? 'accepted' : 'rejected',
    feedbackUsed: proposal.feedbackUsed,
    minibatch: { parent: meanOf(parentScores) ?? 0, child: meanOf(childScores) ?? 0, n: minibatch.length },
    validationMean: mean,
  })
  return { accepted, candidate }
}

/** Scored (fully validated, not rejected) candidates, best first; ties keep pool order. */
export function ranked(pool: readonly Candidate[]): Candidate[] {
  return pool
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.status !== 'rejected' && c.validationMean !== null)
    .sort((a, b) => (b.c.validationMean as number) - (a.c.validationMean as number) || a.i - b.i)
    .map(({ c }) => c)
}

export const sameText = (a: PromptContent, b: PromptContent) => a.system.trim() === b.system.trim()
