/**
 * The quality monitor's workflow through the real Temporal server and Postgres, on simulated
 * traffic: a DQ floor breach is raised as an alert (a webhook receives it), the monitor starts an
 * improvement campaign whose trigger and alert are in the campaign row and the audit log, and a
 * second breach after the alert is acknowledged starts nothing (the campaign runs, and the
 * monitor's campaign cooldown holds) and says why.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { and, eq } from 'drizzle-orm'
import { acknowledgeAlert } from '../../db/queries/monitor.js'
import { auditEvents, campaigns } from '../../db/schema.js'
import { campaignStatusQuery, monitorStatusQuery, stopMonitorSignal } from '../../workflows/messages.js'
import { qualityMonitor } from '../../workflows/index.js'
import { FLOOR_BREACH_MONITOR } from '../helpers/fixtures.js'
import { startHookReceiver, type HookReceiver } from '../helpers/hooks.js'
import { eventually, startHarness, uniqueSuffix, type Harness } from '../helpers/infra.js'

let h: Harness
let hooks: HookReceiver
let received: HookReceiver['received']

before(async () => {
  hooks = await startHookReceiver()
  received = hooks.received
  h = await startHarness({ name: 'monitor-wf', webhooks: { json: { url: hooks.url } } })
  // The campaign the monitor starts samples the last 24 hours of traffic: some must be there.
  await h.traffic.burst(260)
  h.traffic.start(40)
})
after(async () => {
  await h?.traffic.stop()
  await h?.close()
  hooks?.close()
})

test(`a DQ floor breach → alert delivered → a campaign started by the monitor, audited; \
a second breach starts nothing`, async () => {
  const workflowId = uniqueSuffix('monitor')
  const handle = await h.client.workflow.start(qualityMonitor, {
    taskQueue: h.taskQueue,
    workflowId,
    args: [
      {
        taskId: h.task.taskId,
        config: FLOOR_BREACH_MONITOR,
      },
    ],
  })
  try {
    const alert = await eventually(
      async () => received.find((r) => r.event === 'monitor.alert'),
      (r) => r !== undefined,
      60_000,
      'the alert webhook',
    )
    const details = alert!.body.details as { alertId: string; kind: string; metric: string }
    assert.equal(details.kind, 'floor')
    assert.equal(details.metric, 'dq')
    assert.equal(alert!.body.taskId, h.task.taskId)
    const status = await eventually(
      () => handle.query(monitorStatusQuery),
      (s) => s.campaigns.length === 1,
      30_000,
      'a campaign started by the monitor',
    )
    const started = status.campaigns[0]!
    assert.equal(started.alertId, details.alertId)
    const row = await eventually(
      () => h.db.query.campaigns.findFirst({ where: eq(campaigns.id, started.campaignId) }),
      (r) => r !== undefined,
      30_000,
      'the campaign row',
    )
    assert.equal(row!.trigger, 'monitor')
    assert.equal(row!.triggerRef, details.alertId)
    assert.match(started.campaignId, new RegExp(`^campaign-${h.task.taskId}-\\d{8}-\\d{6}-monitor$`))
    // The campaign gets past its start (pinned baseline, a sample of traffic), whatever it decides.
    await eventually(
      () => h.client.workflow.getHandle(started.campaignId).query(campaignStatusQuery),
      (s) => !['starting', 'sampling', 'failed'].includes(s.stage),
      60_000,
      'the campaign past sampling',
    )
    const audit = await h.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.taskId, h.task.taskId), eq(auditEvents.action, 'monitor.campaign_started')))
    assert.deepEqual(
      audit.map((e) => [e.subjectId, (e.details as { alertId: string }).alertId]),
      [[started.campaignId, details.alertId]],
    )

    // While the alert is open the breach is a duplicate; acknowledged, it is raised again after
    // the alert cooldown, and the monitor's campaign rules hold the second campaign back.
    await acknowledgeAlert(h.db, { alertId: details.alertId, by: 'ops@example.com', at: new Date() })
    const held = await eventually(
      () => handle.query(monitorStatusQuery),
      (s) => s.heldBack !== null && s.alerts.length >= 2,
      60_000,
      'a second breach held back',
    )
    assert.match(held.heldBack!, /running for this task|within the cooldown/)
    assert.equal(held.campaigns.length, 1)
    const monitorCampaigns = await h.db
      .select()
      .from(campaigns)
      .where(and(eq(campaigns.taskId, h.task.taskId), eq(campaigns.trigger, 'monitor')))
    assert.equal(monitorCampaigns.length, 1)
    // The campaign may have ended by now (this small one often finds nothing to ship); else stop it.
    const campaign = h.client.workflow.getHandle(started.campaignId)
    if ((await campaign.describe()).status.name === 'RUNNING') await campaign.terminate('test over')
  } finally {
    await handle.signal(stopMonitorSignal)
    const end = await handle.result()
    assert.equal(end.phase, 'stopped')
  }
})
