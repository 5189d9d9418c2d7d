/**
 * In-memory search ports over the simulation world for unit tests of search strategies: the
 * shared memory ports (sim/memory-ports.ts), with the simulated answers graded by Decision Quality.
 */
import { renderMessages } from '../../core/prompt.js'
import { gradeDq } from '../../graders/dq.js'
import { DqSpec } from '../../core/grader-spec.js'
import { memoryPorts as shared, type MemoryPorts } from '../../sim/memory-ports.js'
import type { SimWorld } from '../../sim/world.js'

export type { MemoryPorts } from '../../sim/memory-ports.js'

export function memoryPorts(
  world: SimWorld,
  options: { seed: string; budget: number; train: number; validation: number },
): MemoryPorts {
  const spec = DqSpec.parse({ kind: 'dq', ...world.scenario.grading })
  return shared(world, {
    seed: options.seed,
    budget: options.budget,
    trainIds: Array.from({ length: options.train }, (_, i) => `train-${i}`),
    validationIds: Array.from({ length: options.validation }, (_, i) => `val-${i}`),
    promptText: (content, ex) =>
      renderMessages(content, ex.input)
        .map((m) => `${m.role}: ${m.content}`)
        .join('\n'),
    score: (answer, ex) => gradeDq({ output: answer.text, input: ex.input, reference: ex.reference }, spec).score,
  })
}
