/**
 * In-memory search ports over the simulation world, for unit tests of search strategies:
 * evaluation cache and rollout ledger in a Map, DQ grading of the simulated answers.
 */
import { renderMessages, type PromptContent } from '../../core/prompt.js'
import { Rng } from '../../core/rng.js'
import type { Candidate, ItemScore, SearchPorts } from '../../core/search/types.js'
import { DqSpec } from '../../graders/types.js'
import { gradeDq } from '../../graders/dq.js'
import { SimulationProposer } from '../../sim/proposer.js'
import type { SimWorld } from '../../sim/world.js'

export interface MemoryPorts extends SearchPorts {
  pool: Candidate[]
  rollouts(): number
  proposerCalls(): number
}

export function memoryPorts(world: SimWorld, options: { seed: string; budget: number; train: number; validation: number }): MemoryPorts {
  const spec = DqSpec.parse({ kind: 'dq', ...world.scenario.grading })
  const cache = new Map<string, ItemScore>()
  const proposer = new SimulationProposer(world)
  const trainIds = Array.from({ length: options.train }, (_, i) => `train-${i}`)
  const validationIds = Array.from({ length: options.validation }, (_, i) => `val-${i}`)
  const key = (c: PromptContent, id: string) => `${c.model}\u0000${c.system}\u0000${c.user}\u0000${id}`
  let proposerCalls = 0
  const pool: Candidate[] = []
  const ports: MemoryPorts = {
    pool,
    rng: Rng.fromSeed(options.seed),
    trainIds,
    validationIds,
    rollouts: () => cache.size,
    proposerCalls: () => proposerCalls,
    async evaluate(content, ids) {
      return ids.map((id) => {
        const k = key(content, id)
        let hit = cache.get(k)
        if (!hit) {
          const ex = world.example(id)
          const text = renderMessages(content, ex.input).map((m) => `${m.role}: ${m.content}`).join('\n')
          const answer = world.respond(text, ex, content.model, 0)
          const g = gradeDq({ output: answer.text, input: ex.input, reference: ex.reference }, spec)
          hit = { itemId: id, score: g.score, feedback: g.score !== null && g.score >= 0.999 ? null : answer.feedback }
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
    maxSentences: world.scenario.task.maxClauses,
    async rolloutsRemaining() {
      return options.budget - cache.size
    },
    async uncachedCount(content, ids) {
      return ids.filter((id) => !cache.has(key(content, id))).length
    },
    async save(c) {
      const existing = pool.find((p) => p.content.system === c.content.system)
      if (existing) return { candidate: existing, created: false }
      const candidate: Candidate = { id: `c${pool.length}`, content: c.content, parentIds: c.parentIds, operator: c.operator, status: c.status, validationMean: c.validationMean }
      return { candidate, created: true }
    },
  }
  return ports
}
