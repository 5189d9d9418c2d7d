/**
 * @module db/queries/tokens
 * API tokens with scopes. The secret (`kz_…`) is returned once, at creation; only its SHA-256
 * hash is stored, so a leaked database does not leak usable tokens. Creation and revocation are
 * audited.
 */
import { createHash, randomBytes } from 'node:crypto'
import { and, asc, eq, isNull } from 'drizzle-orm'
import { z } from 'zod'
import { KaizenError, fromZodError } from '../../core/errors.js'
import { TaskPattern } from '../../core/task-scope.js'
import type { Db } from '../client.js'
import { apiTokens } from '../schema.js'
import { appendAudit } from './audit.js'

export const SCOPES = ['ingest', 'read', 'operate', 'approve'] as const
export type Scope = (typeof SCOPES)[number]

export type ApiTokenRow = typeof apiTokens.$inferSelect

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex')

const NewToken = z
  .object({
    name: z.string().trim().min(1, 'give the token a name (who or what uses it)').max(100),
    scopes: z
      .array(z.enum(SCOPES, { message: `use some of ${SCOPES.join(', ')}` }))
      .min(1, `give at least one scope: ${SCOPES.join(', ')}`),
    person: z.string().trim().min(2, 'name the person (an email or username)').max(200).optional(),
    role: z.string().trim().min(1).max(100).optional(),
    /** Task id patterns the token may act on (absent: every task). */
    tasks: z.array(TaskPattern).min(1, 'name at least one task or pattern (e.g. support-*)').optional(),
    createdBy: z.string().trim().min(1, 'say who creates the token'),
  })
  .superRefine((t, ctx) => {
    // Approvals need a human identity: an approve token belongs to one person, and its approvals are recorded under
    // that name.
    if (t.scopes.includes('approve') && !t.person)
      ctx.addIssue({
        code: 'custom',
        path: ['person'],
        message: 'the approve scope needs the person who approves with this token (--person alice@example.com)',
      })
    if (t.role && !t.person)
      ctx.addIssue({ code: 'custom', path: ['role'], message: 'a role belongs to a person: give --person too' })
  })

export async function createToken(
  db: Db,
  input: z.input<typeof NewToken>,
): Promise<{ token: ApiTokenRow; secret: string }> {
  const parsed = NewToken.safeParse(input)
  if (!parsed.success) throw fromZodError(parsed.error, 'token')
  const secret = `kz_${randomBytes(32).toString('base64url')}`
  const id = `tok_${randomBytes(8).toString('hex')}`
  const scopes = [...new Set(parsed.data.scopes)].sort()
  return db.transaction(async (tx) => {
    const { name, person = null, role = null, createdBy } = parsed.data
    const tasks = parsed.data.tasks ? [...new Set(parsed.data.tasks)].sort() : null
    const [token] = await tx
      .insert(apiTokens)
      .values({ id, name, secretHash: hashSecret(secret), scopes, person, role, tasks, createdBy })
      .returning()
    await appendAudit(tx, {
      eventKey: `token:${id}:created`,
      actor: createdBy,
      action: 'token.created',
      taskId: null,
      subjectType: 'api-token',
      subjectId: id,
      details: { name, scopes, person, role, tasks },
    })
    return { token: token as ApiTokenRow, secret }
  })
}

/** The live (not revoked) token with this secret, or null. */
export async function findToken(db: Db, secret: string): Promise<ApiTokenRow | null> {
  const [row] = await db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.secretHash, hashSecret(secret)), isNull(apiTokens.revokedAt)))
  return row ?? null
}

/** A token by its id, unless revoked (console sessions hold the id, never the secret). */
export async function findTokenById(db: Db, id: string): Promise<ApiTokenRow | null> {
  const [row] = await db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
  return row ?? null
}

/** The tokens issued to a person, not revoked (the console's identity from an SSO proxy's header). */
export async function tokensOfPerson(db: Db, person: string): Promise<ApiTokenRow[]> {
  return db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.person, person), isNull(apiTokens.revokedAt)))
}

export async function listTokens(db: Db): Promise<ApiTokenRow[]> {
  return db.select().from(apiTokens).orderBy(asc(apiTokens.createdAt), asc(apiTokens.id))
}

export async function revokeToken(db: Db, id: string, actor: string): Promise<ApiTokenRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(apiTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
      .returning()
    if (!row) {
      const exists = await tx.select({ id: apiTokens.id }).from(apiTokens).where(eq(apiTokens.id, id))
      throw exists.length > 0
        ? new KaizenError('CONFLICT', `token ${id} is already revoked`)
        : new KaizenError('NOT_FOUND', `unknown token "${id}"; \`kaizen token list\` shows them`)
    }
    await appendAudit(tx, {
      eventKey: `token:${id}:revoked`,
      actor,
      action: 'token.revoked',
      taskId: null,
      subjectType: 'api-token',
      subjectId: id,
      details: { name: row.name },
    })
    return row
  })
}
