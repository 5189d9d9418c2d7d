/**
 * The quality monitor's operations (client/monitor.ts) from the HTTP API and the real `kaizen`
 * binary, against the test Temporal server and database: start (checked; bad settings refused by
 * path; one per task), status with open alerts, settings replaced through the workflow's Update
 * (refused without change when invalid; audited), alerts acknowledged (audited; scope and task
 * checked), Prometheus metrics of alert state, stop.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { and, eq } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { createToken } from '../../db/queries/tokens.js'
import { auditEvents } from '../../db/schema.js'
import { PromptResolver } from '../../serving/resolver.js'
import { monitorWorkflowId } from '../../workflows/messages.js'
import { apiCaller, errorOf, kaizen } from '../helpers/cli.js'
import { FLOOR_BREACH_MONITOR } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, type Harness } from '../helpers/infra.js'

let h: Harness
let call: ReturnType<typeof apiCaller>
let tokens: Record<'read' | 'operate' | 'other', string>
const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-monitor-ops-test-'))
// Floors set above what the prompt achieves: an alert within seconds; no campaign (not under test here).
const settings = { ...FLOOR_BREACH_MONITOR, action: { startCampaign: false } }

before(async () => {
  h = await startHarness({ name: 'monitor-ops' })
  tokens = {
    read: (await createToken(h.db, { name: 'dash', scopes: ['read'], createdBy: 'test' })).secret,
    operate: (
      await createToken(h.db, {
        name: 'ops',
        scopes: ['operate', 'read'],
        person: 'dana@example.com',
        createdBy: 'test',
      })
    ).secret,
    other: (
      await createToken(h.db, {
        name: 'other',
        scopes: ['operate', 'read'],
        tasks: ['another-task'],
        createdBy: 'test',
      })
    ).secret,
  }
  call = apiCaller(
    createApi({
      db: h.db,
      resolver: new PromptResolver(h.db),
      temporal: { client: async () => h.client, taskQueue: h.taskQueue },
    }),
  )
  h.traffic.start(40)
})
after(async () => {
  await h?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

const cli = (args: string[]) =>
  kaizen(args, {
    KAIZEN_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: testInfra().temporalAddress,
    TEMPORAL_TASK_QUEUE: h.taskQueue,
    DATABASE_URL: testInfra().databaseUrl,
  })

test('start, status, settings, alerts, metrics and stop — over HTTP and from the CLI', async () => {
  const task = h.task.taskId
  const path = `/v1/monitors/${task}`

  // Nothing runs yet: the status says how to start one.
  const none = await call('GET', path, tokens.read)
  assert.equal(none.status, 404)
  assert.match((await errorOf(none)).message, /has no quality monitor; start one with `kaizen monitor start/)
  // Bad settings are refused by path, with the key probably meant; nothing starts.
  const bad = await call('POST', path, tokens.operate, { config: { floors: { dqq: 0.5 } } })
  assert.equal(bad.status, 400)
  assert.match((await errorOf(bad)).message, /floors\.dqq.*"dq"/s)
  assert.equal((await call('POST', path, tokens.read, { config: settings })).status, 403)
  assert.equal((await call('POST', path, tokens.other, { config: settings })).status, 403)

  const started = await call('POST', path, tokens.operate, { config: settings })
  assert.equal(started.status, 202)
  assert.equal(((await started.json()) as { workflowId: string }).workflowId, monitorWorkflowId(task))
  const again = await call('POST', path, tokens.operate, { config: settings })
  assert.equal(again.status, 409)
  assert.match((await errorOf(again)).message, /already has a running quality monitor/)

  type View = {
    workflowStatus: string
    status: { phase: string; alerts: unknown[] } | null
    config: { sampleRate: number } | null
    openAlerts: Array<{ id: string; kind: string; metric: string }>
  }
  const view = await eventually(
    async () => (await (await call('GET', path, tokens.read)).json()) as View,
    (v) => v.openAlerts.length > 0,
    60_000,
    'an open alert',
  )
  assert.equal(view.workflowStatus, 'RUNNING')
  assert.equal(view.config!.sampleRate, 1)
  const alert = view.openAlerts[0]!
  assert.deepEqual([alert.kind, alert.metric], ['floor', 'dq'])

  // Prometheus: the open alert, by task, kind and metric.
  const metrics = await (await call('GET', '/metrics', tokens.read)).text()
  assert.match(metrics, new RegExp(`^kaizen_monitor_alerts_open\\{task="${task}",kind="floor",metric="dq"\\} 1$`, 'm'))
  assert.match(metrics, /^kaizen_monitor_alerts_total\{kind="floor",metric="dq"\} [1-9]\d*$/m)

  // New settings: refused whole when one field is bad; else in effect, audited under the person.
  const refused = await call('PUT', `${path}/config`, tokens.operate, { config: { ...settings, sampleRate: 2 } })
  assert.equal(refused.status, 400)
  assert.match((await errorOf(refused)).message, /sampleRate/)
  const changed = await call('PUT', `${path}/config`, tokens.operate, { config: { ...settings, sampleRate: 0.5 } })
  assert.equal(changed.status, 200, JSON.stringify(await changed.clone().json()))
  assert.equal(((await changed.json()) as { config: { sampleRate: number } }).config.sampleRate, 0.5)
  const shown = await cli(['monitor', 'config', '--task', task])
  assert.equal(shown.code, 0, shown.stderr)
  assert.equal((JSON.parse(shown.stdout) as { sampleRate: number }).sampleRate, 0.5)
  const audit = await h.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.taskId, task), eq(auditEvents.action, 'monitor.configured')))
  assert.deepEqual(
    audit.map((e) => e.actor),
    ['dana@example.com'],
  )

  // The CLI: status with the open alert; a file of bad settings is refused by path.
  const status = await cli(['monitor', 'status', '--task', task])
  assert.equal(status.code, 0, status.stderr)
  assert.match(status.stderr, new RegExp(`open alert ${alert.id} \\(floor dq`))
  const badFile = join(dataDir, 'bad.yaml')
  writeFileSync(badFile, 'sampleRate: 0.1\nchekEveryMs: 1000\n')
  const badConfig = await cli(['monitor', 'config', '--task', task, '--file', badFile])
  assert.notEqual(badConfig.code, 0)
  assert.match(badConfig.stderr, /chekEveryMs.*checkEveryMs/s)

  // Acknowledge: not with a read token, nor for another task's token; from the CLI, audited.
  assert.equal((await call('POST', `/v1/monitor-alerts/${alert.id}/ack`, tokens.read)).status, 403)
  assert.equal((await call('POST', `/v1/monitor-alerts/${alert.id}/ack`, tokens.other)).status, 403)
  const acked = await cli(['monitor', 'ack', alert.id, '--by', 'carol@example.com', '--comment', 'looking'])
  assert.equal(acked.code, 0, acked.stderr)
  assert.match(acked.stderr, /acknowledged by carol@example\.com/)
  const twice = await call('POST', `/v1/monitor-alerts/${alert.id}/ack`, tokens.operate, { comment: 'me too' })
  const body = (await twice.json()) as { already: boolean; alert: { acknowledgedBy: string } }
  assert.deepEqual([body.already, body.alert.acknowledgedBy], [true, 'carol@example.com'])

  // Stop: the run ends, its last status is kept.
  assert.equal((await call('POST', `${path}/stop`, tokens.operate)).status, 202)
  const ended = await eventually(
    async () => (await (await call('GET', path, tokens.read)).json()) as View,
    (v) => v.workflowStatus === 'COMPLETED',
    30_000,
    'the monitor stopped',
  )
  assert.equal(ended.status!.phase, 'stopped')
  const stopAgain = await call('POST', `${path}/stop`, tokens.operate)
  assert.equal(stopAgain.status, 409)
})
