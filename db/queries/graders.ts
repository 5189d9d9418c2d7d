/**
 * @module db/queries/graders
 * Immutable grader versions. The id is the content hash of the grader's spec and code version,
 * so changing a rubric, a weight or the grading code makes a new version, and every score stays
 * traceable to exactly what produced it. A task's active grader is the last one activated
 * (audited). Trust verdicts from calibration are append-only.
 */
import { and, desc, eq } from 'drizzle-orm'
import { KaizenError, formatPath } from '../../core/errors.js'
import { defaultDqGrader, StoredSpec, type GraderSpec } from '../../core/grader-spec.js'
import { contentHash } from '../../lib/hash.js'
import type { Db } from '../client.js'
import { auditEvents, graderTrust, graderVersions } from '../schema.js'
import { appendAudit } from './audit.js'

/** The first build's deterministic DQ grader: its versions are still graded exactly as then. */
export const DQ_GRADER_CODE_VERSION = 'dq-deterministic@1'
/** Bump when the grading code changes behaviour: old scores then stay tied to the old version. */
export const GRADER_CODE_VERSION = 'kaizen-grader@2'

export function graderVersionIdOf(taskId: string, spec: StoredSpec): string {
  const code = spec.kind === 'dq' ? DQ_GRADER_CODE_VERSION : GRADER_CODE_VERSION
  return `gv_${contentHash({ taskId, spec, code }).slice(0, 16)}`
}

export async function ensureGraderVersion(db: Db, taskId: string, spec: StoredSpec): Promise<string> {
  const id = graderVersionIdOf(taskId, spec)
  const code = spec.kind === 'dq' ? DQ_GRADER_CODE_VERSION : GRADER_CODE_VERSION
  await db
    .insert(graderVersions)
    .values({
      id,
      taskId,
      name: spec.kind === 'dq' ? 'decision-quality' : spec.name,
      spec: spec as unknown as Record<string, unknown>,
      codeVersion: code,
    })
    .onConflictDoNothing({ target: graderVersions.id })
  return id
}

export async function getGraderVersion(db: Db, id: string) {
  const row = await db.query.graderVersions.findFirst({ where: eq(graderVersions.id, id) })
  if (!row) throw new KaizenError('NOT_FOUND', `unknown grader version "${id}"`)
  return row
}

/**
 * Parsed specs by grader version id. A version's id is the content hash of its task, spec and
 * grading code and the row never changes (append-only), so the parse holds for every database.
 */
const specs = new Map<string, StoredSpec>()

export async function getGraderSpec(db: Db, id: string): Promise<StoredSpec> {
  const known = specs.get(id)
  if (known) return known
  const row = await getGraderVersion(db, id)
  if (row.codeVersion !== DQ_GRADER_CODE_VERSION && row.codeVersion !== GRADER_CODE_VERSION) {
    throw new KaizenError(
      'CONFLICT',
      `grader version ${id} was made by ${row.codeVersion}; this build grades with ${GRADER_CODE_VERSION}`,
    )
  }
  const parsed = StoredSpec.safeParse(row.spec)
  if (!parsed.success)
    throw new KaizenError(
      'INTERNAL',
      `grader version ${id} holds an unreadable spec: ` +
        parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '),
    )
  if (specs.size >= 1_000) specs.clear()
  specs.set(id, parsed.data)
  return parsed.data
}

/** The grader a task's campaigns use now (the last activated version, and who activated it), else null. */
export async function activeGrader(db: Db, taskId: string): Promise<{ graderVersionId: string; actor: string } | null> {
  const [row] = await db
    .select({ details: auditEvents.details, actor: auditEvents.actor })
    .from(auditEvents)
    .where(and(eq(auditEvents.taskId, taskId), eq(auditEvents.action, 'grader.activated')))
    .orderBy(desc(auditEvents.id))
    .limit(1)
  const id = (row?.details as { graderVersionId?: string } | undefined)?.graderVersionId
  return row && id ? { graderVersionId: id, actor: row.actor } : null
}

/** The grader a task's campaigns use now: the last activated version, else null. */
export async function activeGraderVersionId(db: Db, taskId: string): Promise<string | null> {
  return (await activeGrader(db, taskId))?.graderVersionId ?? null
}

/**
 * The grader a task uses now: the last activated version (a task file, `kaizen grader set` and a
 * simulated task's registration activate one); a task without one has no grader (CONFIG_ERROR).
 */
export async function currentGraderVersionId(db: Db, task: { id: string }): Promise<string> {
  const active = await activeGraderVersionId(db, task.id)
  if (active) return active
  throw new KaizenError(
    'CONFIG_ERROR',
    `task "${task.id}" has no grader; set one with \`kaizen grader set --task ${task.id} --file grader.yaml\``,
  )
}

export async function activateGrader(
  db: Db,
  input: { taskId: string; spec: GraderSpec; actor: string; source: string },
): Promise<string> {
  const id = await ensureGraderVersion(db, input.taskId, input.spec)
  await appendAudit(db, {
    eventKey: `grader:${input.taskId}:activated:${id}:${Date.now()}`,
    actor: input.actor,
    action: 'grader.activated',
    taskId: input.taskId,
    subjectType: 'grader_version',
    subjectId: id,
    details: { graderVersionId: id, source: input.source },
  })
  return id
}

export interface TrustVerdict {
  trusted: boolean
  id: string
  createdAt: Date
  report: Record<string, unknown>
}

/** The latest calibration verdict of a grader version, if any. */
export async function latestTrust(db: Db, graderVersionId: string): Promise<TrustVerdict | null> {
  const [row] = await db
    .select()
    .from(graderTrust)
    .where(eq(graderTrust.graderVersionId, graderVersionId))
    .orderBy(desc(graderTrust.createdAt))
    .limit(1)
  return row ? { trusted: row.trusted, id: row.id, createdAt: row.createdAt, report: row.report } : null
}
