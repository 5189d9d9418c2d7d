/**
 * @module console/session
 * Console sessions: signing in with an API token opens a session whose cookie holds the token's id,
 * an expiry and a nonce, signed with HMAC-SHA256 (the secret never leaves the server; the token's
 * secret is never stored). Each request looks the token up again, so a revoked token ends its
 * sessions at once. Forms carry a CSRF token derived from the session's nonce (synchronizer token).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export interface Session {
  tokenId: string
  /** Expiry, ms since the epoch. */
  exp: number
  nonce: string
}

export const SESSION_COOKIE = 'kaizen_session'

export class Sessions {
  private readonly key: Buffer

  /** `secret`: KAIZEN_CONSOLE_SECRET, or random per process (sessions then end with the process). */
  constructor(
    secret: string | undefined,
    readonly ttlMs = 8 * 3600_000,
  ) {
    this.key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32)
  }

  private sign(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url')
  }

  /** The cookie value of a new session for this token. */
  issue(tokenId: string, now = Date.now()): string {
    const session: Session = { tokenId, exp: now + this.ttlMs, nonce: randomBytes(16).toString('base64url') }
    const body = Buffer.from(JSON.stringify(session)).toString('base64url')
    return `${body}.${this.sign(body)}`
  }

  /** The session of a cookie value, or null when it is missing, forged or expired. */
  read(value: string | undefined, now = Date.now()): Session | null {
    if (!value) return null
    const [body, mac] = value.split('.')
    if (!body || !mac || !same(mac, this.sign(body))) return null
    try {
      const s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Session
      return typeof s.tokenId === 'string' && typeof s.nonce === 'string' && s.exp > now ? s : null
    } catch {
      return null
    }
  }

  /** The CSRF token every form of this session carries. */
  csrf(session: Session): string {
    return this.sign(`csrf:${session.nonce}`)
  }

  checkCsrf(session: Session, token: unknown): boolean {
    return typeof token === 'string' && same(token, this.csrf(session))
  }
}

function same(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)]
  return x.length === y.length && timingSafeEqual(x, y)
}
