/**
 * @module console/layout
 * The page frame: navigation, who is signed in, and the one stylesheet and script (served by the
 * console itself: no CDN, it works offline). Every value is rendered as text (JSX escapes it).
 */
import type { Child, FC } from 'hono/jsx'
import type { ApiTokenRow } from '../db/queries/tokens.js'

export const Layout: FC<{
  title: string
  token?: ApiTokenRow | null
  csrf?: string
  live?: boolean
  children?: Child
}> = ({ title, token, csrf, live, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · Kaizen`}</title>
      <link rel="stylesheet" href="/assets/console.css" />
      {live && <script src="/assets/htmx.min.js" defer></script>}
    </head>
    <body>
      <header class="top">
        <span class="brand">Kaizen</span>
        {token && (
          <nav aria-label="Main">
            <a href="/">Tasks</a>
            <a href="/audit">Audit log</a>
          </nav>
        )}
        {token && (
          <span class="who">
            {token.person ?? token.name} · {token.scopes.join(', ')}{' '}
            <form method="post" action="/logout" style="display:inline">
              {csrf && <CsrfField token={csrf} />}
              <button type="submit" class="reject">
                Sign out
              </button>
            </form>
          </span>
        )}
      </header>
      <main>{children}</main>
    </body>
  </html>
)

export const CsrfField: FC<{ token: string }> = ({ token }) => <input type="hidden" name="_csrf" value={token} />

export const fmt = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits)
export const fmtTime = (d: Date | string | null | undefined) =>
  d ? new Date(d).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : '—'
