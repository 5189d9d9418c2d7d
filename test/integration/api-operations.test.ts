import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { WorkflowNotFoundError } from '@temporalio/client'
import { and, eq, sql } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { getLabels } from '../../db/queries/labels.js'
import { createToken } from '../../db/queries/tokens.js'
import { approvals, auditEvents, campaigns } from '../../db/schema.js'
import { isKaizenError } from '../../core/errors.js'
import { PromptResolver } from '../../serving/resolver.js'
import { canaryRelease } from '../../workflows/canary/index.js'
import { canaryStatusQuery, type CampaignResult } from '../../workflows/messages.js'
import { TEST_CAMPAIGN, betterContent, fastCanary, measuredCostRatio, version } from '../helpers/fixtures.js'
import { eventually, startHarness, type Harness } from '../helpers/infra.js'

let h: Harness
let app: ReturnType<typeof createApi>
let tokens: Record<'read' | 'operate' | 'alice' | 'bob', string>

before(async () => {
  h = await startHarness({ name: 'api-ops' })
  tokens = {
    read: (await createToken(h.db, { name: 'dashboard', scopes: ['read'], createdBy: 'test' })).secret,
    operate: (await createToken(h.db, { name: 'ops-bot', scopes: ['operate', 'read'], createdBy: 'test' })).secret,
    alice: (
      await createToken(h.db, {
        name: 'alice',
        scopes: ['approve', 'read'],
        person: 'alice@example.com',
        role: 'on-call',
        createdBy: 'test',
      })
    ).secret,
    bob: (await createToken(h.db, { name: 'bob', scopes: ['approve'], person: 'bob@example.com', createdBy: 'test' }))
      .secret,
  }
  app = createApi({
    db: h.db,
    resolver: new PromptResolver(h.db),
    temporal: { client: async () => h.client, taskQueue: h.taskQueue },
    providers: h.deps.providers,
    evalConcurrency: 4,
  })
})
after(() => h.close())

const call = (method: string, path: string, secret: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
const errorOf = async (r: Response) =>
  ((await r.json()) as { error: { code: string; message: string; fields?: string[] } }).error

test("approve tokens need a person; an approval over HTTP is recorded under the token's person and role", async () => {
  await assert.rejects(
    createToken(h.db, { name: 'nobody', scopes: ['approve'], createdBy: 'test' }),
    (e: unknown) =>
      isKaizenError(e) && e.code === 'INVALID_INPUT' && /person: the approve scope needs the person/.test(e.message),
  )

  const content = betterContent(h.scenario)
  const candidate = await version(h.db, h.scenario, content, 'api-ops-better')
  const expectedCostRatio = await measuredCostRatio(h.simulation, h.scenario, content)
  const config = fastCanary()
  const canaryId = `canary-${h.scenario.id}`
  h.traffic.start(40)
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
  try {
    const status = await call('GET', `/v1/canaries/${canaryId}`, tokens.read)
    assert.equal(status.status, 200)
    assert.equal(((await status.json()) as { canaryId: string }).canaryId, canaryId)
    assert.equal((await call('GET', '/v1/canaries/no-such-canary', tokens.read)).status, 404)

    // Too early: the validator refuses, 409, nothing recorded.
    const early = await call('POST', `/v1/canaries/${canaryId}/approve`, tokens.alice, { comment: 'looks fine' })
    if (early.status !== 200) {
      assert.equal(early.status, 409)
      assert.match((await errorOf(early)).message, /not awaiting approval/)
    }
    assert.equal(
      (await call('POST', `/v1/canaries/${canaryId}/approve`, tokens.operate, {})).status,
      403,
      'operate is not approve',
    )
    // An approver limited to other tasks can neither read nor decide this canary.
    const elsewhere = await createToken(h.db, {
      name: 'billing-approver',
      scopes: ['approve', 'read'],
      person: 'dana@example.com',
      tasks: ['billing-*'],
      createdBy: 'test',
    })
    const refused = await call('POST', `/v1/canaries/${canaryId}/approve`, elsewhere.secret, {})
    assert.equal(refused.status, 403)
    assert.match((await errorOf(refused)).message, /may not act on task ".*" \(id\); it is limited to billing-\*/)
    assert.equal((await call('GET', `/v1/canaries/${canaryId}`, elsewhere.secret)).status, 403)
    const billingOps = await createToken(h.db, {
      name: 'billing-ops',
      scopes: ['operate'],
      tasks: ['billing-*'],
      createdBy: 'test',
    })
    const start = await call('POST', '/v1/campaigns', billingOps.secret, { task: h.scenario.task.id })
    assert.equal(start.status, 403, 'refused before anything starts')
    assert.match((await errorOf(start)).message, /may not act on task ".*" \(task\)/)
    assert.equal(
      (await call('POST', `/v1/canaries/${canaryId}/approve`, tokens.alice, { approver: 'mallory' })).status,
      400,
      'the body cannot name the approver',
    )

    await eventually(
      () => handle.query(canaryStatusQuery),
      (s) => s.state === 'awaiting_approval' || s.state === 'promoted',
      60_000,
      'awaiting approval',
    )
    const approved = await call('POST', `/v1/canaries/${canaryId}/approve`, tokens.alice, {
      comment: 'better on every arm',
    })
    assert.equal(approved.status, 200, JSON.stringify(await approved.clone().json()))
    const outcome = (await approved.json()) as { state: string; approver: string }
    assert.equal(outcome.state, 'promoted')
    assert.equal(outcome.approver, 'alice@example.com')
    const [row] = await h.db
      .select()
      .from(approvals)
      .where(and(eq(approvals.canaryId, canaryId), eq(approvals.decision, 'approve')))
    assert.equal(row?.approver, 'alice@example.com')
    assert.equal(row?.role, 'on-call')
    assert.equal(row?.comment, 'better on every arm')
    const events = await h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, canaryId))
    assert.ok(events.some((e) => e.action === 'canary.approved' && e.actor === 'alice@example.com'))
    assert.equal((await getLabels(h.db, h.scenario.task.id)).production?.promptVersionId, candidate.id)

    await handle.result()
    const late = await call('POST', `/v1/canaries/${canaryId}/reject`, tokens.bob)
    assert.equal(late.status, 409)
    assert.match((await errorOf(late)).message, /has ended/)
  } finally {
    await h.traffic.stop()
  }
})

test(`operate: a campaign is started, paused, resumed and stopped over HTTP; \
bad settings name their path`, async () => {
  await h.traffic.burst(240)
  const badConfig = await call('POST', '/v1/campaigns', tokens.operate, {
    task: h.scenario.task.id,
    config: { search: { rounds: -1 } },
  })
  assert.equal(badConfig.status, 400)
  assert.deepEqual((await errorOf(badConfig)).fields, ['config.search.rounds'])
  const unknown = await call('POST', '/v1/campaigns', tokens.operate, { task: 'no-such-task' })
  assert.equal(unknown.status, 404)
  assert.deepEqual((await errorOf(unknown)).fields, ['task'])
  assert.equal((await call('POST', '/v1/campaigns', tokens.read, { task: h.scenario.task.id })).status, 403)
  // A spend budget that leaves the search nothing (the baseline and the holdout gate take it all).
  const poorId = `campaign-api-poor-${Date.now()}`
  const poor = await call('POST', '/v1/campaigns', tokens.operate, {
    task: h.scenario.task.id,
    id: poorId,
    config: { ...TEST_CAMPAIGN, search: { ...TEST_CAMPAIGN.search, budgetUsd: 0.000001 } },
  })
  assert.equal(poor.status, 400)
  const poorError = await errorOf(poor)
  assert.deepEqual(poorError.fields, ['config.search.budgetUsd'])
  assert.match(
    poorError.message,
    /\$0\.000001 does not cover .* Raise search\.budgetUsd above \$[\d.]+; nothing was started/,
  )
  await assert.rejects(h.client.workflow.getHandle(poorId).describe(), WorkflowNotFoundError)
  // A model the deployment has no price for (a typo of a simulated tier): the field, a "did you mean".
  const typoId = `campaign-api-typo-${Date.now()}`
  const typo = await call('POST', '/v1/campaigns', tokens.operate, {
    task: h.scenario.task.id,
    id: typoId,
    config: {
      ...TEST_CAMPAIGN,
      search: { ...TEST_CAMPAIGN.search, objective: { kind: 'migrate', toModel: 'sim-smal' } },
    },
  })
  assert.equal(typo.status, 400)
  const typoError = await errorOf(typo)
  assert.deepEqual(typoError.fields, ['config.search.objective.toModel'])
  assert.match(typoError.message, /no price for model "sim-smal" \(did you mean "sim-small"\?\)/)
  await assert.rejects(h.client.workflow.getHandle(typoId).describe(), WorkflowNotFoundError)

  const campaignId = `campaign-api-ops-${Date.now()}`
  const started = await call('POST', '/v1/campaigns', tokens.operate, {
    task: h.scenario.task.id,
    id: campaignId,
    config: { ...TEST_CAMPAIGN, search: { ...TEST_CAMPAIGN.search, rounds: 3 } },
  })
  assert.equal(started.status, 202, JSON.stringify(await started.clone().json()))
  assert.equal(
    (await call('POST', '/v1/campaigns', tokens.operate, { task: h.scenario.task.id, id: campaignId })).status,
    409,
    'campaign ids are single-use',
  )

  assert.equal((await call('POST', `/v1/campaigns/${campaignId}/pause`, tokens.operate)).status, 202)
  const paused = await eventually(
    async () =>
      (await (await call('GET', `/v1/campaigns/${campaignId}`, tokens.read)).json()) as {
        paused?: boolean
        stage: string
      },
    (s) => s.paused === true,
    30_000,
    'the campaign to report paused',
  )
  assert.equal(paused.paused, true)
  assert.equal((await call('POST', `/v1/campaigns/${campaignId}/resume`, tokens.operate)).status, 202)
  const stop = await call('POST', `/v1/campaigns/${campaignId}/stop`, tokens.operate)
  assert.equal(stop.status, 202)
  assert.equal(((await stop.json()) as { by: string }).by, 'token:ops-bot')
  const result: CampaignResult = await h.client.workflow.getHandle(campaignId).result()
  assert.equal(result.campaignId, campaignId)
  const [row] = await h.db.select().from(campaigns).where(eq(campaigns.id, campaignId))
  assert.equal(row?.trigger, 'api')
  const after = await call('POST', `/v1/campaigns/${campaignId}/stop`, tokens.operate)
  assert.equal(after.status, 409)
})

test('/metrics reports grading, campaign and canary metrics from the database', async () => {
  const text = await (await call('GET', '/metrics', tokens.read)).text()
  const value = (line: RegExp) => Number(line.exec(text)?.[1] ?? Number.NaN)
  assert.equal(value(/^kaizen_store_metrics_up (\d+)$/m), 1, text)
  assert.equal(value(/^kaizen_canary_outcomes_total\{outcome="promoted"\} (\d+)$/m), 1, text)
  assert.equal(value(/^kaizen_canary_approvals_total\{decision="approve"\} (\d+)$/m), 1)
  assert.equal(value(/^kaizen_canary_duration_seconds_count (\d+)$/m), 1)
  const finished = (await h.db.select().from(campaigns)).filter((c) => c.finishedAt !== null).length
  assert.ok(finished >= 1)
  assert.equal(value(/^kaizen_campaign_duration_seconds_count (\d+)$/m), finished)
  assert.equal(value(/^kaizen_campaign_duration_seconds_bucket\{le="\+Inf"\} (\d+)$/m), finished)
  const [graded] = (
    (await h.db.execute(
      sql`select count(*)::int as n, count(*) filter (where pass)::int as p from scores where subject_type = 'traffic'`,
    )) as unknown as { rows: Array<{ n: number; p: number }> }
  ).rows
  assert.ok((graded?.n ?? 0) > 0, 'the canary graded live traffic')
  assert.equal(value(/^kaizen_grades_total\{result="pass"\} (\d+)$/m), graded?.p)
  assert.equal(value(/^kaizen_grade_score_count (\d+)$/m) <= (graded?.n ?? 0), true)
  // Buckets are cumulative.
  const buckets = [...text.matchAll(/^kaizen_grade_score_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]))
  assert.equal(buckets.length, 11)
  for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i] as number) >= (buckets[i - 1] as number))
})
