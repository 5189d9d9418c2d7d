/**
 * @module core/simulated-task
 * What a simulated task brings to be registered like any other task: the task row's fields, its
 * seed prompt and its grader (sim/task.ts builds it from a scenario; db/queries/tasks.ts stores it).
 */
import type { GraderSpec } from './grader-spec.js'
import type { PromptContent } from './prompt.js'

export interface SimulatedTaskDefinition {
  id: string
  title: string
  description: string
  /** The scenario whose simulated world answers this task's traffic. */
  scenarioId: string
  inputFields: string[]
  prompt: PromptContent
  grader: GraderSpec
  /** Who registers it (audit actor). */
  actor: string
}
