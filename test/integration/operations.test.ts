/**
 * Operations end to end (issue 13), through client/operations.ts: the HTTP API's strict campaign
 * settings and checks, fast answers when no worker runs (CLI exit 7, API 503), a reject sent right
 * after an approval with real activities (approvals and audit consistent), and the preflight on a
 * worker agreeing with the one against the database. (The CLI's input checks, the estimate's
 * refusal and a failed campaign's root cause: operations-cli.test.ts.)
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { WorkflowNotFoundError, WorkflowUpdateStage } from '@temporalio/client'
import { and, asc, eq } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { createOperations } from '../../client/operations.js'
import { parseCampaignConfig } from '../../core/config.js'
import { getLabels } from '../../db/queries/labels.js'
import { campaignPreflight } from '../../db/queries/preflight.js'
import { createToken } from '../../db/queries/tokens.js'
import { approvals, auditEvents, campaigns, labelHistory } from '../../db/schema.js'
import { PromptResolver } from '../../serving/resolver.js'
import { canaryRelease } from '../../workflows/canary/index.js'
import { approveUpdate, canaryStatusQuery } from '../../workflows/messages.js'
import { apiCaller, errorOf, kaizen } from '../helpers/cli.js'
import { betterContent, fastCanary, measuredCostRatio, version } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, uniqueSuffix, type Harness } from '../helpers/infra.js'

let h: Harness
let call: ReturnType<typeof apiCaller>
let tokens: Record<'read' | 'operate' | 'bob', string>
const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-ops-test-'))

before(async () => {
  h = await startHarness({ name: 'ops' })
  tokens = {
    read: (await createToken(h.db, { name: 'ops-read', scopes: ['read'], createdBy: 'test' })).secret,
    operate: (await createToken(h.db, { name: 'ops-operate', scopes: ['operate', 'read'], createdBy: 'test' })).secret,
    bob: (
      await createToken(h.db, {
        name: 'ops-bob',
        scopes: ['approve', 'read'],
        person: 'bob@example.com',
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
})
after(async () => {
  await h.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/** The CLI against the test Temporal server, on the harness worker's task queue (or another). */
const cli = (args: string[], extra: Record<string, string> = {}) =>
  kaizen(args, {
    KAIZEN_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: testInfra().temporalAddress,
    TEMPORAL_TASK_QUEUE: h.taskQueue,
    ...extra,
  })
const exists = (workflowId: string) =>
  h.client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      () => true,
      (e: unknown) => (e instanceof WorkflowNotFoundError ? false : Promise.reject(e)),
    )

test('API: campaign settings are strict, and the campaign is checked before it starts', async () => {
  const task = h.scenario.task.id
  const typo = await call('POST', '/v1/campaigns', tokens.operate, { task, config: { search: { roudns: 2 } } })
  assert.equal(typo.status, 400)
  const e = await errorOf(typo)
  assert.deepEqual(e.fields, ['config.search.roudns'])
  assert.match(e.message, /config\.search\.roudns: unknown setting "roudns"; did you mean "rounds"\?/)
  const list = await call('POST', '/v1/campaigns', tokens.operate, { task, config: [1] })
  assert.equal(list.status, 400)
  assert.deepEqual((await errorOf(list)).fields, ['config'])

  const unknown = await call('POST', '/v1/campaigns', tokens.operate, { task: `${task}x` })
  assert.equal(unknown.status, 404)
  const u = await errorOf(unknown)
  assert.deepEqual(u.fields, ['task'])
  assert.match(u.message, new RegExp(`unknown task "${task}x"; did you mean "${task}"\\?.*nothing was started`))
  // No traffic yet: the campaign would fail at its snapshot, so nothing starts.
  const id = uniqueSuffix('ops-api-empty')
  const empty = await call('POST', '/v1/campaigns', tokens.operate, { task, id })
  assert.equal(empty.status, 422)
  assert.match((await errorOf(empty)).message, /has 0 usable traffic records.*nothing was started/)
  assert.equal(await exists(id), false)
  assert.equal((await h.db.select().from(campaigns).where(eq(campaigns.id, id))).length, 0)
})

test(`no worker polling: status, approve and start fail at once with exit 7 and a hint; \
once ended, status needs none`, async () => {
  const queue = uniqueSuffix('ops-no-worker')
  const campaignId = uniqueSuffix('ops-orphan')
  const canaryId = uniqueSuffix('canary-ops-orphan')
  const orphan = await h.client.workflow.start('optimizationCampaign', {
    workflowId: campaignId,
    taskQueue: queue,
    args: [{ taskId: h.scenario.task.id, campaignId, trigger: 'test', config: {} }],
  })
  const orphanCanary = await h.client.workflow.start('canaryRelease', {
    workflowId: canaryId,
    taskQueue: queue,
    args: [
      {
        canaryId,
        taskId: h.scenario.task.id,
        campaignId: null,
        candidateVersionId: 'pv_x',
        baselineVersionId: 'pv_y',
        graderVersionId: 'gv',
      },
    ],
  })
  try {
    const hint = new RegExp(
      `no Kaizen worker is polling task queue "${queue}", so .*; start one with \`kaizen up\` \\(embedded\\) ` +
        `or \`kaizen worker\``,
    )
    const status = await cli(['campaign', 'status', campaignId])
    assert.equal(status.code, 7, status.stderr)
    assert.match(status.stderr, hint)
    const approve = await cli(['canary', 'approve', canaryId, '--approver', 'alice@example.com'])
    assert.equal(approve.code, 7, approve.stderr)
    assert.match(
      approve.stderr,
      new RegExp(
        `no Kaizen worker is polling task queue "${queue}", so canary ${canaryId} cannot take the approve ` +
          `now \\(nothing was recorded\\)`,
      ),
    )
    const id = uniqueSuffix('ops-nostart')
    const start = await cli(['campaign', 'start', '--task', h.scenario.task.id, '--id', id, '--no-wait'], {
      TEMPORAL_TASK_QUEUE: queue,
    })
    assert.equal(start.code, 7, start.stderr)
    assert.match(
      start.stderr,
      new RegExp(`no Kaizen worker is polling task queue "${queue}", so the campaign cannot be checked \\(nor run\\)`),
    )
    assert.equal(await exists(id), false)
    for (const path of [`/v1/campaigns/${campaignId}`, `/v1/canaries/${canaryId}`]) {
      const api = await call('GET', path, tokens.read)
      assert.equal(api.status, 503, path)
      assert.match((await errorOf(api)).message, hint)
    }
  } finally {
    await orphan.terminate('test over')
    await orphanCanary.terminate('test over')
  }
  const ended = await cli(['campaign', 'status', campaignId])
  assert.equal(ended.code, 0, ended.stderr)
  assert.match(ended.stderr, new RegExp(`${campaignId} · terminated: test over \\[terminated\\]`))
  const endedCanary = await call('GET', `/v1/canaries/${canaryId}`, tokens.read)
  assert.equal(endedCanary.status, 200)
  assert.equal(
    ((await endedCanary.json()) as { failure: { chain: Array<{ kind: string }> } }).failure.chain.at(-1)?.kind,
    'terminated',
  )
})

test('a reject sent right after an approval rolls production back; approvals and audit say exactly that', async () => {
  const content = betterContent(h.scenario)
  const candidate = await version(h.db, h.scenario, content, 'ops-better')
  const expectedCostRatio = await measuredCostRatio(h.simulation, h.scenario, content)
  const config = fastCanary({ bake: { seconds: 3_600, holdbackWeight: 0.1 } })
  const canaryId = `canary-${h.scenario.id}`
  h.traffic.start(40)
  try {
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
          config: { ...config, analysis: { ...config.analysis!, expectedCostRatio } },
        },
      ],
    })
    await eventually(
      () => handle.query(canaryStatusQuery),
      (s) => s.state === 'awaiting_approval',
      90_000,
      'awaiting approval',
    )
    // Alice approves; as soon as the approval is accepted (not yet carried out), Bob rejects over HTTP.
    const approval = await handle.startUpdate(approveUpdate, {
      args: [{ approver: 'alice@example.com' }],
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    })
    const rejected = await call('POST', `/v1/canaries/${canaryId}/reject`, tokens.bob, {
      comment: 'support tickets doubled',
    })
    assert.equal(rejected.status, 200, JSON.stringify(await rejected.clone().json()))
    const outcome = (await rejected.json()) as { state: string; productionVersionId: string; message: string }
    assert.equal(outcome.state, 'rolled_back')
    assert.equal(outcome.productionVersionId, h.task.seedVersion.id)
    assert.match(
      outcome.message,
      new RegExp(
        `rejected by bob@example.com during the bake window: rolled back, production is back on ` +
          `${h.task.seedVersion.id}`,
      ),
    )
    assert.equal((await approval.result()).state, 'promoted')
    const final = await handle.result()
    assert.equal(final.state, 'rolled_back')
    assert.equal((await getLabels(h.db, h.scenario.task.id)).production?.promptVersionId, h.task.seedVersion.id)

    // One approval row per decision; the audit log tells the same story, once each.
    const rows = await h.db.select().from(approvals).where(eq(approvals.canaryId, canaryId)).orderBy(asc(approvals.at))
    assert.deepEqual(
      rows.map((r) => [r.decision, r.approver]),
      [
        ['approve', 'alice@example.com'],
        ['reject', 'bob@example.com'],
      ],
    )
    const actions = (await h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, canaryId))).map(
      (e) => e.action,
    )
    for (const a of [
      'canary.approved',
      'canary.promoted',
      'canary.bake_started',
      'canary.rejected',
      'canary.bake_rolled_back',
    ])
      assert.equal(actions.filter((x) => x === a).length, 1, `${a} once in ${actions.join(',')}`)
    const moves = await h.db
      .select()
      .from(labelHistory)
      .where(and(eq(labelHistory.canaryId, canaryId), eq(labelHistory.label, 'production')))
      .orderBy(asc(labelHistory.at))
    assert.deepEqual(
      moves.map((m) => m.toVersionId),
      [candidate.id, h.task.seedVersion.id],
    )

    // Approving the ended canary again says what happened to it, records nothing.
    const late = await cli(['canary', 'approve', canaryId, '--approver', 'alice@example.com'])
    assert.equal(late.code, 4, late.stderr)
    assert.match(
      late.stderr,
      new RegExp(
        `canary ${canaryId} has ended: rolled_back \\(approved by alice@example.com at \\S+\\): rolled back ` +
          `during the bake window by bob@example.com: support tickets doubled; nothing to approve, nothing was ` +
          `recorded`,
      ),
    )
    assert.equal((await h.db.select().from(approvals).where(eq(approvals.canaryId, canaryId))).length, 2)
    const status = await cli(['canary', 'status', canaryId])
    assert.match(
      status.stderr,
      /approved by alice@example.com at \S+ \(apr_[^)]+\)\n\s+rejected by bob@example.com at \S+ \(apr_[^)]+\)/,
    )
  } finally {
    await h.traffic.stop()
  }
})

test(`with traffic, the checks pass: preflight (worker and database give the same answer) and \
the estimate has no refusal`, async () => {
  await h.traffic.burst(120)
  const config = parseCampaignConfig({ sample: { size: 120, minItems: 60 } })
  const viaWorker = await createOperations({ client: h.client, taskQueue: h.taskQueue }).preflight({
    taskId: h.scenario.task.id,
    config,
    mode: 'start',
    campaignId: 'ops-preflight',
  })
  const direct = await campaignPreflight(h.db, {
    taskId: h.scenario.task.id,
    config,
    mode: 'start',
    campaignId: 'ops-preflight',
  })
  assert.equal(viaWorker.refusal, null, JSON.stringify(viaWorker))
  assert.deepEqual({ ...viaWorker, warnings: [] }, { ...direct, warnings: [] })
  const est = await cli(['campaign', 'estimate', '--task', h.scenario.task.id, '--json'], {
    DATABASE_URL: testInfra().databaseUrl,
  })
  assert.equal(est.code, 0, est.stderr)
  assert.equal(JSON.parse(est.stdout).refusal, null)
})
