/**
 * @module core/search/common
 * Steps every strategy shares: spend checks, full validation, GEPA's minibatch screen (parent and
 * child on the same few training items, strict acceptance, full validation only on acceptance),
 * and saving a candidate into the pool.
 *
 * Pure module: all I/O goes through the ports.
 */
import type { PromptContent } from '../prompt.js'
import {
  meanOf,
  rankScore,
  sumOf,
  type Candidate,
  type ItemScore,
  type NewCandidate,
  type Proposal,
  type SearchPorts,
} from './types.js'

export class Exhausted extends Error {
  constructor() {
    super('rollout budget exhausted')
  }
}

/** Rollouts promised to evaluations under way, and the queue of budget checks, per set of ports. */
const ledgers = new WeakMap<SearchPorts, { turn: Promise<unknown>; reserved: number }>()

/**
 * Evaluate, or throw Exhausted when that would pass the rollout budget. Concurrent evaluations
 * are checked one at a time, in the order they were asked for, each against the budget left after
 * the ones already under way: together they never pass it, and one at a time they behave exactly
 * as before (nothing is reserved between them).
 */
export async function evaluateWithin(
  ports: SearchPorts,
  content: PromptContent,
  ids: readonly string[],
): Promise<ItemScore[]> {
  let ledger = ledgers.get(ports)
  if (!ledger) ledgers.set(ports, (ledger = { turn: Promise.resolve(), reserved: 0 }))
  const book = ledger
  const check = book.turn.then(async () => {
    const cost = await ports.uncachedCount(content, ids)
    if (cost > (await ports.rolloutsRemaining()) - book.reserved) throw new Exhausted()
    book.reserved += cost
    return cost
  })
  book.turn = check.catch(() => undefined)
  const cost = await check
  const scores = await ports.evaluate(content, ids)
  // Paid now (counted by rolloutsRemaining): no longer promised.
  book.reserved -= cost
  return scores
}

/**
 * Await every branch of concurrent work, then fail with the first failure, if any (no branch is
 * left running after a sibling failed: the budget and the pool see everything that happened).
 */
export async function allSettled<T>(work: ReadonlyArray<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(work)
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value)
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

/**
 * Validate a child in stages against a rival (the incumbent), on the same items: after each
 * stage, a child clearly behind the rival on the items so far (by more than 0.6/√n) stops there,
 * rejected, without paying for the rest of the validation set. A child that survives every stage
 * gets its full validation mean. The rival's scores are cached, so racing costs nothing extra.
 */
export async function raceValidation(
  ports: SearchPorts,
  content: PromptContent,
  rival: Candidate,
): Promise<number | null | 'behind'> {
  const ids = ports.validationIds
  const stages = [Math.ceil(ids.length * 0.2), Math.ceil(ids.length * 0.5), ids.length].filter(
    (n, i, all) => n > 0 && all.indexOf(n) === i,
  )
  for (const n of stages) {
    const part = ids.slice(0, n)
    const child = meanOf(await evaluateWithin(ports, content, part))
    if (n === ids.length) return child
    const other = meanOf(await ports.evaluate(rival.content, part))
    if (child !== null && other !== null && child + 0.6 / Math.sqrt(n) < other) return 'behind'
  }
  return null
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
  options: { allowTie?: boolean; race?: Candidate | null } = {},
): Promise<ScreenResult> {
  const childScores = await evaluateWithin(ports, proposal.content, minibatch)
  const margin = sumOf(childScores) - sumOf(parentScores)
  let accepted = options.allowTie ? margin > -1e-12 : margin > 1e-12
  let mean: number | null = null
  if (accepted && options.race) {
    const r = await raceValidation(ports, proposal.content, options.race)
    if (r === 'behind') accepted = false
    else mean = r
  } else if (accepted) mean = await validationMean(ports, proposal.content)
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

/** Scored (fully validated, not rejected) candidates, best first by rank score; ties keep pool order. */
export function ranked(pool: readonly Candidate[]): Candidate[] {
  return pool
    .map((c, i) => ({ c, i, s: rankScore(c) }))
    .filter(({ c, s }) => c.status !== 'rejected' && c.validationMean !== null && s !== null)
    .sort((a, b) => (b.s as number) - (a.s as number) || a.i - b.i)
    .map(({ c }) => c)
}

export const sameText = (a: PromptContent, b: PromptContent) => a.system.trim() === b.system.trim()
