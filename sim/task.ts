/**
 * @module sim/task
 * A scenario as a task definition: the task row's fields, its seed prompt and its grader. This is
 * all a scenario supplies to the rest of Kaizen besides its simulated model (providers/simulation),
 * so a simulated task is registered and graded like any other.
 */
import { defaultDqGrader, type GraderSpec } from '../core/grader-spec.js'
import type { SimulatedTaskDefinition } from '../core/simulated-task.js'
import type { Scenario } from './scenario.js'

export type { SimulatedTaskDefinition }

/** The scenario's grader: a full spec in `grading.grader`, else Decision Quality from its settings. */
export function graderSpecFromScenario(scenario: Scenario): GraderSpec {
  const { grader, ...settings } = scenario.grading as Scenario['grading'] & { grader?: GraderSpec }
  return grader ?? defaultDqGrader({ ...settings, passThreshold: 0.7 })
}

export function taskOfScenario(scenario: Scenario): SimulatedTaskDefinition {
  const t = scenario.task
  return {
    id: t.id,
    title: t.title,
    description: t.description,
    scenarioId: scenario.id,
    inputFields: t.inputFields,
    prompt: t.prompt,
    grader: graderSpecFromScenario(scenario),
    actor: `scenario:${scenario.id}`,
  }
}
