/**
 * Evaluation fan-out on a real-provider task (task model, LLM judge and proposer behind a local
 * OpenAI-compatible server): a campaign's large evaluations and a grading batch run as chunk
 * activities on the evaluation task queue, and any worker takes them — here two `kaizen worker`
 * processes. History grows with chunks (a few items each), not with items; nothing is paid twice;
 * a worker killed while chunks are in flight costs nothing and changes nothing.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { WorkflowNotFoundError } from '@temporalio/client'
import { and, count, eq, inArray } from 'drizzle-orm'
import { FAN_OUT } from '../../core/fanout.js'
import { evaluations, scores } from '../../db/schema.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { gradeBatch, optimizationCampaign } from '../../workflows/index.js'
import { evaluationTaskQueue, type CampaignResult } from '../../workflows/messages.js'
import { TEST_CAMPAIGN } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, uniqueSuffix, type Harness } from '../helpers/infra.js'
import { startLlmServer, type LlmServer } from '../helpers/llm-server.js'
import { PROPOSER_MODEL, seedWireTask, worldResponder } from '../helpers/wire-world.js'

let h: Harness
let llm: LlmServer
const taskId = uniqueSuffix('wire-fanout')
const scenariosDir = mkdtempSync(join(tmpdir(), 'kaizen-fanout-'))
const workers: ChildProcess[] = []
const identities: string[] = []

/** A `kaizen worker` process on the harness's task queues (workflows and evaluation chunks). */
async function startWorker(): Promise<void> {
  const { databaseUrl, temporalAddress } = testInfra()
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kaizen.js'), 'worker'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      KAIZEN_SCENARIOS_DIR: scenariosDir,
      KAIZEN_LOG_LEVEL: 'ERROR',
      OPENAI_BASE_URL: llm.openaiBaseUrl,
      KAIZEN_EVAL_CONCURRENCY: '4',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  workers.push(child)
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr += d))
  await eventually(
    async () => /polling task queue/.test(stderr) || child.exitCode !== null,
    (ok) => ok,
    60_000,
    'worker start',
  )
  assert.equal(child.exitCode, null, stderr)
  identities.push(`${child.pid}@`)
}

before(async () => {
  // A little latency, so that chunks overlap and both workers get some.
  llm = await startLlmServer({ latencyMs: 15, responder: worldResponder })
  h = await startHarness({ name: 'fanout', worker: false })
  writeFileSync(join(scenariosDir, `${h.scenario.id}.json`), JSON.stringify(h.scenario))
  await seedWireTask(h.db, { taskId, records: 260 })
  // Two worker processes on the same task queues.
  await startWorker()
  await startWorker()
})
after(async () => {
  const alive = workers.filter((w) => w.exitCode === null && w.signalCode === null)
  for (const w of alive) w.kill('SIGTERM')
  await Promise.all(alive.map((w) => new Promise((r) => w.once('exit', r))))
  rmSync(scenariosDir, { recursive: true, force: true })
  await h.close()
  await llm.close()
})

/** Which of the two worker processes an identity (pid@host) belongs to. */
const whose = (identity: string) => identities.findIndex((prefix) => identity.startsWith(prefix))

/** Activities of a workflow's history: type, task queue, input, and who ran them. */
async function activities(workflowId: string) {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory()
  const scheduled = new Map<string, { type: string; queue: string; input: Record<string, unknown> }>()
  const out: Array<{ type: string; queue: string; input: Record<string, unknown>; identity: string }> = []
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes
    if (s) {
      const payload = s.input?.payloads?.[0]?.data
      scheduled.set(String(e.eventId), {
        type: s.activityType?.name ?? '',
        queue: s.taskQueue?.name ?? '',
        input: payload ? JSON.parse(Buffer.from(payload).toString('utf8')) : {},
      })
    }
    const started = e.activityTaskStartedEventAttributes
    if (started) {
      const of = scheduled.get(String(started.scheduledEventId))
      if (of) out.push({ ...of, identity: started.identity ?? '' })
    }
  }
  return out
}

const config = {
  seed: 'fanout',
  sample: { size: 200, windowHours: 24, minItems: 60 },
  search: {
    strategy: 'beam' as const,
    rounds: 2,
    proposalsPerRound: 4,
    minibatchSize: 4,
    rolloutBudget: 5_000,
    proposerModel: PROPOSER_MODEL,
  },
  canary: { steps: [0.1], analysisIntervalSeconds: 3_600, onConflict: 'skip' as const },
}
const paidBy = async (campaignId: string) =>
  Number(
    (
      await h.db
        .select({ n: count() })
        .from(evaluations)
        .where(and(eq(evaluations.campaignId, campaignId), eq(evaluations.purpose, 'task')))
    )[0]?.n ?? 0,
  )
let reference: CampaignResult

test('a campaign fans its evaluations out as chunks that both workers take; the result is paid once', async () => {
  const campaignId = `fanout-ref-${taskId}`
  reference = await h.client.workflow.execute(optimizationCampaign, {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    args: [{ taskId, campaignId, trigger: 'test', config }],
  })
  if (reference.canary) await endCanary(reference.canary.workflowId)
  const result = reference

  const acts = await activities(campaignId)
  const chunks = acts.filter((a) => a.type === 'evaluateChunk')
  assert.ok(chunks.length > 10, `evaluations fanned out (${chunks.length} chunks)`)
  assert.ok(
    chunks.every((c) => c.queue === evaluationTaskQueue(h.taskQueue)),
    'chunks go to the evaluation queue',
  )
  assert.ok(
    chunks.every(
      (c) =>
        Array.isArray(c.input.itemIds) &&
        (c.input.itemIds as string[]).length >= 1 &&
        (c.input.itemIds as string[]).length <= FAN_OUT.chunkItems,
    ),
    'a chunk is a few items',
  )
  assert.ok(
    chunks.every((c) => typeof c.input.contentKey === 'string' && !('content' in c.input)),
    'the prompt travels by content key, not in history',
  )
  assert.deepEqual(new Set(chunks.map((c) => whose(c.identity))), new Set([0, 1]), 'both worker processes ran chunks')
  // Every step that fanned out was asked again and found its evaluations cached.
  for (const step of ['evaluateBaseline', 'compareOnHoldout'])
    assert.ok(acts.filter((a) => a.type === step).length >= 2, `${step} asked again after its chunks`)
  assert.ok(
    acts.filter((a) => a.type === 'searchRound').length > result.rounds,
    'search rounds deferred their large evaluations',
  )

  // Paid once: the rollouts the campaign reports are exactly the task calls on its ledger.
  assert.equal(await paidBy(campaignId), result.rolloutsUsed)
  const items = chunks.reduce((n, c) => n + (c.input.itemIds as string[]).length, 0)
  assert.ok(
    items <= result.rolloutsUsed,
    `chunks carried ${items} items, every one a first evaluation (${result.rolloutsUsed} rollouts in all)`,
  )
  assert.ok(result.rolloutsUsed > 200, `a real search (${result.rolloutsUsed} rollouts)`)
})

/**
 * The canary is not under test here: end it if it still runs. It may have ended by itself (this
 * file's second campaign finds the canary label still held by the first one's terminated canary,
 * and skips at once), so "already completed" is not a failure.
 */
async function endCanary(workflowId: string): Promise<void> {
  await h.client.workflow
    .getHandle(workflowId)
    .terminate('test: the canary is not under test')
    .catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err
    })
}

test(`a worker killed while chunks are in flight: the campaign pays nothing twice and \
ends as the uninterrupted one`, async (t) => {
  assert.ok(reference, 'runs after the reference campaign')
  // Forget the reference's answers and grades, so this run pays for its own.
  const keys = (
    await h.db
      .select({ key: evaluations.cacheKey })
      .from(evaluations)
      .where(eq(evaluations.campaignId, reference.campaignId))
  ).map((r) => r.key)
  for (let i = 0; i < keys.length; i += 500)
    await h.db
      .delete(scores)
      .where(and(eq(scores.subjectType, 'evaluation'), inArray(scores.subjectId, keys.slice(i, i + 500))))
  await h.db.delete(evaluations).where(eq(evaluations.campaignId, reference.campaignId))

  const campaignId = `fanout-run-${taskId}`
  const handle = await h.client.workflow.start(optimizationCampaign, {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    args: [{ taskId, campaignId, trigger: 'test', config }],
  })
  const chunksInFlight = async () =>
    ((await handle.describe()).raw.pendingActivities ?? []).filter(
      (a) => a.activityType?.name === 'evaluateChunk' && Number(a.state) === 2 /* STARTED */,
    ).length
  await eventually(
    async () => (await paidBy(campaignId)) > 150 && (await chunksInFlight()) >= 2,
    (yes) => yes,
    120_000,
    'chunks in flight in the search',
  )
  const victim = workers.find((w) => w.exitCode === null && w.signalCode === null) as ChildProcess
  victim.kill('SIGKILL')
  await new Promise((r) => (victim.exitCode !== null || victim.signalCode !== null ? r(null) : victim.once('exit', r)))
  await startWorker()
  const resumed: CampaignResult = await handle.result()
  if (resumed.canary) await endCanary(resumed.canary.workflowId)
  t.diagnostic(`rollouts: uninterrupted ${reference.rolloutsUsed}, with a worker killed ${resumed.rolloutsUsed}`)
  assert.equal(resumed.decision, reference.decision)
  assert.equal(resumed.winnerVersion, reference.winnerVersion)
  assert.equal(resumed.rolloutsUsed, reference.rolloutsUsed)
  assert.equal(await paidBy(campaignId), reference.rolloutsUsed, 'nothing paid twice')
})

test('a grading batch runs its chunks on the evaluation queue, spread over both workers', async () => {
  const id = `fanout-grade-${taskId}`
  const result = await h.client.workflow.execute(gradeBatch, {
    taskQueue: h.taskQueue,
    workflowId: id,
    args: [{ taskId, limit: 200 }],
  })
  assert.equal(result.itemCount, 200)
  assert.equal(result.chunks, 200 / FAN_OUT.chunkItems)
  const chunks = (await activities(id)).filter((a) => a.type === 'gradeChunk')
  assert.equal(chunks.length, result.chunks)
  assert.ok(chunks.every((c) => c.queue === evaluationTaskQueue(h.taskQueue)))
  assert.equal(new Set(chunks.map((c) => c.identity)).size, 2, 'two worker processes graded')
  assert.equal(result.graded + result.skipped, 200)
  assert.ok(result.meanScore !== null && result.meanScore < 0.5, 'the seed answers are mostly poor')
})
