/**
 * @module core/search/types
 * The interface every search strategy works through. Strategies are plain async functions over
 * these ports, so the same code runs inside a Temporal activity (ports backed by Postgres, the
 * evaluation cache and real or simulated providers) and inside the offline benchmark
 * (ports backed by memory).
 *
 * Pure module: no I/O of its own.
 */
import { z } from 'zod'
import type { Demonstration, PromptContent } from '../prompt.js'
import type { Rng } from '../rng.js'

export interface ItemScore {
  itemId: string
  /** DQ in [0, 1]; null when the grader could not score the item (excluded). */
  score: number | null
  /** Textual feedback on a failure, for reflective proposers. */
  feedback: string | null
}

export interface Candidate {
  id: string
  content: PromptContent
  parentIds: string[]
  operator: string
  status: 'seed' | 'accepted' | 'rejected'
  /** Mean score over the whole validation split (the candidate's own evidence). */
  validationMean: number | null
  /**
   * The search's estimate of its validation accuracy, pooling evidence from related candidates
   * (./pooled.ts); ranking uses it when set, else `validationMean`.
   */
  estimate?: number | null
}

/** What a candidate is ranked by: the pooled estimate when there is one, else its own validation mean. */
export const rankScore = (c: Candidate): number | null => c.estimate ?? c.validationMean

export interface Proposal {
  content: PromptContent
  operator: string
  /** The feedback the proposer acted on (kept for lineage). */
  feedbackUsed: string[]
}

/**
 * Which sentences give the same instruction in other words (a designed experiment varies
 * instructions and holds at most one wording of each; ./designed.ts), and which frame the prompt.
 */
export const InstructionGroups = z.object({
  /** Each entry: the sentences (as given) that give one instruction. */
  instructions: z.array(z.array(z.string()).min(1)),
  /** Sentences that frame the prompt (a role, a template variable) rather than instruct: in every design. */
  fixed: z.array(z.string()),
})
export type InstructionGroups = z.infer<typeof InstructionGroups>

/**
 * Writes new prompts: the LLM proposer (proposers/llm.ts) and the simulated one (sim/proposer.ts).
 * Either may answer at once or later; both make their draws before they first wait.
 */
export interface Proposer {
  /** A rewrite of a parent from its failures (reflection); null when there is nothing to propose. */
  propose(parent: PromptContent, failures: readonly ItemScore[], rng: Rng): Proposal | null | Promise<Proposal | null>
  /** A blind edit: no feedback used. */
  mutate(parent: PromptContent, rng: Rng): Proposal | null | Promise<Proposal | null>
  /**
   * Group sentences by the instruction they give, for prompts run by `model`; every sentence
   * given is placed once (one it cannot place is an instruction of its own).
   */
  group?(sentences: readonly string[], model: string): InstructionGroups | Promise<InstructionGroups>
}

export interface NewCandidate {
  content: PromptContent
  parentIds: string[]
  operator: string
  status: 'accepted' | 'rejected'
  feedbackUsed: string[]
  minibatch: { parent: number; child: number; n: number } | null
  validationMean: number | null
}

/** A demonstration the few-shot strategy may show: a training item's high-DQ production answer. */
export interface DemonstrationSource {
  /** The training item (traffic record) it comes from. */
  itemId: string
  demonstration: Demonstration
  /** DQ of that production answer. */
  score: number
}

export interface SearchPorts {
  rng: Rng
  trainIds: readonly string[]
  validationIds: readonly string[]
  /** Score a prompt on items; repeated calls for the same prompt and item are free (cached). */
  evaluate(content: PromptContent, itemIds: readonly string[]): Promise<ItemScore[]>
  /**
   * Write a new prompt from a parent and its failures (reflection); null when the proposer has
   * nothing. `rng`: the stream to draw from (a strategy working on several parents at once gives
   * each its own); default `rng` above. An implementation makes its draws before its first await,
   * so proposals asked for at once draw what they would one by one.
   */
  propose(parent: PromptContent, failures: readonly ItemScore[], rng?: Rng): Promise<Proposal | null>
  /** A blind edit of a prompt: no feedback used (random search, hill climbing, evolution). */
  mutate(parent: PromptContent, rng?: Rng): Promise<Proposal | null>
  /** The proposer's grouping of sentences by instruction (Proposer.group); absent: each sentence alone. */
  groupInstructions?(sentences: readonly string[], model: string): Promise<InstructionGroups>
  /** Most sentences (clauses) a prompt's instructions may hold. */
  maxSentences: number
  /**
   * Scores already paid for (cache hits only, never a rollout) of a prompt on these items; items
   * never evaluated are left out. Lets the search pool evidence across candidates.
   * `asOfRoundStart`: only scores that existed when the round first started, so a round retried
   * after a crash ranks its parents exactly as the first attempt did.
   */
  knownScores?(
    content: PromptContent,
    itemIds: readonly string[],
    options?: { asOfRoundStart?: boolean },
  ): Promise<ItemScore[]>
  /**
   * The guards a proposer's output passes (token cap, copy guard), for prompts a strategy builds
   * itself (few-shot edits); absent: everything passes.
   */
  admits?(content: PromptContent): boolean
  /** Demonstrations available to few-shot selection (training items only); absent: none. */
  demonstrations?(): Promise<DemonstrationSource[]>
  /** Task rollouts (cache misses) still allowed. */
  rolloutsRemaining(): Promise<number>
  /** Would evaluating this prompt on these items cost rollouts? (cache lookups only) */
  uncachedCount(content: PromptContent, itemIds: readonly string[]): Promise<number>
  /** Persist a candidate; returns it with its id. Same content twice returns the existing one. */
  save(candidate: NewCandidate): Promise<{ candidate: Candidate; created: boolean }>
}

/** What one round of a strategy did. */
export interface RoundOutcome {
  proposals: number
  accepted: number
  /** The budget ran out before the round finished. */
  exhausted: boolean
  /** No proposer output could be tried (e.g. every minibatch was already perfect). */
  saturated: boolean
}

export const StrategySettings = z.object({
  /** Proposals per round. */
  proposals: z.number().int().min(1).default(4),
  /** Training examples a proposal is screened on (parent and child on the same ones). */
  minibatchSize: z.number().int().min(1).default(4),
  /** Beam search: prompts kept per round. */
  beamWidth: z.number().int().min(1).default(3),
  /** Evolution: population kept. */
  population: z.number().int().min(2).default(8),
  /** GEPA: try a merge of two lineages every this many proposals (0: never). */
  mergeEvery: z.number().int().min(0).default(0),
  /** Designed search (./designed.ts): blind edits along a walk from a model's root, to find sentences. */
  harvest: z.number().int().min(0).default(300),
  /** Designed search: validation items each design is scored on. */
  designItems: z.number().int().min(1).default(4),
  /** Designed search: designs scored at a time (concurrently). */
  designBatch: z.number().int().min(1).default(50),
  /** Designed search: rollouts a model's designs may spend before its first fit. */
  designRollouts: z.number().int().min(1).default(1600),
  /** Designed search: ridge penalty of the logistic model's sentence effects. */
  designRidge: z.number().positive().default(2),
  /** Rank candidates by pooled estimates (./pooled.ts) rather than their own validation means. */
  pooled: z.boolean().default(true),
  /** Ridge penalty of the pooled model's sentence effects, in items (./pooled.ts). */
  ridge: z.number().positive().default(20),
  /** A candidate's own residual counts n / (n + residualPrior) in its pooled estimate (./pooled.ts). */
  residualPrior: z.number().positive().default(200),
})
export type StrategySettings = z.infer<typeof StrategySettings>

export const DEFAULT_STRATEGY_SETTINGS: StrategySettings = StrategySettings.parse({})

export const STRATEGY_NAMES = [
  'random',
  'hill-climb',
  'beam',
  'gepa',
  'gepa-best',
  'gepa-race',
  'pooled-local',
  'designed',
  'evolution',
  'fewshot',
] as const
export type StrategyName = (typeof STRATEGY_NAMES)[number]

/** One round of a search strategy over the pool (mutated in place with new candidates). */
export type StrategyRound = (pool: Candidate[], settings: StrategySettings, ports: SearchPorts) => Promise<RoundOutcome>

export const meanOf = (scores: readonly ItemScore[]): number | null => {
  const xs = scores.map((s) => s.score).filter((s): s is number => s !== null)
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length
}

export const sumOf = (scores: readonly ItemScore[]): number => scores.reduce((a, s) => a + (s.score ?? 0), 0)

/** The candidate a campaign would ship now: best rank score (pooled estimate or validation mean), earliest on ties. */
export function incumbent(pool: readonly Candidate[]): Candidate | null {
  let best: Candidate | null = null
  for (const c of pool) {
    const s = rankScore(c)
    if (c.status === 'rejected' || c.validationMean === null || s === null) continue
    if (best === null || s > (rankScore(best) as number) + 1e-12) best = c
  }
  return best
}
