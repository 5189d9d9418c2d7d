/**
 * @module db/queries/tasks
 * Register a simulated task (a scenario's task, supplied by the simulation provider): the task
 * row, its seed prompt as version 1 (origin: human), the production label on it, and its grader,
 * activated when the task has none (or still has the one an earlier registration activated).
 * Idempotent: running it again changes nothing.
 */
import type { SimulatedTaskDefinition } from '../../core/simulated-task.js'
import type { Db } from '../client.js'
import { tasks } from '../schema.js'
import { activateGrader, activeGrader, graderVersionIdOf } from './graders.js'
import { getLabels, moveLabel } from './labels.js'
import { createPromptVersion, type PromptVersionRow } from './prompts.js'

export type SimulatedTask = SimulatedTaskDefinition

export interface RegisteredTask {
  taskId: string
  created: boolean
  seedVersion: PromptVersionRow
  productionVersionId: string
  graderVersionId: string
}

export async function registerSimulatedTask(db: Db, t: SimulatedTask): Promise<RegisteredTask> {
  const inserted = await db
    .insert(tasks)
    .values({
      id: t.id,
      title: t.title,
      description: t.description,
      scenarioId: t.scenarioId,
      inputFields: t.inputFields,
    })
    .onConflictDoNothing({ target: tasks.id })
    .returning({ id: tasks.id })
  const seedVersion = await createPromptVersion(db, {
    taskId: t.id,
    content: t.prompt,
    origin: 'human',
    operator: 'seed',
    createdBy: t.actor,
  })
  // Only a task without a production version gets the seed prompt there.
  await moveLabel(db, {
    moveKey: `register:${t.id}:production`,
    taskId: t.id,
    label: 'production',
    toVersionId: seedVersion.id,
    weight: 1,
    canaryId: null,
    reason: `task registered from scenario ${t.scenarioId}`,
    actor: t.actor,
    expect: { absent: true },
  })
  const graderVersionId = await registerGrader(db, t)
  const production = (await getLabels(db, t.id)).production
  return {
    taskId: t.id,
    created: inserted.length > 0,
    seedVersion,
    productionVersionId: production?.promptVersionId ?? seedVersion.id,
    graderVersionId,
  }
}

/**
 * The scenario's grader becomes the active one when the task has none, or when the active one came
 * from an earlier registration (the scenario file changed); a grader a person set stays.
 */
async function registerGrader(db: Db, t: SimulatedTask): Promise<string> {
  const id = graderVersionIdOf(t.id, t.grader)
  const active = await activeGrader(db, t.id)
  if (active && (active.graderVersionId === id || active.actor !== t.actor)) return active.graderVersionId
  return activateGrader(db, { taskId: t.id, spec: t.grader, actor: t.actor, source: `scenario ${t.scenarioId}` })
}
