/**
 * The quality monitor's check activity on real Postgres, with an LLM judge served over the OpenAI
 * wire format: the sample of production traffic is graded and charged to the day once (a retried
 * check grades and charges nothing again), and when the day's judge budget is spent the monitor
 * stops grading and says so.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { MockActivityEnvironment } from '@temporalio/testing'
import { createMonitorActivities, type MonitorCheckResult } from '../../activities/monitor.js'
import { utcDay } from '../../core/monitor/policy.js'
import { activateGrader } from '../../db/queries/graders.js'
import { judgeSpend } from '../../db/queries/monitor.js'
import { graderSpecFromScenario } from '../../sim/task.js'
import { judgeSpec, startClearJudge } from '../helpers/fixtures.js'
import { startHarness, uniqueSuffix, type Harness } from '../helpers/infra.js'
import type { LlmServer } from '../helpers/llm-server.js'

let server: LlmServer
let h: Harness

before(async () => {
  const started = await startClearJudge({ inputPerMTok: 100, outputPerMTok: 200 })
  server = started.server
  const judge = started.judge
  h = await startHarness({ name: 'monitor', providers: [judge] })
  await h.traffic.burst(120)
})
after(async () => {
  await h?.close()
  await server?.close()
})

const check = (input: {
  checkId: string
  budget: number
  sampleRate?: number
  reference?: { from: string; ms: number } | null
}) =>
  new MockActivityEnvironment().run(createMonitorActivities(h.deps).monitorCheck, {
    taskId: h.task.taskId,
    checkId: input.checkId,
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
    sampleRate: input.sampleRate ?? 0.5,
    dailyJudgeBudgetUsd: input.budget,
    floorsWindowMs: 3_600_000,
    reference: input.reference ?? null,
  }) as Promise<MonitorCheckResult>

test('a check grades the sample of production traffic once and charges its judge calls to the day once', async () => {
  await activateGrader(h.db, {
    taskId: h.task.taskId,
    spec: judgeSpec(graderSpecFromScenario(h.scenario), 'monitor'),
    actor: 'test',
    source: 'test',
  })
  server.resetStats()
  const checkId = uniqueSuffix('check')
  const r = await check({ checkId, budget: 1_000 })
  assert.ok(r.productionVersionId)
  assert.ok(r.sampled >= 30 && r.sampled <= 90, `sampled ${r.sampled} of 120 at rate 0.5`)
  const answered = r.requests.filter((x) => !x.error)
  assert.equal(r.graded, answered.length)
  assert.equal(server.callCount(), answered.length, 'one judge call per graded request')
  assert.ok(answered.every((x) => x.dq !== null && x.dq >= 0 && x.dq <= 1))
  assert.ok(
    r.requests.every((x, i) => i === 0 || x.at >= r.requests[i - 1]!.at),
    'in time order',
  )
  assert.ok(r.judge.chargedUsd > 0 && !r.judge.exhausted)
  assert.ok(r.window.requests >= 120 && r.window.graded === answered.length && r.window.p95LatencyMs !== null)
  const day = utcDay(Date.now() + 60_000)
  const before = await judgeSpend(h.db, h.task.taskId, day)
  assert.equal(before.graded, r.graded)
  // The same check again (a retry): nothing graded, nothing charged twice.
  server.resetStats()
  const again = await check({ checkId, budget: 1_000 })
  assert.equal(again.graded, 0)
  assert.equal(server.callCount(), 0)
  assert.deepEqual(
    again.requests.map((x) => x.dq),
    r.requests.map((x) => x.dq),
  )
  assert.deepEqual(await judgeSpend(h.db, h.task.taskId, day), before)
})

test('when the day’s judge budget is spent, the monitor stops grading and says so', async () => {
  // A new grader version: nothing of the sample is graded under it yet.
  await activateGrader(h.db, {
    taskId: h.task.taskId,
    spec: judgeSpec(graderSpecFromScenario(h.scenario), 'budget'),
    actor: 'test',
    source: 'test',
  })
  const day = utcDay(Date.now() + 60_000)
  const spent = await judgeSpend(h.db, h.task.taskId, day)
  const perGrade = spent.usd / spent.graded
  // Room for about five more grades today.
  const budget = spent.usd + 5.5 * perGrade
  server.resetStats()
  const r = await check({ checkId: uniqueSuffix('budget'), budget, sampleRate: 0.9 })
  assert.ok(r.graded >= 4 && r.graded <= 6, `graded ${r.graded} within the budget`)
  assert.equal(r.judge.exhausted, true, 'says the budget is spent')
  assert.ok(
    r.requests.some((x) => !x.error && x.dq === null),
    'the sample the budget left ungraded is missing, not scored',
  )
  server.resetStats()
  const next = await check({ checkId: uniqueSuffix('budget-next'), budget, sampleRate: 0.9 })
  assert.equal(next.graded, 0)
  assert.equal(server.callCount(), 0, 'no judge call once the day is spent')
  assert.equal(next.judge.exhausted, true)
})

test('input drift: the interval’s inputs against a sample of the reference window’s', async () => {
  const learning = await check({ checkId: uniqueSuffix('drift-none'), budget: 1_000 })
  assert.equal(learning.inputDrift, null, 'no reference yet: no measure (not "no drift")')
  // The reference window holds the same kind of traffic as the interval: little is novel.
  const r = await check({
    checkId: uniqueSuffix('drift'),
    budget: 1_000,
    reference: { from: new Date(Date.now() - 3_600_000).toISOString(), ms: 2 * 3_600_000 },
  })
  assert.ok(r.inputDrift, 'measured')
  assert.ok(r.inputDrift.referenceNovelShare !== null && r.inputDrift.recentNovelShare !== null)
  assert.ok(r.inputDrift.recentNovelShare < 0.5, `novel share ${r.inputDrift.recentNovelShare}`)
  assert.ok(r.inputDrift.increase !== null && r.inputDrift.increase < 0.2, `increase ${r.inputDrift.increase}`)
  // A reference window with no traffic in it: no measure.
  const empty = await check({
    checkId: uniqueSuffix('drift-empty'),
    budget: 1_000,
    reference: { from: new Date(Date.now() - 10 * 3_600_000).toISOString(), ms: 3_600_000 },
  })
  assert.equal(empty.inputDrift, null)
})
