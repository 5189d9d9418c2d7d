/**
 * In-memory ports for unit tests of searches over models: the shared memory ports
 * (sim/memory-ports.ts, success as the score) with production — the scenario's prompt on sim-large —
 * fully validated in the pool as the seed candidate `prod`.
 */
import type { PromptContent } from '../../core/prompt.js'
import { memoryPorts, type MemoryPorts } from '../../sim/memory-ports.js'
import type { SimWorld } from '../../sim/world.js'

export async function withProduction(
  world: SimWorld,
  options: { seed: string; budget: number; validation: number },
): Promise<{ ports: MemoryPorts; production: PromptContent }> {
  const trainIds = Array.from({ length: 60 }, (_, i) => `train-${i}`)
  const validationIds = Array.from({ length: options.validation }, (_, i) => `val-${i}`)
  const ports = memoryPorts(world, { seed: options.seed, budget: options.budget, trainIds, validationIds })
  const production = { ...world.scenario.task.prompt, model: 'sim-large' }
  const scores = await ports.evaluate(production, validationIds)
  ports.pool.push({
    id: 'prod',
    content: production,
    parentIds: [],
    operator: 'seed',
    status: 'seed',
    validationMean: scores.reduce((a, s) => a + (s.score ?? 0), 0) / scores.length,
  })
  return { ports, production }
}
