/**
 * @module console/app
 * The operator console, served at `/` by `kaizen serve` and `kaizen up` next to the API: tasks,
 * campaigns, prompt versions, canaries (the approval page), the quality monitor and its alerts, and
 * the audit log, rendered on the server (Hono JSX; every value escaped as text). Sign in with an
 * API token: it opens a session cookie (HttpOnly, SameSite=Strict); every form carries a CSRF
 * token. A read token sees and cannot act; approve and reject need the approve scope and are
 * recorded under the token's person, through the same operations as the CLI and the API
 * (client/operations.ts); acknowledging a monitor alert needs the operate scope and is recorded in
 * the database as the API records it. Tokens limited to some tasks see only those. The only script
 * is htmx (served from here, no CDN), for live updates.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import type { Child } from 'hono/jsx'
import { getConnInfo } from '@hono/node-server/conninfo'
import { compress } from 'hono/compress'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { createOperations, type Operations } from '../client/operations.js'
import { isKaizenError, KaizenError } from '../core/errors.js'
import { tasksRefused } from '../core/task-scope.js'
import type { Db } from '../db/client.js'
import { listAudit } from '../db/queries/audit.js'
import { campaignEvidence, tasksOverview } from '../db/queries/console.js'
import { getLabels } from '../db/queries/labels.js'
import { listPromptVersions } from '../db/queries/prompts.js'
import { acknowledgeAlert, listAlerts } from '../db/queries/monitor.js'
import { campaigns, labelHistory, monitorAlerts, tasks } from '../db/schema.js'
import { and, desc, eq } from 'drizzle-orm'
import { campaignPreflight } from '../db/queries/preflight.js'
import { findTokenById, tokensOfPerson, type ApiTokenRow } from '../db/queries/tokens.js'
import type { TokenCache } from '../api/auth.js'
import type { TemporalAccess } from '../api/routes/operations.js'
import { CONSOLE_ASSETS } from './assets.js'
import { Layout } from './layout.js'
import { CanaryEvidence, CanaryPage, loadCanaryPage } from './pages/canary.js'
import { CampaignPage, CampaignProgress, type CampaignPageData } from './pages/campaign.js'
import { PromptsPage } from './pages/prompts.js'
import { AuditPage } from './pages/audit.js'
import { TaskPage, TasksPage } from './pages/tasks.js'
import { MonitorPage, type MonitorPageData } from './pages/monitor.js'
import { SESSION_COOKIE, Sessions, type Session } from './session.js'

export interface ConsoleDeps {
  db: Db
  tokens: TokenCache
  /** Canary status and decisions; without it the canary pages say Temporal is not configured. */
  temporal?: TemporalAccess
  sessions: Sessions
  /** Mark the session cookie Secure (behind HTTPS). */
  secureCookies?: boolean
  /**
   * Behind an SSO proxy: the header that names the signed-in person, trusted only on requests
   * whose peer address is one of `proxies`. The person's permissions are those of the API tokens
   * issued to them (`kaizen token create --person`).
   */
  trustedHeader?: { name: string; proxies: string[] }
}

type Env = { Variables: { token: ApiTokenRow; session: Session } }

export function createConsole(deps: ConsoleDeps): Hono<Env> {
  const app = new Hono<Env>()
  const { sessions } = deps
  let cached: { client: unknown; ops: Operations } | null = null
  const ops = async (): Promise<Operations> => {
    if (!deps.temporal)
      throw new KaizenError('CONFIG_ERROR', 'this server has no Temporal connection: canaries cannot be shown')
    const client = await deps.temporal.client()
    if (cached?.client !== client)
      cached = {
        client,
        ops: createOperations({
          client,
          taskQueue: deps.temporal.taskQueue,
          check: (input) => campaignPreflight(deps.db, input),
        }),
      }
    return cached.ops
  }

  const openSession = (c: Context, tokenId: string) =>
    setCookie(c, SESSION_COOKIE, sessions.issue(tokenId), {
      httpOnly: true,
      sameSite: 'Strict',
      secure: deps.secureCookies ?? false,
      path: '/',
      maxAge: Math.floor(sessions.ttlMs / 1000),
    })

  // Pages and assets go compressed to browsers that accept it (the page-weight budget counts that).
  for (const path of ['/', '/login', '/audit', '/assets/*', '/tasks/*', '/campaigns/*', '/canaries/*'])
    app.use(path, compress())

  app.get('/assets/:name', (c) => {
    const a = CONSOLE_ASSETS[c.req.param('name')]
    if (!a) return c.notFound()
    return c.body(new Uint8Array(a.body), 200, { 'content-type': a.type, 'cache-control': 'public, max-age=3600' })
  })

  // A sign-in link (`kaizen up` prints one for the person running it): the same as the form, then
  // the token leaves the address bar.
  app.get('/login', async (c, next) => {
    const secret = c.req.query('token')
    if (!secret) return next()
    const token = await deps.tokens.lookup(secret.trim())
    if (!token) return c.redirect('/login?error=1', 303)
    openSession(c, token.id)
    return c.redirect(safeNext(c.req.query('next') ?? '/'), 303)
  })
  app.get('/login', (c) =>
    c.html(
      <Login
        next={c.req.query('next') ?? '/'}
        error={c.req.query('error') === '1' ? 'That token is unknown or revoked.' : null}
      />,
    ),
  )
  app.post('/login', async (c) => {
    const form = await c.req.parseBody()
    const next = safeNext(String(form['next'] ?? '/'))
    const token = typeof form['token'] === 'string' ? await deps.tokens.lookup(form['token'].trim()) : null
    if (!token) return c.redirect(`/login?error=1&next=${encodeURIComponent(next)}`, 303)
    openSession(c, token.id)
    return c.redirect(next, 303)
  })

  // Every other page needs a session (only the console's paths: the API beside it has its own auth).
  const signedIn: MiddlewareHandler<Env> = async (c, next) => {
    const proxied = await fromProxy(c)
    if (proxied === 'unknown-person')
      return forbidden(
        c,
        `No Kaizen token is issued to ${c.req.header(deps.trustedHeader?.name ?? '')}: an administrator gives one ` +
          'with `kaizen token create --person <them> --scopes read[,approve]`.',
      )
    const session = proxied?.session ?? sessions.read(getCookie(c, SESSION_COOKIE))
    const token = proxied?.token ?? (session ? await findTokenById(deps.db, session.tokenId) : null)
    if (!session || !token) {
      if (c.req.method !== 'GET') return forbidden(c, 'Sign in first.')
      return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303)
    }
    c.set('token', token)
    c.set('session', session)
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody()
      if (!sessions.checkCsrf(session, form['_csrf']))
        return forbidden(c, 'The form had no valid CSRF token; reload the page and try again.')
    }
    await next()
  }
  for (const path of ['/', '/logout', '/audit', '/tasks/*', '/campaigns/*', '/canaries/*']) app.use(path, signedIn)

  /** The person an SSO proxy names, with the permissions of their tokens; null when not behind one. */
  async function fromProxy(c: Context): Promise<{ token: ApiTokenRow; session: Session } | 'unknown-person' | null> {
    const trusted = deps.trustedHeader
    if (!trusted) return null
    const peer = (getConnInfo(c).remote.address ?? '').replace(/^::ffff:/, '')
    const person = c.req.header(trusted.name)?.trim()
    if (!person || !trusted.proxies.includes(peer)) return null
    const tokens = await tokensOfPerson(deps.db, person)
    if (tokens.length === 0) return 'unknown-person'
    const token: ApiTokenRow = {
      ...(tokens[0] as ApiTokenRow),
      id: `person:${person}`,
      name: person,
      person,
      scopes: [...new Set(tokens.flatMap((t) => t.scopes))].sort(),
      role: tokens.find((t) => t.role)?.role ?? null,
      tasks: tokens.some((t) => t.tasks === null) ? null : [...new Set(tokens.flatMap((t) => t.tasks ?? []))],
    }
    // No cookie: the proxy signs the person in on every request; forms carry a token tied to them.
    return { token, session: { tokenId: token.id, exp: Number.MAX_SAFE_INTEGER, nonce: `person:${person}` } }
  }

  app.post('/logout', (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/' })
    return c.redirect('/login', 303)
  })

  const page = (c: Context<Env>, title: string, body: Child, live = false) =>
    c.html(
      <Layout title={title} token={c.get('token')} csrf={sessions.csrf(c.get('session'))} live={live}>
        {body}
      </Layout>,
    )
  const visible = (token: ApiTokenRow) => (task: string) => tasksRefused(token.tasks, [task]).length === 0

  app.get('/', async (c) =>
    page(c, 'Tasks', <TasksPage tasks={await tasksOverview(deps.db, visible(c.get('token')))} />),
  )

  app.get('/tasks/:task', async (c) => {
    const id = c.req.param('task')
    const [task] = await tasksOverview(deps.db, (t) => t === id && visible(c.get('token'))(t))
    if (!task) return notFound(c, `No task "${id}" (or this token may not see it).`)
    return page(c, id, <TaskPage task={task} />)
  })

  app.get('/audit', async (c) => {
    const q = c.req.query()
    const since = q['since'] ? new Date(q['since']) : undefined
    const token = c.get('token')
    const events = (
      await listAudit(deps.db, {
        ...(q['task'] ? { task: q['task'] } : {}),
        ...(q['actor'] ? { actor: q['actor'] } : {}),
        ...(q['action'] ? { action: q['action'] } : {}),
        ...(since && !Number.isNaN(since.getTime()) ? { since } : {}),
        limit: 500,
      })
    ).filter((e) => !token.tasks || (e.taskId !== null && visible(token)(e.taskId)))
    return page(
      c,
      'Audit log',
      <AuditPage
        events={events}
        filter={{ task: q['task'], actor: q['actor'], action: q['action'], since: q['since'] }}
      />,
    )
  })

  app.get('/tasks/:task/prompts', async (c) => {
    const id = c.req.param('task')
    if (!visible(c.get('token'))(id)) return notFound(c, `No task "${id}" (or this token may not see it).`)
    const versions = await listPromptVersions(deps.db, id)
    if (versions.length === 0) return notFound(c, `Task "${id}" has no prompt versions.`)
    const current = await getLabels(deps.db, id)
    const labels = new Map<string, string[]>()
    for (const l of [current.production, current.canary])
      if (l) labels.set(l.promptVersionId, [...(labels.get(l.promptVersionId) ?? []), l.label])
    const history = await deps.db
      .select()
      .from(labelHistory)
      .where(eq(labelHistory.taskId, id))
      .orderBy(desc(labelHistory.at), desc(labelHistory.id))
      .limit(200)
    const pick = (n: string | undefined) => versions.find((v) => String(v.version) === n) ?? null
    const production = versions.find((v) => v.id === current.production?.promptVersionId) ?? versions.at(-1) ?? null
    const a = pick(c.req.query('a')) ?? production
    const b = pick(c.req.query('b')) ?? versions[0] ?? null
    return page(
      c,
      `Prompts of ${id}`,
      <PromptsPage taskId={id} versions={versions} labels={labels} history={history} a={a} b={b} />,
    )
  })

  // The task's quality monitor and its alerts; an alert is acknowledged under the token's person
  // (operate scope), recorded and audited as from the API.
  app.get('/tasks/:task/monitor', async (c) => {
    const id = c.req.param('task')
    const task = visible(c.get('token'))(id) && (await deps.db.query.tasks.findFirst({ where: eq(tasks.id, id) }))
    if (!task) return notFound(c, `No task "${id}" (or this token may not see it).`)
    let monitor: MonitorPageData['monitor']
    try {
      monitor = await (await ops()).describeMonitor(id)
    } catch (err) {
      if (!isKaizenError(err)) throw err
      monitor = {
        unavailable:
          err.code === 'NOT_FOUND'
            ? `No quality monitor has run for this task; start one with \`kaizen monitor start --task ${id}\`.`
            : `The monitor's live status cannot be shown: ${err.message}`,
      }
    }
    const alerts = await listAlerts(deps.db, { taskId: id, limit: 100 })
    return page(
      c,
      `Monitor of ${id}`,
      <MonitorPage
        d={{ taskId: id, monitor, alerts }}
        token={c.get('token')}
        csrf={sessions.csrf(c.get('session'))}
        flash={c.req.query('done') ?? null}
      />,
    )
  })
  app.post('/tasks/:task/monitor/alerts/:id/ack', async (c) => {
    const token = c.get('token')
    const task = c.req.param('task')
    const alertId = c.req.param('id')
    if (!token.scopes.includes('operate') || !token.person)
      return forbidden(
        c,
        `Token "${token.name}" may not acknowledge alerts: that needs the operate scope and a named person.`,
      )
    const [row] = await deps.db
      .select({ id: monitorAlerts.id })
      .from(monitorAlerts)
      .where(and(eq(monitorAlerts.id, alertId), eq(monitorAlerts.taskId, task)))
    if (!row || !visible(token)(task)) return notFound(c, `No alert "${alertId}" of task "${task}" for this token.`)
    const form = await c.req.parseBody()
    const comment = typeof form['comment'] === 'string' && form['comment'].trim() ? form['comment'].trim() : null
    const r = await acknowledgeAlert(deps.db, { alertId, by: token.person, at: new Date(), comment })
    const message = r.already
      ? `Already acknowledged by ${r.alert.acknowledgedBy}.`
      : `Alert acknowledged by ${token.person}.`
    return c.redirect(`/tasks/${encodeURIComponent(task)}/monitor?done=${encodeURIComponent(message)}`, 303)
  })

  const campaignData = async (c: Context<Env>): Promise<CampaignPageData> => {
    const id = c.req.param('id') as string
    const [row] = await deps.db.select().from(campaigns).where(eq(campaigns.id, id))
    if (!row || !visible(c.get('token'))(row.taskId))
      throw new KaizenError('NOT_FOUND', `no campaign "${id}" recorded for this token`)
    const view = await (await ops()).describeCampaign(id)
    const evidence = await campaignEvidence(deps.db, id)
    const search = (row.config as { search?: { budgetUsd?: number | null; rolloutBudget?: number } }).search
    return {
      view,
      candidates: evidence.candidates,
      spentUsd: evidence.spentUsd,
      budgetUsd: search?.budgetUsd ?? null,
      rolloutBudget: search?.rolloutBudget ?? null,
    }
  }
  app.get('/campaigns/:id', async (c) =>
    page(c, `Campaign ${c.req.param('id')}`, <CampaignPage d={await campaignData(c)} />, true),
  )
  app.get('/campaigns/:id/progress', async (c) => c.html(<CampaignProgress d={await campaignData(c)} />))

  const canaryData = async (c: Context<Env>) => {
    const id = c.req.param('id') as string
    const d = await loadCanaryPage(deps.db, await (await ops()).describeCanary(id))
    if (!visible(c.get('token'))(d.taskId)) throw new KaizenError('NOT_FOUND', `no canary "${id}" for this token`)
    return d
  }
  app.get('/canaries/:id', async (c) =>
    page(
      c,
      `Canary ${c.req.param('id')}`,
      <CanaryPage
        d={await canaryData(c)}
        token={c.get('token')}
        csrf={sessions.csrf(c.get('session'))}
        flash={c.req.query('done') ?? null}
      />,
      true,
    ),
  )
  app.get('/canaries/:id/evidence', async (c) => c.html(<CanaryEvidence d={await canaryData(c)} />))

  for (const verb of ['approve', 'reject'] as const)
    app.post(`/canaries/:id/${verb}`, async (c) => {
      const token = c.get('token')
      const id = c.req.param('id')
      if (!token.scopes.includes('approve') || !token.person)
        return forbidden(c, `Token "${token.name}" may not ${verb}: that needs the approve scope and a named person.`)
      const d = await canaryData(c)
      const form = await c.req.parseBody()
      const comment = typeof form['comment'] === 'string' && form['comment'].trim() ? form['comment'].trim() : undefined
      try {
        const { message } = await (
          await ops()
        ).decideCanary(d.view.canaryId, verb, {
          approver: token.person,
          ...(token.role ? { role: token.role } : {}),
          ...(comment ? { comment } : {}),
        })
        return c.redirect(`/canaries/${encodeURIComponent(id)}?done=${encodeURIComponent(message)}`, 303)
      } catch (err) {
        if (isKaizenError(err))
          return c.redirect(
            `/canaries/${encodeURIComponent(id)}?done=${encodeURIComponent(`Refused: ${err.message}`)}`,
            303,
          )
        throw err
      }
    })

  app.onError((err, c) => {
    const status = isKaizenError(err) && err.code === 'NOT_FOUND' ? 404 : 500
    return c.html(
      <Layout title="Error">
        <h1>{status === 404 ? 'Not found' : 'Something went wrong'}</h1>
        <p>{err.message}</p>
      </Layout>,
      status,
    )
  })
  return app
}

/** Only paths on this site after signing in (never another origin). */
const safeNext = (next: string) => (next.startsWith('/') && !next.startsWith('//') ? next : '/')

function forbidden(c: Context, message: string) {
  return c.html(
    <Layout title="Forbidden">
      <h1>Forbidden</h1>
      <p>{message}</p>
    </Layout>,
    403,
  )
}
function notFound(c: Context, message: string) {
  return c.html(
    <Layout title="Not found">
      <h1>Not found</h1>
      <p>{message}</p>
    </Layout>,
    404,
  )
}

const Login = ({ next, error }: { next: string; error: string | null }) => (
  <Layout title="Sign in">
    <h1>Sign in</h1>
    <p>Sign in with an API token (`kaizen token create`). A read token sees everything and acts on nothing.</p>
    {error && (
      <p class="flash error" role="alert">
        {error}
      </p>
    )}
    <form method="post" action="/login" class="decide">
      <input type="hidden" name="next" value={next} />
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required />
      <button type="submit">Sign in</button>
    </form>
  </Layout>
)
