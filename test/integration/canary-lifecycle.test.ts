/**
 * The canary beyond one step: the ramp, the bake window after promotion (and rolling production
 * back when the new version regresses in it), approval rules, and webhook notifications.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import { test } from 'node:test'
import { WorkflowUpdateFailedError } from '@temporalio/client'
import { and, asc, eq } from 'drizzle-orm'
import type { CanaryConfig } from '../../core/config.js'
import { getLabels } from '../../db/queries/labels.js'
import { auditEvents, labelHistory } from '../../db/schema.js'
import type { WebhookTargets } from '../../lib/webhooks.js'
import { canaryRelease } from '../../workflows/canary/index.js'
import {
  approveUpdate,
  canaryStatusQuery,
  rejectUpdate,
  type CanaryState,
  type CanaryStatus,
} from '../../workflows/messages.js'
import { betterContent, fastCanary, measuredCostRatio, version } from '../helpers/fixtures.js'
import { eventually, failureMessages, startHarness, type Harness } from '../helpers/infra.js'

async function start(h: Harness, config: Partial<CanaryConfig>) {
  const content = betterContent(h.scenario)
  const candidate = await version(h.db, h.scenario, content, 'better')
  const expectedCostRatio = await measuredCostRatio(h.simulation, h.scenario, content)
  const canaryId = `canary-${h.scenario.id}`
  const handle = await h.client.workflow.start(canaryRelease, {
    workflowId: canaryId,
    taskQueue: h.taskQueue,
    args: [
      {
        canaryId,
        taskId: h.scenario.task.id,
        campaignId: null,
        candidateVersionId: candidate.id,
        baselineVersionId: h.task.seedVersion.id,
        graderVersionId: h.task.graderVersionId,
        config: {
          ...config,
          analysis: { ...(config.analysis as NonNullable<CanaryConfig['analysis']>), expectedCostRatio },
        },
      },
    ],
  })
  return { canaryId, candidateId: candidate.id, handle }
}

const untilState = (
  handle: { query: (q: typeof canaryStatusQuery) => Promise<CanaryStatus> },
  states: CanaryState[],
  ms = 90_000,
) =>
  eventually(
    () => handle.query(canaryStatusQuery),
    (s) => states.includes(s.state),
    ms,
    `canary state ${states.join('/')}`,
  )

test('the ramp widens exposure step by step, then asks for approval at the last step', async () => {
  const h = await startHarness({ name: 'ramp' })
  try {
    h.traffic.start(60)
    const { canaryId, handle } = await start(
      h,
      fastCanary({ weight: undefined, steps: [0.1, 0.25, 0.5], minSamplesPerStep: 10 }),
    )
    const s = await untilState(handle, ['awaiting_approval', 'rolled_back'])
    assert.equal(s.state, 'awaiting_approval', s.reason ?? '')
    assert.equal(s.weight, 0.5)
    assert.equal(s.step, 2)
    const moves = await h.db
      .select()
      .from(labelHistory)
      .where(and(eq(labelHistory.canaryId, canaryId), eq(labelHistory.label, 'canary')))
      .orderBy(asc(labelHistory.at))
    assert.deepEqual(
      moves.map((m) => m.weight),
      [0.1, 0.25, 0.5],
    )
    const ramped = await h.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, canaryId), eq(auditEvents.action, 'canary.ramped')))
    assert.equal(ramped.length, 2)
    assert.equal((await getLabels(h.db, h.scenario.task.id)).canary?.weight, 0.5)
    await handle.executeUpdate(rejectUpdate, { args: [{ approver: 'test@example.com', comment: 'done' }] })
  } finally {
    await h.close()
  }
})

test('after approval the bake window keeps a holdback on the previous version, then ends', async () => {
  const h = await startHarness({ name: 'bake-ok' })
  try {
    h.traffic.start(60)
    const { canaryId, candidateId, handle } = await start(h, fastCanary({ bake: { seconds: 4, holdbackWeight: 0.2 } }))
    await untilState(handle, ['awaiting_approval'])
    const outcome = await handle.executeUpdate(approveUpdate, { args: [{ approver: 'frank@example.com' }] })
    assert.equal(outcome.state, 'promoted', 'the approval returns once production moved')
    const baking = await untilState(handle, ['baking', 'promoted'], 20_000)
    if (baking.state === 'baking') {
      // The status says "baking" as the holdback is being put in place (startBake), and the window
      // ends after 4 s: look at the labels while it lasts, until the holdback shows.
      for (;;) {
        const labels = await getLabels(h.db, h.scenario.task.id)
        if ((await handle.query(canaryStatusQuery)).state !== 'baking') break
        if (!labels.canary) {
          await new Promise((r) => setTimeout(r, 100))
          continue
        }
        assert.equal(labels.production?.promptVersionId, candidateId)
        assert.equal(labels.canary.promptVersionId, h.task.seedVersion.id, 'the holdback serves the previous version')
        assert.equal(labels.canary.weight, 0.2)
        break
      }
    }
    const final = await handle.result()
    // Whatever the timing of the reads above: the label history shows the promotion, then the holdback
    // on the previous version at the bake weight, then the holdback removed.
    const moves = await h.db
      .select()
      .from(labelHistory)
      .where(eq(labelHistory.canaryId, canaryId))
      .orderBy(asc(labelHistory.id))
    const promotedAt = moves.findIndex((m) => m.label === 'production' && m.toVersionId === candidateId)
    const holdbackAt = moves.findIndex(
      (m) =>
        m.label === 'canary' &&
        m.toVersionId === h.task.seedVersion.id &&
        m.weight !== null &&
        Math.abs(m.weight - 0.2) < 1e-6,
    )
    const removedAt = moves.findLastIndex((m) => m.label === 'canary' && m.toVersionId === null)
    assert.ok(
      promotedAt >= 0 && holdbackAt > promotedAt && removedAt > holdbackAt,
      JSON.stringify(moves.map((m) => [m.label, m.toVersionId, m.weight])),
    )
    assert.equal(final.state, 'promoted')
    assert.match(final.reason ?? '', /bake window of 4 s passed without regression/)
    const labels = await getLabels(h.db, h.scenario.task.id)
    assert.equal(labels.production?.promptVersionId, candidateId)
    assert.equal(labels.canary, null)
    const actions = (await h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, canaryId))).map(
      (e) => e.action,
    )
    for (const a of ['canary.approved', 'canary.promoted', 'canary.bake_started', 'canary.baked'])
      assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`)
  } finally {
    await h.close()
  }
})

test('a regression after promotion inside the bake window rolls production back to the previous version', async () => {
  const h = await startHarness({ name: 'bake-regression' })
  try {
    h.traffic.start(60)
    const { canaryId, candidateId, handle } = await start(
      h,
      fastCanary({ bake: { seconds: 120, holdbackWeight: 0.25 } }),
    )
    await untilState(handle, ['awaiting_approval'])
    await handle.executeUpdate(approveUpdate, { args: [{ approver: 'grace@example.com' }] })
    await untilState(handle, ['baking'], 20_000)
    h.traffic.failVersionId = candidateId // the promoted version starts failing in production
    const final = await handle.result()
    assert.equal(final.state, 'rolled_back')
    assert.match(final.reason ?? '', /regression during the bake window/)
    const labels = await getLabels(h.db, h.scenario.task.id)
    assert.equal(
      labels.production?.promptVersionId,
      h.task.seedVersion.id,
      'production is back on the previous version',
    )
    assert.equal(labels.canary, null)
    const events = await h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, canaryId))
    assert.ok(events.some((e) => e.action === 'canary.bake_rolled_back'))
    const rolled = events.find((e) => e.action === 'canary.rolled_back')
    assert.equal(rolled?.details.restoredVersionId, h.task.seedVersion.id)
    assert.match(String(rolled?.details.reason), /regression during the bake window/)
  } finally {
    await h.close()
  }
})

test('approval rules: required roles, and a rejection must say why', async () => {
  const h = await startHarness({ name: 'rules' })
  try {
    h.traffic.start(60)
    const { handle } = await start(h, fastCanary({ approverRoles: ['owner', 'on-call'], requireRejectComment: true }))
    await untilState(handle, ['awaiting_approval'])
    await assert.rejects(
      handle.executeUpdate(approveUpdate, { args: [{ approver: 'heidi@example.com' }] }),
      (e) =>
        e instanceof WorkflowUpdateFailedError && /needs one of these roles: owner, on-call/.test(failureMessages(e)),
    )
    await assert.rejects(
      handle.executeUpdate(approveUpdate, { args: [{ approver: 'heidi@example.com', role: 'intern' }] }),
      WorkflowUpdateFailedError,
    )
    await assert.rejects(
      handle.executeUpdate(rejectUpdate, { args: [{ approver: 'heidi@example.com', role: 'owner' }] }),
      (e) => e instanceof WorkflowUpdateFailedError && /reject needs a comment/.test(failureMessages(e)),
    )
    const ok = await handle.executeUpdate(approveUpdate, { args: [{ approver: 'heidi@example.com', role: 'owner' }] })
    assert.equal(ok.state, 'promoted')
  } finally {
    await h.close()
  }
})

test(`webhooks: approval needed, rollback and promotion are delivered as signed \
JSON and as Slack messages`, async () => {
  const received: Array<{ path: string; headers: IncomingMessage['headers']; body: string }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body })
      res
        .writeHead(req.url === '/flaky' && received.filter((r) => r.path === '/flaky').length === 1 ? 503 : 200)
        .end('ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const secret = 'test-secret-0123456789'
  const webhooks: WebhookTargets = {
    json: { url: `http://127.0.0.1:${port}/flaky`, secret },
    slack: { url: `http://127.0.0.1:${port}/slack` },
  }
  const h = await startHarness({ name: 'webhooks', webhooks, consoleUrl: 'https://kaizen.example.com' })
  try {
    h.traffic.start(60)
    const { canaryId, handle } = await start(h, fastCanary())
    await untilState(handle, ['awaiting_approval'])
    await eventually(
      async () => received.filter((r) => r.path === '/slack').length,
      (n) => n >= 1,
      20_000,
      'approval-needed delivery',
    )
    await handle.executeUpdate(approveUpdate, { args: [{ approver: 'ivan@example.com' }] })
    await handle.result()
    await eventually(
      async () => received.filter((r) => r.path === '/slack').length,
      (n) => n >= 2,
      20_000,
      'promotion delivery',
    )

    const json = received.filter((r) => r.path === '/flaky' && r.headers['x-kaizen-event'])
    const events = json.map(
      (r) =>
        JSON.parse(r.body) as {
          id: string
          event: string
          canaryId: string
          actions: Record<string, string>
          url?: string
        },
    )
    // Every notification links to the canary's page in the console.
    const page = `https://kaizen.example.com/canaries/${encodeURIComponent(canaryId)}`
    assert.ok(
      events.every((e) => e.url === page),
      JSON.stringify(events.map((e) => e.url)),
    )
    assert.ok(
      events.some((e) => e.event === 'canary.approval_needed' && /kaizen canary approve/.test(e.actions.approve ?? '')),
    )
    assert.ok(events.some((e) => e.event === 'canary.promoted'))
    for (const r of json) {
      assert.equal(
        r.headers['x-kaizen-signature'],
        `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`,
      )
    }
    // The first delivery got a 503 and was retried with the same event id.
    const first = events[0]!
    assert.ok(events.filter((e) => e.id === first.id).length >= 2, 'retried with the same id')
    const slack = received
      .filter((r) => r.path === '/slack')
      .map((r) => JSON.parse(r.body) as { text: string; blocks: unknown[] })
    assert.ok(slack.every((m) => m.text.startsWith('[Kaizen]') && Array.isArray(m.blocks)))
    assert.ok(slack.every((m) => JSON.stringify(m.blocks).includes(`<${page}|Open it in the Kaizen console>`)))
    // Targets are independent: Slack got that first event at once, and only once (the retry skipped it).
    assert.equal(
      slack.filter((m) => m.text.includes('needs a human decision')).length,
      1,
      slack.map((m) => m.text).join(' | '),
    )
    const audit = await h.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.subjectId, canaryId), eq(auditEvents.action, 'notification.sent')))
    assert.ok(audit.length >= 2)
    assert.ok(!JSON.stringify(audit).includes(`${port}`), 'webhook URLs (secrets) are not written to the audit log')
  } finally {
    await h.close()
    server.close()
  }
})
