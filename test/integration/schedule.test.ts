import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ScheduleOverlapPolicy } from '@temporalio/client'
import { eq, sql } from 'drizzle-orm'
import { isKaizenError } from '../../core/errors.js'
import type { RetentionResult } from '../../core/retention.js'
import { setRetention } from '../../db/queries/retention.js'
import { campaigns, traffic } from '../../db/schema.js'
import {
  RETENTION_SCHEDULE_ID,
  deleteSchedule,
  listSchedules,
  upsertRetentionSchedule,
  upsertSchedule,
} from '../../runtime/schedules.js'
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
  const spec = {
    taskId,
    cron: '0 2 * * *',
    timezone: 'UTC',
    catchupWindow: '1 hour',
    config: { ...TEST_CAMPAIGN, search: { ...TEST_CAMPAIGN.search, rounds: 1 } },
    taskQueue: h.taskQueue,
  }
  const created = await upsertSchedule(h.client, spec)
  assert.equal(created.created, true)
  assert.equal((await upsertSchedule(h.client, spec)).created, false, 'creating again updates in place')
  const handle = h.client.schedule.getHandle(created.scheduleId)
  const d = await handle.describe()
  assert.equal(d.policies.overlap, ScheduleOverlapPolicy.SKIP)
  assert.equal(d.policies.catchupWindow, 3_600_000)
  assert.ok(d.info.nextActionTimes[0]!.getUTCHours() === 2)
  const listed = await eventually(
    async () => (await listSchedules(h.client)).find((s) => s.scheduleId === created.scheduleId),
    (s) => s !== undefined,
    30_000,
    'the schedule listed (the visibility store lags a create)',
  )
  assert.deepEqual(listed?.cron, ['0 2 * * *'])

  await handle.trigger()
  const described = await eventually(
    () => handle.describe(),
    (x) => x.info.recentActions.length > 0,
    30_000,
    'the schedule to start a workflow',
  )
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

test(`a model watch is the task's second schedule: a campaign over the candidate models whose \
front and decision are the cheapest objective's`, async () => {
  const taskId = h.scenario.task.id
  const base = { taskId, cron: '0 4 * * 1', timezone: 'UTC', catchupWindow: '1 hour', taskQueue: h.taskQueue }
  // Without candidate models, or with a one-off migration, it is refused naming what to give.
  for (const search of [{}, { models: ['sim-small'], objective: { kind: 'migrate' as const, toModel: 'sim-small' } }])
    await assert.rejects(
      upsertSchedule(h.client, { ...base, kind: 'model-watch', config: { search } }),
      (e) => isKaizenError(e) && e.code === 'INVALID_INPUT' && /--models a,b or search\.models/.test(e.message),
    )
  const nightly = await upsertSchedule(h.client, { ...base, config: {} })
  const watch = await upsertSchedule(h.client, {
    ...base,
    kind: 'model-watch',
    config: {
      ...TEST_CAMPAIGN,
      search: {
        ...TEST_CAMPAIGN.search,
        rounds: 3,
        models: ['sim-standard', 'sim-small'],
        objective: { kind: 'cheapest', margin: 0.05 },
      },
      canary: { ...TEST_CAMPAIGN.canary, onConflict: 'skip' },
    },
  })
  assert.equal(watch.scheduleId, `kaizen-model-watch-${taskId}`)
  assert.notEqual(watch.scheduleId, nightly.scheduleId)
  // The schedule list is Temporal's visibility store, which lags a create by a moment.
  const mine = async () =>
    (await listSchedules(h.client))
      .filter((s) => s.taskId === taskId)
      .map((s) => s.kind)
      .sort()
  await eventually(mine, (k) => k.length === 2, 30_000, 'both schedules listed')
  assert.deepEqual(await mine(), ['model-watch', 'nightly'])

  const handle = h.client.schedule.getHandle(watch.scheduleId)
  await handle.trigger()
  const described = await eventually(
    () => handle.describe(),
    (x) => x.info.recentActions.length > 0,
    30_000,
    'the model watch to start a campaign',
  )
  const workflowId = described.info.recentActions[0]!.action.workflow.workflowId
  assert.match(workflowId, new RegExp(`^campaign-${taskId}-model-watch`))
  const result: CampaignResult = await h.client.workflow.getHandle(workflowId).result()
  if (result.canary) await h.client.workflow.getHandle(result.canary.workflowId).cancel()
  assert.equal(result.agility?.objective.kind, 'cheapest', JSON.stringify(result))
  // Both candidate models were searched and measured on the holdout.
  const models = new Set(result.agility!.front.map((p) => p.model))
  assert.ok(models.has('sim-standard') && models.has('sim-small'), JSON.stringify(result.agility!.front))

  await deleteSchedule(h.client, taskId, 'model-watch')
  await deleteSchedule(h.client, taskId)
  await eventually(mine, (k) => k.length === 0, 30_000, 'both schedules gone from the list')
})

test('a schedule with a bad cron expression is refused with the field named', async () => {
  await assert.rejects(
    upsertSchedule(h.client, {
      taskId: h.scenario.task.id,
      cron: 'every night',
      timezone: 'UTC',
      catchupWindow: '1 hour',
      config: {},
      taskQueue: h.taskQueue,
    }),
    (e) => isKaizenError(e) && e.code === 'INVALID_INPUT' && /--cron "every night"/.test(e.message),
  )
  await assert.rejects(
    upsertSchedule(h.client, {
      taskId: h.scenario.task.id,
      cron: '0 2 * * *',
      timezone: 'UTC',
      catchupWindow: '1 hour',
      config: { canary: { weight: 3 } },
      taskQueue: h.taskQueue,
    }),
    (e) => isKaizenError(e) && /canary\.weight/.test(e.message),
  )
})

test(`traffic retention: the daily schedule is created, and the workflow removes \
traffic past the task's period`, async () => {
  const created = await upsertRetentionSchedule(h.client, { taskQueue: h.taskQueue })
  assert.equal(created.scheduleId, RETENTION_SCHEDULE_ID)
  const d = await h.client.schedule.getHandle(RETENTION_SCHEDULE_ID).describe()
  assert.equal(d.action.type, 'startWorkflow')
  assert.equal(d.action.type === 'startWorkflow' ? d.action.workflowType : null, 'trafficRetention')
  assert.equal(d.policies.overlap, ScheduleOverlapPolicy.SKIP)
  const listed = await eventually(
    async () => (await listSchedules(h.client)).find((s) => s.scheduleId === RETENTION_SCHEDULE_ID),
    (s) => s !== undefined,
    30_000,
    'the retention schedule listed',
  )
  assert.deepEqual([listed?.taskId, listed?.cron], [null, ['30 3 * * *']])
  assert.equal(await deleteSchedule(h.client, RETENTION_SCHEDULE_ID), RETENTION_SCHEDULE_ID)

  const taskId = h.scenario.task.id
  const runId = 'retention-wf'
  await h.db.execute(sql`
    insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, provider, model, simulated,
                         created_at)
    select ${runId} || g, ${taskId}, ${h.task.seedVersion.id}, 'u', '{"summary":"old"}'::jsonb, 'x', 'external', 'm',
           false, now() - interval '3 days'
    from generate_series(1, 25) g`)
  await setRetention(h.db, { taskId, days: 2, actor: 'user:test' })
  const results: RetentionResult[] = await h.client.workflow.execute('trafficRetention', {
    workflowId: `retention-${taskId}`,
    taskQueue: h.taskQueue,
    args: [{ taskId }],
  })
  assert.equal(results[0]?.taskId, taskId)
  assert.equal(results[0]?.deleted, 25)
  const left = await h.db
    .select()
    .from(traffic)
    .where(sql`${traffic.id} like ${`${runId}%`}`)
  assert.equal(left.length, 0)
  await setRetention(h.db, { taskId, days: null, actor: 'user:test' })
})
