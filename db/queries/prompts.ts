/**
 * @module db/queries/prompts
 * Immutable prompt versions: created once per distinct content, numbered per task.
 */
import { and, desc, eq, sql } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { PromptContent } from '../../core/prompt.js'
import { promptContentHash } from '../../lib/hash.js'
import type { Db } from '../client.js'
import { promptVersions, tasks } from '../schema.js'

export type PromptVersionRow = typeof promptVersions.$inferSelect

export function contentOf(row: PromptVersionRow): PromptContent {
  return {
    system: row.system,
    user: row.userTemplate,
    model: row.model,
    params: row.params,
    ...(row.examples?.length ? { examples: row.examples } : {}),
  }
}

export interface NewPromptVersion {
  taskId: string
  content: PromptContent
  parentIds?: string[]
  origin: 'human' | 'campaign'
  campaignId?: string | null
  operator?: string | null
  createdBy: string
}

/**
 * Create the version for this content, or return the existing one (same content = same version).
 * Version numbers are assigned under a per-task advisory lock, so concurrent writers never clash.
 */
export async function createPromptVersion(db: Db, input: NewPromptVersion): Promise<PromptVersionRow> {
  const hash = promptContentHash(input.taskId, input.content)
  const existing = await db.query.promptVersions.findFirst({
    where: and(eq(promptVersions.taskId, input.taskId), eq(promptVersions.contentHash, hash)),
  })
  if (existing) return existing
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`kaizen-prompt-version:${input.taskId}`}))`)
    const again = await tx.query.promptVersions.findFirst({
      where: and(eq(promptVersions.taskId, input.taskId), eq(promptVersions.contentHash, hash)),
    })
    if (again) return again
    const [{ next } = { next: 1 }] = await tx
      .select({ next: sql<number>`coalesce(max(${promptVersions.version}), 0) + 1` })
      .from(promptVersions)
      .where(eq(promptVersions.taskId, input.taskId))
    const [row] = await tx
      .insert(promptVersions)
      .values({
        id: `pv_${hash.slice(0, 16)}`,
        taskId: input.taskId,
        version: Number(next),
        contentHash: hash,
        system: input.content.system,
        userTemplate: input.content.user,
        model: input.content.model,
        params: input.content.params,
        examples: input.content.examples?.length ? input.content.examples : null,
        parentIds: input.parentIds ?? [],
        origin: input.origin,
        campaignId: input.campaignId ?? null,
        operator: input.operator ?? null,
        createdBy: input.createdBy,
      })
      .returning()
    return row as PromptVersionRow
  })
}

export async function getPromptVersion(db: Db, id: string): Promise<PromptVersionRow> {
  const row = await db.query.promptVersions.findFirst({ where: eq(promptVersions.id, id) })
  if (!row)
    throw new KaizenError(
      'NOT_FOUND',
      `unknown prompt version "${id}"; list versions with \`kaizen prompts list --task <task>\``,
    )
  return row
}

/** Find a version by id (`pv_…`) or by `task@N` / `N` within a task. */
export async function findPromptVersion(db: Db, ref: string, taskId?: string): Promise<PromptVersionRow> {
  const at = /^(?:([a-z0-9][a-z0-9._-]*)@)?v?(\d+)$/.exec(ref)
  if (at) {
    const task = at[1] ?? taskId
    if (!task) throw new KaizenError('INVALID_INPUT', `version "${ref}" needs a task: use <task>@${at[2]} or --task`)
    const row = await db.query.promptVersions.findFirst({
      where: and(eq(promptVersions.taskId, task), eq(promptVersions.version, Number(at[2]))),
    })
    if (!row)
      throw new KaizenError(
        'NOT_FOUND',
        `task "${task}" has no prompt version ${at[2]}; list versions with \`kaizen prompts list --task ${task}\``,
      )
    return row
  }
  return getPromptVersion(db, ref)
}

export async function listPromptVersions(db: Db, taskId: string): Promise<PromptVersionRow[]> {
  return db.select().from(promptVersions).where(eq(promptVersions.taskId, taskId)).orderBy(desc(promptVersions.version))
}

export async function requireTask(db: Db, taskId: string): Promise<typeof tasks.$inferSelect> {
  const task = await db.query.tasks.findFirst({ where: eq(tasks.id, taskId) })
  if (!task) {
    const known = (await db.select({ id: tasks.id }).from(tasks)).map((t) => t.id)
    throw new KaizenError(
      'NOT_FOUND',
      `unknown task "${taskId}" (known tasks: ` +
        `${known.join(', ') || 'none yet; run `kaizen up` or `kaizen demo --once`'})`,
    )
  }
  return task
}
