/**
 * Graders through the real Temporal server and Postgres: batch grading with an LLM judge served
 * over the OpenAI wire format (history grows with chunks; a second run costs no call; a chunk
 * resumes from its heartbeat), the USD budget stop of a campaign, and the trust gate of canaries.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { MockActivityEnvironment } from '@temporalio/testing'
import { eq, and } from 'drizzle-orm'
import { graderTrustCheck, overrideGraderTrust } from '../../evaluation/calibration.js'
import { createGradingActivities, type ChunkResult, type GradingPlan } from '../../activities/grading.js'
import { activateGrader } from '../../db/queries/graders.js'
import { graderSpecFromScenario } from '../../sim/task.js'
import { auditEvents, evaluations } from '../../db/schema.js'
import { renderMessages } from '../../core/prompt.js'
import { gradeBatch, optimizationCampaign } from '../../workflows/index.js'
import { TEST_CAMPAIGN, judgeSpec, startClearJudge } from '../helpers/fixtures.js'
import { startHarness, uniqueSuffix, type Harness } from '../helpers/infra.js'
import type { LlmServer } from '../helpers/llm-server.js'

let server: LlmServer
let h: Harness

before(async () => {
  const started = await startClearJudge({ inputPerMTok: 1, outputPerMTok: 2 })
  server = started.server
  const judge = started.judge
  h = await startHarness({ name: 'grading', providers: [judge] })
  await h.traffic.burst(260)
})
after(async () => {
  await h?.close()
  await server?.close()
})

test('batch grading with an LLM judge: history grows with chunks, a second run makes no provider call', async () => {
  const spec = judgeSpec(graderSpecFromScenario(h.scenario), 'batch')
  const graderVersionId = await activateGrader(h.db, { taskId: h.task.taskId, spec, actor: 'test', source: 'test' })
  server.resetStats()
  const id = uniqueSuffix('grade')
  const result = await h.client.workflow.execute(gradeBatch, {
    taskQueue: h.taskQueue,
    workflowId: id,
    args: [{ taskId: h.task.taskId, chunkSize: 60, parallelChunks: 2, concurrency: 8 }],
  })
  assert.equal(result.graderVersionId, graderVersionId)
  assert.ok(result.itemCount >= 200, `items ${result.itemCount}`)
  assert.equal(result.graded, result.itemCount)
  assert.equal(result.chunks, Math.ceil(result.itemCount / 60))
  assert.equal(server.callCount(), result.itemCount, 'one judge call per item')
  assert.ok(result.meanScore !== null && result.meanScore > 0)
  const history = await h.client.workflow.getHandle(id).fetchHistory()
  const events = history.events?.length ?? 0
  // Per chunk: scheduled, started, completed, plus workflow tasks; never per item.
  assert.ok(events <= 12 + 8 * result.chunks, `${events} events for ${result.chunks} chunks`)
  assert.ok(events < result.itemCount / 4, `${events} events for ${result.itemCount} items`)

  server.resetStats()
  const again = await h.client.workflow.execute(gradeBatch, {
    taskQueue: h.taskQueue,
    workflowId: uniqueSuffix('grade-again'),
    args: [{ taskId: h.task.taskId, chunkSize: 60 }],
  })
  assert.equal(again.skipped, again.itemCount)
  assert.equal(again.graded, 0)
  assert.equal(server.callCount(), 0, 'scores and judge answers come from Postgres')
})

test('a chunk resumes from its last heartbeat after a crash, and writes each score once', async () => {
  const spec = judgeSpec(graderSpecFromScenario(h.scenario), 'resume')
  await activateGrader(h.db, { taskId: h.task.taskId, spec, actor: 'test', source: 'test' })
  const activities = createGradingActivities(h.deps)
  const batchId = uniqueSuffix('resume')
  const plan = (await new MockActivityEnvironment().run(activities.planGradingBatch, {
    batchId,
    taskId: h.task.taskId,
    chunkSize: 100,
  })) as GradingPlan
  assert.ok(plan.chunks >= 2)
  server.resetStats()
  // A previous attempt heartbeated {done: 40} before its worker died.
  const env = new MockActivityEnvironment({ heartbeatDetails: { done: 40 } })
  const beats: unknown[] = []
  env.on('heartbeat', (d: unknown) => beats.push(d))
  const r = (await env.run(activities.gradeChunk, { batchId, chunk: 0 })) as ChunkResult
  assert.equal(r.resumedFrom, 40)
  assert.equal(r.graded, 60)
  assert.equal(server.callCount(), 60)
  assert.deepEqual(beats.at(-1), { done: 100 })
  // The chunk again from the start: the 60 stored scores are skipped, not graded or written twice
  // (here the first 40 were never really graded, since the "crash" was simulated).
  server.resetStats()
  const again = (await new MockActivityEnvironment().run(activities.gradeChunk, { batchId, chunk: 0 })) as ChunkResult
  assert.equal(again.skipped, 60)
  assert.equal(again.graded, 40)
  assert.equal(server.callCount(), 40)
})

test(`a spend budget stops the search with its best so far, keeps enough for the holdout gate, \
and is audited`, async () => {
  // Mean cost of one call of the production prompt, measured on the simulation provider.
  let cost = 0
  for (let i = 0; i < 20; i++) {
    const ex = h.simulation.world(h.scenario.id).example(`budget:${i}`)
    const p = h.scenario.task.prompt
    cost += (
      await h.simulation.complete({
        model: p.model,
        messages: renderMessages(p, ex.input),
        params: p.params,
        simulation: { scenario: h.scenario.id, exampleKey: ex.key },
      })
    ).costUsd
  }
  const perCall = cost / 20
  // The sample holds at most 220 items (fewer after de-duplication): the baseline on train and
  // validation, the holdout reserve and the calls in flight fit in 350 calls' worth with room to
  // spare, and the search, which can end no other way (evolution never calls itself saturated;
  // more rounds and rollouts than the money buys), always runs into the budget.
  const budgetUsd = perCall * 350
  const campaignId = uniqueSuffix('budget')
  // This test is about the budget, not the grader: use the scenario grader (calibrated by the harness).
  await activateGrader(h.db, {
    taskId: h.task.taskId,
    spec: graderSpecFromScenario(h.scenario),
    actor: 'test',
    source: 'test',
  })
  const result = await h.client.workflow.execute(optimizationCampaign, {
    taskQueue: h.taskQueue,
    workflowId: campaignId,
    args: [
      {
        taskId: h.task.taskId,
        campaignId,
        trigger: 'test',
        config: {
          ...TEST_CAMPAIGN,
          canary: { ...TEST_CAMPAIGN.canary, onConflict: 'skip' },
          search: { ...TEST_CAMPAIGN.search, strategy: 'evolution', rounds: 1_000, rolloutBudget: 100_000, budgetUsd },
          // No winner can clear this bar, so the gate's refusal states how the search ended (a pass
          // would start a canary and name only the evidence).
          gate: { minEffect: 0.9 },
        },
      },
    ],
  })
  // The search stopped on the budget and the holdout gate still ran on what was kept for it
  // (or no candidate beat the baseline): never a campaign cut off before its gate.
  assert.ok(
    ['no-significant-improvement', 'no-better-candidate'].includes(result.decision),
    `${result.decision}: ${result.reason}`,
  )
  assert.match(result.reason, /spend budget of \$[\d.e-]+ reached in round \d+/)
  assert.ok(result.rounds >= 1)
  const [event] = await h.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.subjectId, campaignId), eq(auditEvents.action, 'campaign.budget-exhausted')))
  assert.ok(event, 'audit event campaign.budget-exhausted')
  const spent = (
    await h.db.select({ c: evaluations.costUsd }).from(evaluations).where(eq(evaluations.campaignId, campaignId))
  ).reduce((a, r) => a + r.c, 0)
  assert.ok(spent <= budgetUsd + 1e-12, `spent ${spent} of ${budgetUsd}`)
})

test(`an untrusted grader cannot gate a canary until an operator overrides it, \
and the override is audited`, async () => {
  const spec = judgeSpec(graderSpecFromScenario(h.scenario), 'untrusted')
  const id = await activateGrader(h.db, { taskId: h.task.taskId, spec, actor: 'test', source: 'test' })
  const before = await graderTrustCheck(h.db, id)
  assert.equal(before.ok, false)
  assert.match(before.reason, /never been calibrated/)
  await assert.rejects(
    overrideGraderTrust(h.deps, { graderVersionId: id, operator: 'alice', reason: 'short' }),
    /at least 10 characters/,
  )
  await overrideGraderTrust(h.deps, {
    graderVersionId: id,
    operator: 'alice',
    reason: 'judge reviewed by hand on 50 items',
  })
  const afterOverride = await graderTrustCheck(h.db, id)
  assert.equal(afterOverride.ok, true)
  assert.equal(afterOverride.via, 'override')
  const [event] = await h.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.subjectId, id), eq(auditEvents.action, 'grader.trust-override')))
  assert.equal(event?.actor, 'operator:alice')
})
