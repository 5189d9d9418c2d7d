/**
 * @module db/queries/task-file
 * `applyTaskFile`: create or update a team's own task from its task file (core/task-file.ts).
 *
 * - The task row (no scenario), with the file's `search` and `canary` blocks as the defaults its
 *   campaigns start from. A task registered from a simulation scenario is not redefined.
 * - The prompt becomes a human prompt version (same content = same version). The first one goes
 *   to production; a later one stays a draft unless `promote` is asked, and then the production
 *   label moves by compare-and-swap (a move that lost a race changes nothing and says so).
 * - The grader spec becomes the task's active grader version when it differs.
 * - Golden cases become traffic records with their reference (provider `task-file`, no output)
 *   in the task's golden set.
 *
 * Applying the same file again changes nothing. Every change is an audit event.
 */
import { eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { GraderSpec } from '../../core/grader-spec.js'
import { promptOf, type TaskFile } from '../../core/task-file.js'
import { contentHash, promptContentHash } from '../../lib/hash.js'
import type { Db } from '../client.js'
import { promptVersions, tasks, traffic } from '../schema.js'
import { appendAudit } from './audit.js'
import { addGolden } from './golden.js'
import { activateGrader, activeGraderVersionId, graderVersionIdOf } from './graders.js'
import { getLabels, moveLabel } from './labels.js'
import { createPromptVersion } from './prompts.js'

export interface ApplyTaskFileInput {
  task: TaskFile
  /** The grader spec (resolved by the caller when the file names a grader file). */
  grader: GraderSpec
  /** Who applies it (recorded), e.g. `user:alice`. */
  actor: string
  /** Where the definition came from (recorded), e.g. the file's path. */
  source: string
  /** Move production to the file's prompt when it is a new version. */
  promote?: boolean
}

export interface ApplyTaskFileResult {
  taskId: string
  created: boolean
  /** The file's prompt as a version, and whether this call created it. */
  version: { id: string; version: number; created: boolean }
  production: { id: string; version: number }
  /** Production moved to the file's prompt in this call. */
  promoted: boolean
  graderVersionId: string
  graderActivated: boolean
  goldenAdded: number
  /** Anything at all changed. */
  changed: boolean
  /** What happened, one sentence each. */
  lines: string[]
}

/** The task file's campaign defaults as stored on the task (null: none). */
function campaignDefaultsOf(task: TaskFile): NonNullable<typeof tasks.$inferInsert.campaignDefaults> | null {
  if (!task.search && !task.canary) return null
  return { ...(task.search ? { search: task.search } : {}), ...(task.canary ? { canary: task.canary } : {}) }
}

/** Create or update the task row; refuses to redefine a scenario task. Returns what changed. */
async function upsertTask(db: Db, input: ApplyTaskFileInput): Promise<'created' | 'updated' | 'unchanged'> {
  const { task, actor, source } = input
  const fields = {
    title: task.title,
    description: task.description,
    inputFields: task.inputs,
    campaignDefaults: campaignDefaultsOf(task),
  }
  const existing = await db.query.tasks.findFirst({ where: eq(tasks.id, task.id) })
  if (existing?.scenarioId)
    throw new KaizenError(
      'CONFLICT',
      `id: task "${task.id}" is the simulated task of scenario ${existing.scenarioId}; ` +
        'give your own task another id; nothing was changed',
      { details: { fields: ['id'] } },
    )
  const audit = (action: string, key: string) =>
    appendAudit(db, {
      eventKey: `task:${task.id}:${key}`,
      actor,
      action,
      taskId: task.id,
      subjectType: 'task',
      subjectId: task.id,
      details: { ...fields, source },
    })
  if (!existing) {
    const inserted = await db
      .insert(tasks)
      .values({ id: task.id, scenarioId: null, ...fields })
      .onConflictDoNothing({ target: tasks.id })
      .returning({ id: tasks.id })
    if (inserted.length > 0) {
      await audit('task.created', 'created')
      return 'created'
    }
    return upsertTask(db, input) // created concurrently: compare with that row
  }
  const same =
    existing.title === fields.title &&
    existing.description === fields.description &&
    JSON.stringify(existing.inputFields) === JSON.stringify(fields.inputFields) &&
    contentHash(existing.campaignDefaults ?? null) === contentHash(fields.campaignDefaults)
  if (same) return 'unchanged'
  await db.update(tasks).set(fields).where(eq(tasks.id, task.id))
  await audit('task.updated', `updated:${contentHash(fields).slice(0, 16)}`)
  return 'updated'
}

/** Put the version in production: the first version of a task, or a promotion asked for. */
async function placeVersion(db: Db, input: ApplyTaskFileInput, versionId: string) {
  const { task, actor, source } = input
  const current = (await getLabels(db, task.id)).production
  if (current?.promptVersionId === versionId) return { promoted: false, conflict: null }
  if (current && !input.promote) return { promoted: false, conflict: null }
  const move = await moveLabel(db, {
    moveKey: `apply:${task.id}:production:${current?.promptVersionId ?? 'none'}:${versionId}`,
    taskId: task.id,
    label: 'production',
    toVersionId: versionId,
    weight: 1,
    canaryId: null,
    reason: current ? `promoted from the task file ${source}` : `first version, from the task file ${source}`,
    actor,
    expect: current ? { versionId: current.promptVersionId } : { absent: true },
    audit: {
      action: current ? 'prompt.promoted' : 'prompt.production-set',
      subjectType: 'prompt_version',
      subjectId: versionId,
      details: { from: current?.promptVersionId ?? null, source },
    },
  })
  return { promoted: move.moved || move.alreadyApplied, conflict: move.conflict }
}

/** Golden cases as traffic records with a reference, in the golden set. Returns how many were added. */
async function applyGolden(db: Db, input: ApplyTaskFileInput, productionId: string): Promise<number> {
  const { task, actor, source } = input
  if (task.golden.length === 0) return 0
  const ids = task.golden.map((g) => `golden_${contentHash({ task: task.id, g }).slice(0, 20)}`)
  await db
    .insert(traffic)
    .values(
      task.golden.map((g, i) => ({
        id: ids[i] as string,
        taskId: task.id,
        promptVersionId: productionId,
        routingKey: 'golden:task-file',
        input: g.input,
        output: null,
        reference: g.reference as never,
        provider: 'task-file',
        model: task.model,
        simulated: false,
      })),
    )
    .onConflictDoNothing({ target: traffic.id })
  const added = await addGolden(db, { taskId: task.id, trafficIds: ids, actor, note: `from the task file ${source}` })
  return added.length
}

export async function applyTaskFile(db: Db, input: ApplyTaskFileInput): Promise<ApplyTaskFileResult> {
  const { task, actor } = input
  const taskState = await upsertTask(db, input)
  const content = promptOf(task)
  const known = await db.query.promptVersions.findFirst({
    where: eq(promptVersions.contentHash, promptContentHash(task.id, content)),
    columns: { id: true },
  })
  const version = await createPromptVersion(db, {
    taskId: task.id,
    content,
    origin: 'human',
    operator: 'task-file',
    createdBy: actor,
  })
  const placed = await placeVersion(db, input, version.id)
  if (placed.conflict)
    throw new KaizenError(
      'CONFLICT',
      `the production label of "${task.id}" moved while this was applied (${placed.conflict}); ` +
        `nothing was promoted; version ${version.version} is a draft. Apply again to retry`,
    )
  const production = (await getLabels(db, task.id)).production
  const productionVersion = production?.promptVersionId === version.id ? version.version : null
  const productionId = production?.promptVersionId ?? version.id
  const graderVersionId = graderVersionIdOf(task.id, input.grader)
  const graderActivated = (await activeGraderVersionId(db, task.id)) !== graderVersionId
  if (graderActivated) await activateGrader(db, { taskId: task.id, spec: input.grader, actor, source: input.source })
  const goldenAdded = await applyGolden(db, input, productionId)
  const prod =
    productionVersion ??
    (await db.query.promptVersions.findFirst({ where: eq(promptVersions.id, productionId) }))?.version ??
    0
  const lines = [
    taskState === 'created'
      ? `Task "${task.id}" created.`
      : taskState === 'updated'
        ? `Task "${task.id}" updated (title, description or inputs).`
        : `Task "${task.id}" unchanged.`,
    known
      ? `Its prompt is version ${version.version} (unchanged).`
      : `Its prompt is a new version, ${version.version}.`,
    placed.promoted
      ? `Production is now version ${version.version}.`
      : productionId === version.id
        ? `Production is version ${version.version}.`
        : `Version ${version.version} is a draft; production stays on version ${prod}. ` +
          `Promote it with \`kaizen prompts promote ${task.id}@${version.version}\` or apply with --promote.`,
    graderActivated ? `Grader ${graderVersionId} is now active (calibrate it before a canary).` : `Grader unchanged.`,
    ...(task.golden.length > 0 ? [`Golden set: ${goldenAdded} case(s) added, ${task.golden.length} in the file.`] : []),
  ]
  return {
    taskId: task.id,
    created: taskState === 'created',
    version: { id: version.id, version: version.version, created: !known },
    production: { id: productionId, version: prod },
    promoted: placed.promoted,
    graderVersionId,
    graderActivated,
    goldenAdded,
    changed: taskState !== 'unchanged' || !known || placed.promoted || graderActivated || goldenAdded > 0,
    lines,
  }
}
