/**
 * In-memory search ports for the search benchmark: the simulated model answers each example
 * (a Bernoulli draw from its exact success probability, fixed per prompt text and example), the
 * observed score is 1 or 0, failures carry the world's textual feedback, and every cache miss on
 * a (prompt, example) pair is one rollout. The same ports drive every strategy.
 */
import type { PromptContent } from '../../core/prompt.js'
import { Rng } from '../../core/rng.js'
import type { Candidate, ItemScore, SearchPorts } from '../../core/search/types.js'
import { SimulationProposer } from '../../sim/proposer.js'
import type { SimWorld } from '../../sim/world.js'

export interface BenchPorts extends SearchPorts {
  pool: Candidate[]
  rollouts(): number
  proposerCalls(): number
  /** Called before every evaluation (the benchmark samples the incumbent there). */
  onEvaluate?: () => void
}

export function benchPorts(world: SimWorld, options: { seed: string; budget: number; trainIds: string[]; validationIds: string[]; hallucination?: number }): BenchPorts {
  const cache = new Map<string, ItemScore>()
  const proposer = new SimulationProposer(world, options.hallucination === undefined ? {} : { hallucination: options.hallucination })
  const model = world.scenario.task.prompt.model
  const key = (c: PromptContent, id: string) => `${c.system}\u0000${id}`
  let proposerCalls = 0
  const pool: Candidate[] = []
  const ports: BenchPorts = {
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
          const r = world.respond(content.system, world.example(id), model, 0)
          hit = { itemId: id, score: r.success ? 1 : 0, feedback: r.success ? null : r.feedback }
          cache.set(k, hit)
        }
        return hit
      })
    },
    async propose(parent, failures) {
      proposerCalls++
      return proposer.propose(parent, failures, ports.rng)
    },
    async mutate(parent) {
      proposerCalls++
      return proposer.mutate(parent, ports.rng)
    },
    async rolloutsRemaining() {
      return options.budget - cache.size
    },
    async uncachedCount(content, ids) {
      return ids.filter((id) => !cache.has(key(content, id))).length
    },
    async save(c) {
      const existing = pool.find((p) => p.content.system === c.content.system)
      if (existing) return { candidate: existing, created: false }
      return { candidate: { id: `c${pool.length}`, content: c.content, parentIds: c.parentIds, operator: c.operator, status: c.status, validationMean: c.validationMean }, created: true }
    },
  }
  return ports
}
