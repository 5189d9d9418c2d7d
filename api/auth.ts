/**
 * @module api/auth
 * Bearer-token authentication with scopes. A token is looked up by the SHA-256 of its secret;
 * lookups are cached for `ttlMs` (10 s), so a revocation takes effect everywhere within that time.
 * A request without a valid token gets 401; a valid token without the route's scope gets 403
 * naming the scope it needs.
 */
import type { MiddlewareHandler } from 'hono'
import { KaizenError } from '../core/errors.js'
import type { Db } from '../db/client.js'
import { findToken, type ApiTokenRow, type Scope } from '../db/queries/tokens.js'

export type AuthEnv = { Variables: { token: ApiTokenRow } }

export class TokenCache {
  private readonly cache = new Map<string, { at: number; token: ApiTokenRow | null }>()
  private readonly loading = new Map<string, Promise<ApiTokenRow | null>>()
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 10_000,
  ) {}

  async lookup(secret: string): Promise<ApiTokenRow | null> {
    const hit = this.cache.get(secret)
    const age = hit ? Date.now() - hit.at : Infinity
    if (hit && age < this.ttlMs) {
      if (age >= this.ttlMs / 2) this.reload(secret).catch(() => undefined) // refresh ahead
      return hit.token
    }
    return this.reload(secret)
  }

  private reload(secret: string): Promise<ApiTokenRow | null> {
    // One lookup per secret at a time: concurrent requests share it.
    let load = this.loading.get(secret)
    if (!load) {
      const at = Date.now()
      load = findToken(this.db, secret)
        .then((token) => {
          if (this.cache.size > 10_000) this.cache.clear()
          this.cache.set(secret, { at, token })
          return token
        })
        .finally(() => this.loading.delete(secret))
      this.loading.set(secret, load)
    }
    return load
  }
}

export function requireScope(tokens: TokenCache, scope: Scope): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? ''
    const m = /^Bearer\s+(\S+)$/i.exec(header)
    if (!m) throw new KaizenError('UNAUTHENTICATED', 'send an API token as `Authorization: Bearer kz_…` (`kaizen token create` makes one)')
    const token = await tokens.lookup(m[1] as string)
    if (!token) throw new KaizenError('UNAUTHENTICATED', 'the API token is unknown or revoked')
    if (!token.scopes.includes(scope)) throw new KaizenError('FORBIDDEN', `token "${token.name}" lacks the "${scope}" scope this route needs (it has: ${token.scopes.join(', ')})`)
    c.set('token', token)
    await next()
  }
}
