/**
 * @module api/routes/monitor
 * A task's quality monitor over HTTP (the same operations as `kaizen monitor`, client/monitor.ts):
 *
 * - `GET /v1/monitors/{task}` (read): its status and settings (or how it ended) and the open alerts;
 * - `POST /v1/monitors/{task}` (operate): check the task, then start its monitor;
 * - `PUT /v1/monitors/{task}/config` (operate): new settings from the next check on (audited);
 * - `POST /v1/monitors/{task}/pause|resume|stop` (operate);
 * - `GET /v1/monitors/{task}/alerts` (read): its alerts, newest first (`?open=true`: unacknowledged);
 * - `POST /v1/monitor-alerts/{id}/ack` (operate): acknowledge an alert under the token's person.
 *
 * Prometheus metrics of alert state are on `/metrics` (api/store-metrics.ts).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../../db/client.js'
import { acknowledgeAlert, listAlerts, type MonitorAlertRow } from '../../db/queries/monitor.js'
import type { PreflightPricing } from '../../db/queries/preflight.js'
import { monitorAlerts } from '../../db/schema.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import { authResponses, errorResponse } from '../schemas.js'
import { operationsOf, type TemporalAccess } from './operations.js'

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } })
const Task = z.object({ task: z.string().min(1).max(200) })
const Settings = z.record(z.string(), z.unknown()).openapi({
  description:
    'Monitor settings (docs/monitor.md), validated whole and strictly: an unknown key is 400 naming its path.',
})
const View = z.record(z.string(), z.unknown()).openapi('MonitorView', {
  description:
    'client/monitor.ts MonitorView: taskId, workflowId, workflowStatus, status (workflows/messages.ts ' +
    'MonitorStatus), config (the settings in effect while it runs), failure; plus openAlerts.',
})
const Alert = z.record(z.string(), z.unknown()).openapi('MonitorAlert')
const common = (scope: string) => ({
  ...authResponses(scope),
  404: errorResponse('Unknown task, or no monitor for it'),
  503: errorResponse('Temporal is unreachable, or no worker is polling the task queue'),
})
const alertJson = (a: MonitorAlertRow) => ({
  ...a,
  raisedAt: a.raisedAt.toISOString(),
  acknowledgedAt: a.acknowledgedAt?.toISOString() ?? null,
})

export function registerMonitor(
  app: OpenAPIHono<AuthEnv>,
  deps: { db: Db; temporal: TemporalAccess; tokens: TokenCache; pricing?: PreflightPricing },
): void {
  const { db, tokens } = deps
  const ops = operationsOf(deps)
  const by = (c: { get(k: 'token'): { person: string | null; name: string } }) => {
    const t = c.get('token')
    return t.person ?? `token:${t.name}`
  }

  app.on('GET', '/v1/monitors/:task', requireScope(tokens, 'read'))
  app.on('POST', '/v1/monitors/:task', requireScope(tokens, 'operate'))
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/monitors/{task}',
      summary: "The task's quality monitor: status, settings and open alerts (or how it ended)",
      security: [{ bearer: [] }],
      request: { params: Task },
      responses: { 200: json(View, 'The monitor'), ...common('read') },
    }),
    async (c) => {
      const { task } = c.req.valid('param')
      requireTasks(c.get('token'), [task], 'task')
      const view = await (await ops()).describeMonitor(task)
      const open = await listAlerts(db, { taskId: task, open: true, limit: 100 })
      return c.json({ ...view, openAlerts: open.map(alertJson) }, 200)
    },
  )

  const Start = z.object({ config: Settings.optional() }).strict().openapi('StartMonitor')
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/monitors/{task}',
      summary: 'Check the task, then start its quality monitor (one per task)',
      security: [{ bearer: [] }],
      request: { params: Task, body: { required: false, content: { 'application/json': { schema: Start } } } },
      responses: {
        202: json(
          z.object({
            taskId: z.string(),
            workflowId: z.string(),
            config: z.record(z.string(), z.unknown()),
            warnings: z.array(z.string()),
          }),
          'Started',
        ),
        400: errorResponse('Malformed body or settings (JSON paths named)'),
        ...common('operate'),
        409: errorResponse('A monitor already runs for this task, or the task has no production version'),
      },
    }),
    async (c) => {
      const { task } = c.req.valid('param')
      requireTasks(c.get('token'), [task], 'task')
      const body = c.req.valid('json') ?? {}
      const started = await (
        await ops()
      ).startMonitor({ taskId: task, configInput: body.config ?? {}, startedBy: by(c) })
      return c.json(started, 202)
    },
  )

  app.on('PUT', '/v1/monitors/:task/config', requireScope(tokens, 'operate'))
  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/monitors/{task}/config',
      summary: "Replace the running monitor's settings (from its next check; audited under the token's person)",
      security: [{ bearer: [] }],
      request: {
        params: Task,
        body: { required: true, content: { 'application/json': { schema: z.object({ config: Settings }).strict() } } },
      },
      responses: {
        200: json(z.object({ taskId: z.string(), config: z.record(z.string(), z.unknown()) }), 'In effect'),
        400: errorResponse('Malformed settings (JSON paths named); nothing changed'),
        ...common('operate'),
        409: errorResponse('The monitor has ended'),
      },
    }),
    async (c) => {
      const { task } = c.req.valid('param')
      requireTasks(c.get('token'), [task], 'task')
      const config = await (await ops()).configureMonitor(task, c.req.valid('json').config, by(c))
      return c.json({ taskId: task, config }, 200)
    },
  )

  for (const verb of ['pause', 'resume', 'stop'] as const) {
    app.on('POST', `/v1/monitors/:task/${verb}`, requireScope(tokens, 'operate'))
    app.openapi(
      createRoute({
        method: 'post',
        path: `/v1/monitors/{task}/${verb}`,
        summary: verb === 'stop' ? 'Stop the monitor (its campaigns and canaries go on)' : `${verb} grading and checks`,
        security: [{ bearer: [] }],
        request: { params: Task },
        responses: {
          202: json(z.object({ taskId: z.string(), message: z.string() }), 'Requested'),
          ...common('operate'),
          409: errorResponse('The monitor has ended'),
        },
      }),
      async (c) => {
        const { task } = c.req.valid('param')
        requireTasks(c.get('token'), [task], 'task')
        return c.json(await (await ops()).signalMonitor(task, verb, by(c)), 202)
      },
    )
  }

  app.on('GET', '/v1/monitors/:task/alerts', requireScope(tokens, 'read'))
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/monitors/{task}/alerts',
      summary: "The task's monitor alerts, newest first",
      security: [{ bearer: [] }],
      request: {
        params: Task,
        query: z.object({
          open: z.enum(['true', 'false']).optional().openapi({ description: 'true: only unacknowledged alerts' }),
          limit: z.coerce.number().int().min(1).max(1_000).optional(),
        }),
      },
      responses: { 200: json(z.object({ alerts: z.array(Alert) }), 'Alerts'), ...authResponses('read') },
    }),
    async (c) => {
      const { task } = c.req.valid('param')
      const q = c.req.valid('query')
      requireTasks(c.get('token'), [task], 'task')
      const alerts = await listAlerts(db, { taskId: task, open: q.open === 'true', limit: q.limit ?? 100 })
      return c.json({ alerts: alerts.map(alertJson) }, 200)
    },
  )

  app.on('POST', '/v1/monitor-alerts/:id/ack', requireScope(tokens, 'operate'))
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/monitor-alerts/{id}/ack',
      summary: "Acknowledge an alert (under the token's person; audited). Repeated: the recorded acknowledgement",
      security: [{ bearer: [] }],
      request: {
        params: z.object({ id: z.string().min(1).max(300) }),
        body: {
          required: false,
          content: { 'application/json': { schema: z.object({ comment: z.string().max(2_000).optional() }).strict() } },
        },
      },
      responses: {
        200: json(z.object({ alert: Alert, already: z.boolean() }), 'Acknowledged (or already)'),
        400: errorResponse('Malformed body'),
        ...authResponses('operate'),
        404: errorResponse('No such alert'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param')
      const token = c.get('token')
      const [row] = await db
        .select({ taskId: monitorAlerts.taskId })
        .from(monitorAlerts)
        .where(eq(monitorAlerts.id, id))
      if (!row)
        throw new KaizenError('NOT_FOUND', `no monitor alert "${id}"; GET /v1/monitors/{task}/alerts lists them`)
      requireTasks(token, [row.taskId], 'id')
      const { comment } = c.req.valid('json') ?? {}
      const r = await acknowledgeAlert(db, { alertId: id, by: by(c), at: new Date(), comment: comment ?? null })
      return c.json({ alert: alertJson(r.alert), already: r.already }, 200)
    },
  )
}
