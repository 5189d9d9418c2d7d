/**
 * @module sim/memory-ports
 * In-memory search ports over the simulation world, for the search benchmark and the strategies'
 * unit tests: the simulated model answers each example (a draw fixed per prompt text and
 * example), failures carry the world's textual feedback, every cache miss on a (prompt, example)
 * pair is one rollout, and the simulated proposer reflects and edits. By default the observed
 * score is success (1 or 0); `score` can grade the simulated answer instead (e.g. with DQ).
 * The campaign's own ports, backed by Postgres, are activities/search-ports.ts.
 */
import { renderTemplate, type PromptContent } from '../core/prompt.js'
import { Rng } from '../core/rng.js'
import type { Candidate, DemonstrationSource, ItemScore, SearchPorts } from '../core/search/types.js'
import { SimulationProposer } from './proposer.js'
import type { SimResponse, SimWorld } from './world.js'
import type { SimExample } from './generator.js'

/** How an answer is scored: 0–1 (null: ungradable). */
export type SimScorer = (answer: SimResponse, example: SimExample, content: PromptContent) => number | null

export interface MemoryPorts extends SearchPorts {
  pool: Candidate[]
  rollouts(): number
  proposerCalls(): number
  /** Called before every evaluation (the benchmark samples the incumbent there). */
  onEvaluate?: () => void
}

export function memoryPorts(
  world: SimWorld,
  options: {
    seed: string
    budget: number
    trainIds: string[]
    validationIds: string[]
    hallucination?: number
    score?: SimScorer
    promptText?: (content: PromptContent, example: SimExample) => string
  },
): MemoryPorts {
  const cache = new Map<string, ItemScore>()
  const proposer = new SimulationProposer(
    world,
    options.hallucination === undefined ? {} : { hallucination: options.hallucination },
  )
  const key = (c: PromptContent, id: string) =>
    `${c.model}\u0000${c.system}\u0000${c.user}\u0000${c.examples?.length ? JSON.stringify(c.examples) : ''}\u0000${id}`
  let proposerCalls = 0
  let demoSources: DemonstrationSource[] | null = null
  const pool: Candidate[] = []
  const saved = new Map<string, Candidate>()
  const ports: MemoryPorts = {
    pool,
    rng: Rng.fromSeed(options.seed),
    trainIds: options.trainIds,
    validationIds: options.validationIds,
    maxSentences: world.scenario.task.maxClauses,
    rollouts: () => cache.size,
    proposerCalls: () => proposerCalls,
    async evaluate(content, ids) {
      ports.onEvaluate?.()
      return ids.map((id) => {
        const k = key(content, id)
        let hit = cache.get(k)
        if (!hit) {
          const ex = world.example(id)
          const demos = (content.examples ?? []).map((d) => renderTemplate(content.user, d.input))
          const text = options.promptText ? options.promptText(content, ex) : [content.system, ...demos].join('\n')
          const r = world.respond(text, ex, content.model, 0, demos)
          const score = options.score ? options.score(r, ex, content) : r.success ? 1 : 0
          hit = { itemId: id, score, feedback: score !== null && score >= 0.999 ? null : r.feedback }
          cache.set(k, hit)
        }
        return hit
      })
    },
    async propose(parent, failures, rng) {
      proposerCalls++
      return proposer.propose(parent, failures, rng ?? ports.rng)
    },
    async mutate(parent, rng) {
      proposerCalls++
      return proposer.mutate(parent, rng ?? ports.rng)
    },
    async groupInstructions(found) {
      proposerCalls++
      return proposer.group(found)
    },
    async knownScores(content, ids) {
      return ids.map((id) => cache.get(key(content, id))).filter((s): s is ItemScore => s !== undefined)
    },
    async demonstrations() {
      // Production answers of the training items: the seed prompt's answer (a draw of its own),
      // kept when it succeeded (high DQ).
      if (!demoSources) {
        const seed = world.scenario.task.prompt
        demoSources = options.trainIds.flatMap((id) => {
          const ex = world.example(id)
          const r = world.respond(seed.system, ex, seed.model, 1)
          const score = options.score ? options.score(r, ex, seed) : r.success ? 1 : 0
          return score !== null && score >= 0.8
            ? [{ itemId: id, demonstration: { input: ex.input, output: r.text }, score }]
            : []
        })
      }
      return demoSources
    },
    async rolloutsRemaining() {
      return options.budget - cache.size
    },
    async uncachedCount(content, ids) {
      return ids.filter((id) => !cache.has(key(content, id))).length
    },
    async save(c) {
      // Saved candidates by content, so a strategy working on a part of the pool (one model's
      // candidates) neither saves a prompt twice nor reuses an id.
      const contentKey = JSON.stringify([c.content.model, c.content.system, c.content.examples ?? []])
      const existing =
        saved.get(contentKey) ??
        pool.find((p) => JSON.stringify([p.content.model, p.content.system, p.content.examples ?? []]) === contentKey)
      if (existing) return { candidate: existing, created: false }
      const candidate: Candidate = {
        id: `c${Math.max(pool.length, saved.size + 1)}`,
        content: c.content,
        parentIds: c.parentIds,
        operator: c.operator,
        status: c.status,
        validationMean: c.validationMean,
      }
      saved.set(contentKey, candidate)
      return { candidate, created: true }
    },
  }
  return ports
}
