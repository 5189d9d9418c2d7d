import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { and, eq } from 'drizzle-orm'
import { isKaizenError } from '../../core/errors.js'
import { openDatabase, type Database } from '../../db/client.js'
import {
  acknowledgeAlert,
  chargeJudge,
  judgeSpend,
  linkAlertCampaign,
  listAlerts,
  raiseAlert,
} from '../../db/queries/monitor.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { auditEvents } from '../../db/schema.js'
import { taskOfScenario } from '../../sim/task.js'
import { scenarioCopy, testInfra } from '../helpers/infra.js'

let d: Database
let taskId: string
const HOUR = 3_600_000
const t0 = new Date('2026-12-01T10:00:00Z')
const at = (h: number) => new Date(t0.getTime() + h * HOUR)
const alert = (id: string, h: number, metric = 'dq') => ({
  id,
  taskId,
  kind: 'change' as const,
  metric,
  summary: `DQ changed (${id})`,
  evidence: { statistic: 123 },
  at: at(h),
})

before(async () => {
  d = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent' })
  const scenario = await scenarioCopy('incident-triage', 'monitor-db')
  await registerSimulatedTask(d.db, taskOfScenario(scenario))
  taskId = scenario.task.id
})
after(async () => d?.close())

test('alerts: raised once per key while open, held within the cooldown after acknowledgement, audited', async () => {
  const cooldown = 6 * HOUR
  const first = await raiseAlert(d.db, alert('a1', 0), cooldown)
  assert.equal(first.raised, true)
  // A retried raise (same id) changes nothing.
  const retried = await raiseAlert(d.db, alert('a1', 0), cooldown)
  assert.equal(retried.raised, true)
  // The same key while open: a duplicate; only lastSeenAt moves.
  const dup = await raiseAlert(d.db, alert('a2', 2), cooldown)
  assert.equal(dup.raised === false && dup.reason, 'duplicate')
  const [open] = await listAlerts(d.db, { taskId, open: true })
  assert.equal(open?.id, 'a1')
  assert.equal(open?.lastSeenAt.getTime(), at(2).getTime())
  // Another metric is another alert.
  assert.equal((await raiseAlert(d.db, alert('e1', 2, 'errorRate'), cooldown)).raised, true)

  await assert.rejects(
    acknowledgeAlert(d.db, { alertId: 'a1', by: ' ', at: at(3) }),
    (e: Error) => isKaizenError(e) && e.code === 'INVALID_INPUT',
  )
  await assert.rejects(
    acknowledgeAlert(d.db, { alertId: 'nope', by: 'ana', at: at(3) }),
    (e: Error) => isKaizenError(e) && e.code === 'NOT_FOUND',
  )
  const ack = await acknowledgeAlert(d.db, { alertId: 'a1', by: 'ana', at: at(3), comment: 'looking' })
  assert.equal(ack.already, false)
  assert.equal(ack.alert.acknowledgedBy, 'ana')
  const again = await acknowledgeAlert(d.db, { alertId: 'a1', by: 'bo', at: at(4) })
  assert.equal(again.already, true)
  assert.equal(again.alert.acknowledgedBy, 'ana')
  // Acknowledged, but within 6 hours of the raise: held back.
  const cool = await raiseAlert(d.db, alert('a3', 5), cooldown)
  assert.equal(cool.raised === false && cool.reason, 'cooldown')
  // After the cooldown: a new alert.
  const later = await raiseAlert(d.db, alert('a4', 7), cooldown)
  assert.equal(later.raised, true)
  await linkAlertCampaign(d.db, 'a4', 'campaign-1')
  await linkAlertCampaign(d.db, 'a4', 'campaign-2')
  assert.equal((await listAlerts(d.db, { taskId })).find((a) => a.id === 'a4')?.campaignId, 'campaign-1')

  const events = await d.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.taskId, taskId), eq(auditEvents.subjectType, 'monitor_alert')))
  assert.deepEqual(events.map((e) => `${e.action} ${e.subjectId} ${e.actor}`).sort(), [
    'monitor.alert a1 kaizen:monitor',
    'monitor.alert a4 kaizen:monitor',
    'monitor.alert e1 kaizen:monitor',
    'monitor.alert.acknowledged a1 ana',
  ])
})

test('judge spend: charged once per check, summed per UTC day', async () => {
  await chargeJudge(d.db, { taskId, checkId: 'c1', day: '2026-12-01', usd: 0.25, graded: 10 })
  await chargeJudge(d.db, { taskId, checkId: 'c1', day: '2026-12-01', usd: 0.25, graded: 10 })
  await chargeJudge(d.db, { taskId, checkId: 'c2', day: '2026-12-01', usd: 0.5, graded: 20 })
  await chargeJudge(d.db, { taskId, checkId: 'c3', day: '2026-12-02', usd: 9, graded: 1 })
  assert.deepEqual(await judgeSpend(d.db, taskId, '2026-12-01'), { usd: 0.75, graded: 30 })
  assert.deepEqual(await judgeSpend(d.db, taskId, '2026-11-30'), { usd: 0, graded: 0 })
})
