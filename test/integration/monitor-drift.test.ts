/**
 * Genuine drift in the simulated world, end to end through the real Temporal server and Postgres:
 * the provider silently updates the production model (the scenario's `provider-update` drift) once
 * the monitor has learned its reference → the change detector alarms → an alert webhook → an
 * improvement campaign started by the monitor, with its trigger in the audit log → a canary of the
 * re-optimized prompt awaiting a person's approval. A second drift (the traffic mix) within the
 * monitor's campaign cooldown starts nothing, and the monitor says why; slower answers (the
 * `slow-provider` drift) are a latency alert, not a campaign.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { and, eq } from 'drizzle-orm'
import { acknowledgeAlert } from '../../db/queries/monitor.js'
import { auditEvents, campaigns, promptVersions } from '../../db/schema.js'
import {
  canaryStatusQuery,
  monitorStatusQuery,
  stopMonitorSignal,
  type CampaignResult,
} from '../../workflows/messages.js'
import { qualityMonitor } from '../../workflows/index.js'
import { DRIFT_MONITOR } from '../helpers/fixtures.js'
import { startHookReceiver, type HookReceiver } from '../helpers/hooks.js'
import { eventually, startHarness, uniqueSuffix, type Harness } from '../helpers/infra.js'

let h: Harness
type Details = { alertId: string; kind: string; metric: string }
let hooks: HookReceiver
let received: HookReceiver['received']

before(async () => {
  hooks = await startHookReceiver()
  received = hooks.received
  h = await startHarness({
    name: 'monitor-drift',
    fixedIds: true,
    webhooks: { json: { url: hooks.url } },
  })
  // The campaign samples the last 24 hours of traffic: some from before the monitor starts.
  await h.traffic.burst(260)
  h.traffic.start(40)
})
after(async () => {
  await h?.traffic.stop()
  await h?.close()
  hooks?.close()
})

test(`a silent model update → change alarm → alert delivered → a campaign started by the monitor → \
a canary awaiting approval; a second drift within the cooldown starts nothing`, async () => {
  const scenarioId = h.scenario.id
  const handle = await h.client.workflow.start(qualityMonitor, {
    taskQueue: h.taskQueue,
    workflowId: uniqueSuffix('monitor-drift'),
    args: [{ taskId: h.task.taskId, config: DRIFT_MONITOR }],
  })
  try {
    const watching = await eventually(
      () => handle.query(monitorStatusQuery),
      (s) => s.phase === 'watching',
      60_000,
      'the reference learned',
    )
    // Before the drift, the same traffic sets off nothing.
    assert.deepEqual(watching.alerts, [])
    assert.equal(received.length, 0)
    const drift = h.simulation.startDrift(scenarioId, 'provider-update')
    assert.ok(drift.startedAt)

    const alert = await eventually(
      async () => received.find((r) => r.event === 'monitor.alert'),
      (r) => r !== undefined,
      60_000,
      'the alert webhook',
    )
    const details = alert!.body.details as Details
    assert.equal(details.kind, 'change')
    assert.equal(details.metric, 'dq')
    const status = await eventually(
      () => handle.query(monitorStatusQuery),
      (s) => s.campaigns.length === 1,
      30_000,
      'a campaign started by the monitor',
    )
    const started = status.campaigns[0]!
    assert.equal(started.alertId, details.alertId)
    assert.match(started.campaignId, new RegExp(`^campaign-${h.task.taskId}-\\d{8}-\\d{6}-monitor$`))
    const audit = await h.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.taskId, h.task.taskId), eq(auditEvents.action, 'monitor.campaign_started')))
    assert.deepEqual(
      audit.map((e) => [e.subjectId, (e.details as { alertId: string }).alertId]),
      [[started.campaignId, details.alertId]],
    )

    // The campaign re-optimizes for the updated model and canaries the winner; a person decides.
    const result: CampaignResult = await h.client.workflow.getHandle(started.campaignId).result()
    assert.equal(result.decision, 'canary-started', result.reason ?? '')
    // It answers the drift: the winner tells the updated model, in a wording it acts on, to reply with JSON.
    const winner = await h.db.query.promptVersions.findFirst({ where: eq(promptVersions.id, result.winnerVersion!) })
    assert.match(winner!.system, /Reply with JSON only/)
    const row = await h.db.query.campaigns.findFirst({ where: eq(campaigns.id, started.campaignId) })
    assert.equal(row!.trigger, 'monitor')
    assert.equal(row!.triggerRef, details.alertId)
    const canary = await eventually(
      () => h.client.workflow.getHandle(result.canary!.workflowId).query(canaryStatusQuery),
      (s) => s.state === 'awaiting_approval' || s.state === 'rolled_back',
      120_000,
      'the canary awaiting approval',
    )
    assert.equal(canary.state, 'awaiting_approval', canary.reason ?? '')

    // A second drift: the alert, acknowledged, is raised again; the campaign rules hold it back.
    await acknowledgeAlert(h.db, { alertId: details.alertId, by: 'ops@example.com', at: new Date() })
    h.simulation.startDrift(scenarioId, 'certificate-wave')
    const held = await eventually(
      () => handle.query(monitorStatusQuery),
      (s) => s.heldBack !== null && s.alerts.length >= 2,
      60_000,
      'a second degradation held back',
    )
    assert.match(held.heldBack!, /running for this task|within the cooldown/)
    assert.equal(held.campaigns.length, 1)
    const monitorCampaigns = await h.db
      .select()
      .from(campaigns)
      .where(and(eq(campaigns.taskId, h.task.taskId), eq(campaigns.trigger, 'monitor')))
    assert.equal(monitorCampaigns.length, 1)

    // Slower answers: a change in the share of requests slower than the reference's p95 — an alert, no campaign.
    h.simulation.startDrift(scenarioId, 'slow-provider')
    const slow = await eventually(
      async () => received.find((r) => r.event === 'monitor.alert' && (r.body.details as Details).metric === 'latency'),
      (r) => r !== undefined,
      60_000,
      'the latency alert',
    )
    assert.equal((slow!.body.details as Details).kind, 'change')
    assert.equal((await handle.query(monitorStatusQuery)).campaigns.length, 1)
  } finally {
    await handle.signal(stopMonitorSignal)
    await handle.result()
  }
})
