import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { WorkflowFailedError } from '@temporalio/client'
import { and, asc, eq, isNotNull, isNull } from 'drizzle-orm'
import { addGolden } from '../../db/queries/golden.js'
import { getGraderSpec } from '../../db/queries/graders.js'
import { grade } from '../../graders/engine.js'
import { getLabels } from '../../db/queries/labels.js'
import { trafficScoreOn } from '../../db/queries/scores.js'
import { auditEvents, campaigns, candidates, datasetItems, promptVersions, scores, traffic } from '../../db/schema.js'
import { optimizationCampaign } from '../../workflows/campaign/index.js'
import {
  campaignStatusQuery,
  canaryStatusQuery,
  pauseCampaignSignal,
  stopCampaignSignal,
  type CampaignResult,
} from '../../workflows/messages.js'
import { eventually, failureMessages, sleep, startHarness, type Harness } from '../helpers/infra.js'
import { TEST_CAMPAIGN } from '../helpers/fixtures.js'
import { MockActivityEnvironment } from '@temporalio/testing'
import { DEMO_MIN_DQ, createCampaignActivities, type HoldoutComparison } from '../../activities/campaign.js'

let h: Harness
before(async () => {
  // Fixed ids: the first test asserts that the search finds a significant improvement, which a
  // fresh random world grants only most of the time (the holdout has about 70 items).
  h = await startHarness({ name: 'campaign', fixedIds: true })
})
after(() => h.close())

test('a campaign samples traffic, searches, passes the holdout gate and reaches a canary with real arms', async () => {
  const taskId = h.scenario.task.id
  await h.traffic.burst(260)
  const campaignId = `campaign-${taskId}`
  const handle = await h.client.workflow.start(optimizationCampaign, {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    args: [{ taskId, campaignId, trigger: 'test', config: TEST_CAMPAIGN }],
  })
  const result: CampaignResult = await handle.result()
  h.traffic.start(40) // live traffic for the canary (after the snapshot, so the sample is reproducible)
  assert.equal(result.decision, 'canary-started', result.reason)
  assert.ok(result.holdout?.significant)
  assert.ok(
    result.winnerHoldoutDQ! > result.baselineHoldoutDQ!,
    `winner ${result.winnerHoldoutDQ} vs baseline ${result.baselineHoldoutDQ}`,
  )
  assert.ok(result.rolloutsUsed > 0 && result.rolloutsUsed <= 1_500 + 2 * 100, `rollouts ${result.rolloutsUsed}`)
  assert.equal(result.baselineVersion, h.task.seedVersion.id)

  // Everything is traceable in Postgres: campaign, lineage, versions, audit.
  const row = await h.db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) })
  assert.equal(row?.status, 'completed')
  assert.equal(row?.winnerVersionId, result.winnerVersion)
  const winner = await h.db.query.promptVersions.findFirst({ where: eq(promptVersions.id, result.winnerVersion!) })
  assert.equal(winner?.origin, 'campaign')
  assert.equal(winner?.campaignId, campaignId)
  const cands = await h.db.select().from(candidates).where(eq(candidates.campaignId, campaignId))
  const byVersion = new Map(cands.map((c) => [c.promptVersionId, c]))
  let cursor = byVersion.get(result.winnerVersion!)
  const lineage: string[] = []
  while (cursor && cursor.parentCandidateIds.length > 0) {
    lineage.push(cursor.operator)
    cursor = cands.find((c) => c.id === cursor!.parentCandidateIds[0])
  }
  assert.equal(cursor?.status, 'seed', 'the winner descends from the seed candidate')
  assert.ok(lineage.length >= 1)
  assert.ok(byVersion.get(result.winnerVersion!)?.holdoutMean !== null)
  const actions = (await h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, campaignId))).map(
    (e) => e.action,
  )
  assert.ok(actions.includes('campaign.started') && actions.includes('campaign.completed'), actions.join(','))

  // The canary routes live traffic by sticky key and compares the two arms.
  const canary = h.client.workflow.getHandle(result.canary!.workflowId)
  const status = await eventually(
    () => canary.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval' || s.state === 'rolled_back',
    60_000,
    'canary decision',
  )
  assert.equal(status.state, 'awaiting_approval', status.reason ?? '')
  assert.ok(status.analysis!.canary.requests > 0 && status.analysis!.baseline.requests > 0)
  const labels = await getLabels(h.db, taskId)
  assert.equal(labels.canary?.promptVersionId, result.winnerVersion)
  assert.equal(labels.production?.promptVersionId, result.baselineVersion, 'never promoted without a human')
  await canary.cancel()
  await eventually(
    async () => (await getLabels(h.db, taskId)).canary,
    (c) => c === null,
    20_000,
    'cancelled canary leaves traffic',
  )
})

test('bad input fails the campaign with a named error and records why', async () => {
  const unknown = h.client.workflow.execute(optimizationCampaign, {
    workflowId: `campaign-unknown-${h.scenario.id}`,
    taskQueue: h.taskQueue,
    args: [{ taskId: 'no-such-task', trigger: 'test', config: TEST_CAMPAIGN }],
  })
  await assert.rejects(
    unknown,
    (e) => e instanceof WorkflowFailedError && /unknown task "no-such-task"/.test(failureMessages(e)),
  )
  const invalid = h.client.workflow.execute(optimizationCampaign, {
    workflowId: `campaign-invalid-${h.scenario.id}`,
    taskQueue: h.taskQueue,
    args: [{ taskId: h.scenario.task.id, trigger: 'test', config: { search: { rounds: 0 } } as never }],
  })
  await assert.rejects(invalid, (e) => e instanceof WorkflowFailedError && /search\.rounds/.test(failureMessages(e)))
  const thin = h.client.workflow.execute(optimizationCampaign, {
    workflowId: `campaign-thin-${h.scenario.id}`,
    taskQueue: h.taskQueue,
    args: [
      {
        taskId: h.scenario.task.id,
        trigger: 'test',
        config: { ...TEST_CAMPAIGN, sample: { size: 500, windowHours: 24, minItems: 100_000 } },
      },
    ],
  })
  await assert.rejects(
    thin,
    (e) => e instanceof WorkflowFailedError && /needs at least 100000/.test(failureMessages(e)),
  )
  const row = await h.db.query.campaigns.findFirst({ where: and(eq(campaigns.id, `campaign-thin-${h.scenario.id}`)) })
  assert.equal(row?.status, 'failed')
  assert.match(row?.reason ?? '', /usable traffic records/)
  // Campaign ids are single-use: running the same id again is refused, not merged with the old run.
  const reused = h.client.workflow.execute(optimizationCampaign, {
    workflowId: `campaign-thin-${h.scenario.id}`,
    taskQueue: h.taskQueue,
    args: [{ taskId: h.scenario.task.id, trigger: 'test', config: TEST_CAMPAIGN }],
  })
  await assert.rejects(
    reused,
    (e) =>
      e instanceof WorkflowFailedError && /was already used .* campaign ids are single-use/.test(failureMessages(e)),
  )
})

test(`a paused search spends nothing until resumed; a stop while paused ends the \
search with its best so far`, async () => {
  const taskId = h.scenario.task.id
  const campaignId = `campaign-pause-${h.scenario.id}`
  const handle = await h.client.workflow.start(optimizationCampaign, {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    args: [
      {
        taskId,
        campaignId,
        trigger: 'test',
        config: {
          ...TEST_CAMPAIGN,
          seed: 'pause',
          search: { ...TEST_CAMPAIGN.search, rounds: 40, rolloutBudget: 20_000 },
        },
      },
    ],
  })
  await eventually(
    () => handle.query(campaignStatusQuery),
    (s) => s.stage === 'searching' && s.round >= 1,
    120_000,
    'search under way',
  )
  await handle.signal(pauseCampaignSignal, { by: 'test', paused: true })
  const paused = await eventually(
    () => handle.query(campaignStatusQuery),
    (s) => s.paused === true,
    10_000,
    'paused',
  )
  // The round in flight when the pause arrived may finish; after that nothing moves.
  await sleep(3_000)
  const settled = await handle.query(campaignStatusQuery)
  await sleep(3_000)
  const later = await handle.query(campaignStatusQuery)
  assert.equal(later.round, settled.round, 'no round while paused')
  assert.equal(later.rolloutsUsed, settled.rolloutsUsed, 'nothing spent while paused')
  assert.ok(settled.round <= paused.round + 1)
  await handle.signal(pauseCampaignSignal, { by: 'test', paused: false })
  await eventually(
    () => handle.query(campaignStatusQuery),
    (s) => s.round > later.round,
    120_000,
    'resumed',
  )
  await handle.signal(pauseCampaignSignal, { by: 'test', paused: true })
  await handle.signal(stopCampaignSignal, { by: 'test' })
  const result: CampaignResult = await handle.result()
  assert.ok(result.rounds < 40, `stopped after ${result.rounds} rounds`)
  const final = await handle.query(campaignStatusQuery)
  assert.equal(final.stopRequested, true)
  assert.equal(final.stage, 'done')
})

test(`the ship decision checks the golden set and safety: a finalist that breaks golden cases or acts out of \
policy more often is blocked`, async (t) => {
  // A task of its own, with no live traffic: the campaigns below sample exactly the same records in
  // every run (the first test's live canary traffic keeps arriving for as long as the tests take).
  const g = await startHarness({ name: 'golden', fixedIds: true })
  t.after(() => g.close())
  const h = g
  const taskId = h.scenario.task.id
  await h.traffic.burst(260)
  const firstRun: CampaignResult = await h.client.workflow.execute(optimizationCampaign, {
    workflowId: `campaign-${taskId}`,
    taskQueue: h.taskQueue,
    args: [
      {
        taskId,
        campaignId: `campaign-${taskId}`,
        trigger: 'test',
        config: { ...TEST_CAMPAIGN, canary: { ...TEST_CAMPAIGN.canary, onConflict: 'skip' } },
      },
    ],
  })
  if (firstRun.canary) await h.client.workflow.getHandle(firstRun.canary.workflowId).cancel()
  await eventually(
    async () => (await getLabels(h.db, taskId)).canary,
    (c) => c === null,
    20_000,
    'cancelled canary leaves traffic',
  )
  const first = await h.db.query.campaigns.findFirst({ where: eq(campaigns.id, `campaign-${taskId}`) })
  assert.ok(first?.winnerVersionId && first.graderVersionId, `the first campaign found a winner: ${firstRun.reason}`)
  const spec = await getGraderSpec(h.db, first.graderVersionId)
  // A golden set a team would curate: production cases the current prompt gets right.
  const rows = await h.db
    .select()
    .from(traffic)
    .where(
      and(
        eq(traffic.taskId, taskId),
        eq(traffic.promptVersionId, h.task.seedVersion.id),
        isNotNull(traffic.reference),
        isNull(traffic.error),
      ),
    )
    .orderBy(asc(traffic.id))
  const golden: string[] = []
  for (const r of rows) {
    const g = await grade(spec, {
      output: r.output ?? '',
      input: r.input,
      reference: r.reference,
      latencyMs: r.latencyMs,
      costUsd: r.costUsd,
      model: r.model,
    })
    if (g.pass) golden.push(r.id)
    if (golden.length === 30) break
  }
  assert.equal(golden.length, 30)
  await assert.rejects(
    addGolden(h.db, { taskId, trafficIds: ['no-such-record'], actor: 'user:test' }),
    /traffic ids: "no-such-record" is not a traffic record; nothing was added/,
  )
  assert.deepEqual(
    await addGolden(h.db, { taskId, trafficIds: golden, actor: 'user:test', note: 'cases production gets right' }),
    [...golden].sort(),
  )
  assert.deepEqual(
    await addGolden(h.db, { taskId, trafficIds: golden.slice(0, 2), actor: 'user:test' }),
    [],
    'adding twice changes nothing',
  )

  // A campaign now checks the golden set at its ship decision and keeps it out of its sample.
  const campaignId = `campaign-golden-${taskId}`
  const result: CampaignResult = await h.client.workflow.execute(optimizationCampaign, {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    args: [
      {
        taskId,
        campaignId,
        trigger: 'test',
        config: { ...TEST_CAMPAIGN, canary: { ...TEST_CAMPAIGN.canary, onConflict: 'skip' } },
      },
    ],
  })
  assert.ok(result.holdout?.significant, result.reason)
  assert.equal(result.golden?.n, 30, JSON.stringify(result.golden))
  assert.equal(result.golden?.baselinePassed, 30, 'the baseline answers its golden cases as in production')
  assert.ok(result.safety && result.safety.n === result.holdout!.n + 30, JSON.stringify(result.safety))
  const shipped =
    result.golden!.winnerPassed >= 30 &&
    Object.entries(result.safety!.winner).every(([k, v]) => v <= (result.safety!.baseline[k] ?? 0))
  assert.equal(
    result.decision === 'golden-regression' || result.decision === 'safety-regression',
    !shipped,
    result.reason,
  )
  if (result.canary) await h.client.workflow.getHandle(result.canary.workflowId).cancel()
  const sampled = await h.db.select().from(datasetItems).where(eq(datasetItems.datasetId, result.datasetId))
  assert.ok(
    sampled.length > 0 && sampled.every((i) => !golden.includes(i.trafficId)),
    'no golden case in the train, validation or holdout split',
  )

  // Roles swapped: the seed prompt as the "finalist" against the first campaign's winner. The seed
  // passes fewer of the winner's golden cases and acts out of policy more often: both block.
  const activities = createCampaignActivities(h.deps)
  const compared = await new MockActivityEnvironment().run(activities.compareOnHoldout, {
    campaignId: first.id,
    datasetId: `ds_${first.id}`,
    baselineVersionId: first.winnerVersionId,
    winnerVersionId: h.task.seedVersion.id,
    graderVersionId: first.graderVersionId,
    scenarioId: h.scenario.id,
    alpha: 0.05,
    minEffect: 0,
    seed: 'swap',
  })
  const cmp = compared as HoldoutComparison
  assert.ok(
    cmp.golden!.winnerPassed < cmp.golden!.baselinePassed ||
      (cmp.safety!.winner['out-of-policy'] ?? 0) > (cmp.safety!.baseline['out-of-policy'] ?? 0),
    JSON.stringify(cmp),
  )
  assert.ok(cmp.regressions!.length > 0)
  for (const r of cmp.regressions!)
    assert.match(
      r.message,
      r.code === 'golden-regression'
        ? /passes \d+ of 30 golden cases, the baseline \d+; broken: /
        : /fails the [a-z-]+ safety check on \d+ of \d+ items, the baseline on \d+/,
    )
  const actions = (await h.db.select().from(auditEvents).where(eq(auditEvents.taskId, taskId))).map((e) => e.action)
  assert.equal(actions.filter((a) => a === 'golden.added').length, 1, actions.join(','))
})

test(`few-shot selection: demonstrations come from high-DQ production answers of the training split, and are stored \
with the version and its lineage`, async () => {
  const taskId = h.scenario.task.id
  const campaignId = `campaign-${taskId}-fewshot`
  const result: CampaignResult = await h.client.workflow.execute(optimizationCampaign, {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    // A gate no finalist can pass: this test is about the search, not the canary.
    args: [
      {
        taskId,
        campaignId,
        trigger: 'test',
        config: {
          ...TEST_CAMPAIGN,
          search: { ...TEST_CAMPAIGN.search, strategy: 'fewshot', rounds: 6, rolloutBudget: 800 },
          gate: { minEffect: 1 },
        },
      },
    ],
  })
  assert.notEqual(result.decision, 'canary-started')
  const row = await h.db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) })
  assert.ok(row?.datasetId && row.graderVersionId)
  const train = await h.db
    .select({ t: traffic, score: scores.score })
    .from(datasetItems)
    .innerJoin(traffic, eq(traffic.id, datasetItems.trafficId))
    .leftJoin(scores, trafficScoreOn(row.graderVersionId))
    .where(and(eq(datasetItems.datasetId, row.datasetId), eq(datasetItems.split, 'train')))
  const cands = await h.db
    .select({ c: candidates, v: promptVersions })
    .from(candidates)
    .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
    .where(eq(candidates.campaignId, campaignId))
  const fewshot = cands.filter(({ c }) => c.operator.startsWith('fewshot-'))
  assert.ok(fewshot.length >= 4, `few-shot proposals: ${fewshot.length}`)
  assert.ok(
    fewshot.some(({ c }) => c.status === 'accepted'),
    'some demonstrations were accepted',
  )
  for (const { c, v } of fewshot.filter(({ c }) => c.operator !== 'fewshot-remove')) {
    assert.ok(v.examples && v.examples.length > 0, `${v.id} stores its demonstrations`)
    const shown = (c.feedback as string[]).map((f) => /traffic (\S+) /.exec(f)?.[1])
    assert.ok(shown[0], `lineage names the traffic record: ${c.feedback}`)
    const source = train.find((r) => r.t.id === shown[0])
    assert.ok(source, `${shown[0]} is in the training split`)
    assert.ok((source.score ?? 0) >= DEMO_MIN_DQ, `${shown[0]} has DQ ${source.score}`)
    assert.ok(
      v.examples.some(
        (d) => d.output === source.t.output && JSON.stringify(d.input) === JSON.stringify(source.t.input),
      ),
    )
  }
  for (const { v } of fewshot)
    for (const d of v.examples ?? [])
      assert.ok(
        train.some((r) => r.t.output === d.output),
        'every demonstration is a training answer',
      )
})
