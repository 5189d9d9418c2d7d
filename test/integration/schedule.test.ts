import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ScheduleOverlapPolicy } from '@temporalio/client'
import { eq } from 'drizzle-orm'
import { isKaizenError } from '../../core/errors.js'
import { campaigns } from '../../db/schema.js'
import { deleteSchedule, listSchedules, upsertSchedule } from '../../runtime/schedules.js'
import type { CampaignResult } from '../../workflows/messages.js'
import { TEST_CAMPAIGN } from '../helpers/fixtures.js'
import { eventually, startHarness, type Harness } from '../helpers/infra.js'

let h: Harness
before(async () => {
  h = await startHarness({ name: 'schedule' })
})
after(() => h.close())

test('a nightly schedule is created (SKIP overlap, explicit catch-up window) and triggers a campaign', async () => {
  const taskId = h.scenario.task.id
  await h.traffic.burst(240)
  const spec = { taskId, cron: '0 2 * * *', timezone: 'UTC', catchupWindow: '1 hour', config: { ...TEST_CAMPAIGN, search: { ...TEST_CAMPAIGN.search, rounds: 1 } }, taskQueue: h.taskQueue }
  const created = await upsertSchedule(h.client, spec)
  assert.equal(created.created, true)
  assert.equal((await upsertSchedule(h.client, spec)).created, false, 'creating again updates in place')
  const handle = h.client.schedule.getHandle(created.scheduleId)
  const d = await handle.describe()
  assert.equal(d.policies.overlap, ScheduleOverlapPolicy.SKIP)
  assert.equal(d.policies.catchupWindow, 3_600_000)
  assert.ok(d.info.nextActionTimes[0]!.getUTCHours() === 2)
  const listed = (await listSchedules(h.client)).find((s) => s.scheduleId === created.scheduleId)
  assert.deepEqual(listed?.cron, ['0 2 * * *'])

  await handle.trigger()
  const described = await eventually(() => handle.describe(), (x) => x.info.recentActions.length > 0, 30_000, 'the schedule to start a workflow')
  const workflowId = described.info.recentActions[0]!.action.workflow.workflowId
  const result: CampaignResult = await h.client.workflow.getHandle(workflowId).result()
  assert.equal(result.task, taskId)
  const row = await h.db.query.campaigns.findFirst({ where: eq(campaigns.id, workflowId) })
  assert.equal(row?.trigger, 'schedule')
  assert.equal(row?.status, 'completed')
  if (result.canary) await h.client.workflow.getHandle(result.canary.workflowId).cancel()

  await deleteSchedule(h.client, taskId)
  await assert.rejects(deleteSchedule(h.client, taskId), (e) => isKaizenError(e) && e.code === 'NOT_FOUND')
})

test('a schedule with a bad cron expression is refused with the field named', async () => {
  await assert.rejects(
    upsertSchedule(h.client, { taskId: h.scenario.task.id, cron: 'every night', timezone: 'UTC', catchupWindow: '1 hour', config: {}, taskQueue: h.taskQueue }),
    (e) => isKaizenError(e) && e.code === 'INVALID_INPUT' && /--cron "every night"/.test(e.message),
  )
  await assert.rejects(
    upsertSchedule(h.client, { taskId: h.scenario.task.id, cron: '0 2 * * *', timezone: 'UTC', catchupWindow: '1 hour', config: { canary: { weight: 3 } }, taskQueue: h.taskQueue }),
    (e) => isKaizenError(e) && /canary\.weight/.test(e.message),
  )
})
