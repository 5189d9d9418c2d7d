/**
 * @module db/queries/tasks
 * Register a scenario's task: the task row, its seed prompt as version 1 (origin: human), the
 * production label on it, and its grader version. Idempotent: running it again changes nothing.
 */
import { eq } from 'drizzle-orm'
import type { Scenario } from '../../sim/scenario.js'
import type { Db } from '../client.js'
import { tasks } from '../schema.js'
import { ensureGraderVersion, graderSpecFromScenario } from './graders.js'
import { getLabels, moveLabel } from './labels.js'
import { createPromptVersion, type PromptVersionRow } from './prompts.js'

export interface RegisteredTask {
  taskId: string
  created: boolean
  seedVersion: PromptVersionRow
  productionVersionId: string
  graderVersionId: string
}

export async function registerScenarioTask(db: Db, scenario: Scenario): Promise<RegisteredTask> {
  const t = scenario.task
  const inserted = await db
    .insert(tasks)
    .values({
      id: t.id,
      title: t.title,
      description: t.description,
      scenarioId: scenario.id,
      inputFields: t.inputFields,
    })
    .onConflictDoNothing({ target: tasks.id })
    .returning({ id: tasks.id })
  const seedVersion = await createPromptVersion(db, {
    taskId: t.id,
    content: t.prompt,
    origin: 'human',
    operator: 'seed',
    createdBy: `scenario:${scenario.id}`,
  })
  // Only a task without a production version gets the seed prompt there.
  await moveLabel(db, {
    moveKey: `register:${t.id}:production`,
    taskId: t.id,
    label: 'production',
    toVersionId: seedVersion.id,
    weight: 1,
    canaryId: null,
    reason: `task registered from scenario ${scenario.id}`,
    actor: `scenario:${scenario.id}`,
    expect: { absent: true },
  })
  const graderVersionId = await ensureGraderVersion(db, t.id, graderSpecFromScenario(scenario))
  const production = (await getLabels(db, t.id)).production
  return {
    taskId: t.id,
    created: inserted.length > 0,
    seedVersion,
    productionVersionId: production?.promptVersionId ?? seedVersion.id,
    graderVersionId,
  }
}

export async function getTaskScenarioId(db: Db, taskId: string): Promise<string | null> {
  const row = await db.query.tasks.findFirst({ where: eq(tasks.id, taskId), columns: { scenarioId: true } })
  return row?.scenarioId ?? null
}
