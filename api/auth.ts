/**
 * @module api/auth
 * Bearer-token authentication with scopes. A token is looked up by the SHA-256 of its secret;
 * lookups are cached for `ttlMs` (10 s, refreshed ahead, single-flight: lib/refreshing-cache.ts), so
 * a revocation takes effect everywhere within that time.
 * A request without a valid token gets 401; a valid token without the route's scope gets 403
 * naming the scope it needs. A token limited to some tasks (`kaizen token create --tasks
 * 'support-*'`) gets 403 for any other task, naming it: one team's token cannot write another
 * team's traffic or move its labels.
 */
import type { MiddlewareHandler } from 'hono'
import { KaizenError } from '../core/errors.js'
import { tasksRefused } from '../core/task-scope.js'
import type { Db } from '../db/client.js'
import { findToken, type ApiTokenRow, type Scope } from '../db/queries/tokens.js'
import { RefreshingCache } from '../lib/refreshing-cache.js'

export type AuthEnv = { Variables: { token: ApiTokenRow } }

export class TokenCache {
  private readonly cache: RefreshingCache<string, ApiTokenRow | null>
  constructor(db: Db, ttlMs = 10_000) {
    this.cache = new RefreshingCache((secret) => findToken(db, secret), ttlMs)
  }

  lookup(secret: string): Promise<ApiTokenRow | null> {
    return this.cache.get(secret)
  }
}

export function requireScope(tokens: TokenCache, scope: Scope): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? ''
    const m = /^Bearer\s+(\S+)$/i.exec(header)
    if (!m)
      throw new KaizenError(
        'UNAUTHENTICATED',
        'send an API token as `Authorization: Bearer kz_…` (`kaizen token create` makes one)',
      )
    const token = await tokens.lookup(m[1] as string)
    if (!token) throw new KaizenError('UNAUTHENTICATED', 'the API token is unknown or revoked')
    if (!token.scopes.includes(scope))
      throw new KaizenError(
        'FORBIDDEN',
        `token "${token.name}" lacks the "${scope}" scope this route needs (it has: ${token.scopes.join(', ')})`,
      )
    c.set('token', token)
    await next()
  }
}

/** Refuse (403) when the request's token may not act on one of these tasks; names them and the token's limit. */
export function requireTasks(token: ApiTokenRow, taskIds: Iterable<string>, where?: string): void {
  const refused = tasksRefused(token.tasks, taskIds)
  if (refused.length === 0) return
  throw new KaizenError(
    'FORBIDDEN',
    `token "${token.name}" may not act on task${refused.length > 1 ? 's' : ''} ` +
      `${refused.map((t) => `"${t}"`).join(', ')}${where ? ` (${where})` : ''}; ` +
      `it is limited to ${(token.tasks ?? []).join(', ')}`,
    where ? { details: { fields: [where] } } : {},
  )
}
