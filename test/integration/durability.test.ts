/**
 * Durability of the search: a worker process killed (SIGKILL) in the middle of a search; a new
 * worker resumes the campaign. The resumed campaign must pay for no evaluation twice and ship the
 * same winner as an uninterrupted run with the same seed.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { and, count, eq, inArray, sql } from 'drizzle-orm'
import { campaigns, candidates, evaluations, scores } from '../../db/schema.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { optimizationCampaign } from '../../workflows/campaign/index.js'
import type { CampaignResult } from '../../workflows/messages.js'
import { TEST_CAMPAIGN } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, type Harness } from '../helpers/infra.js'

let h: Harness
const scenariosDir = mkdtempSync(join(tmpdir(), 'kaizen-durability-'))
const workers: ChildProcess[] = []
before(async () => {
  h = await startHarness({ name: 'durable', worker: false })
  writeFileSync(join(scenariosDir, `${h.scenario.id}.json`), JSON.stringify(h.scenario))
})
after(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL')
  rmSync(scenariosDir, { recursive: true, force: true })
  await h.close()
})

/**
 * A separate worker process on the harness's task queue (so it can be killed for real). Few
 * concurrent evaluations make a search round last long enough that the kill lands inside one
 * (results are cached by content, so concurrency does not change them).
 */
async function startWorker(): Promise<ChildProcess> {
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
      KAIZEN_EVAL_CONCURRENCY: '2',
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
  return child
}

const config = {
  ...TEST_CAMPAIGN,
  seed: 'durable-seed',
  search: { ...TEST_CAMPAIGN.search, strategy: 'gepa' as const, rounds: 6 },
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

test(
  'a worker killed mid-search: the resumed campaign re-pays no evaluation and ships what an uninterrupted run ships',
  { timeout: 600_000 },
  async (t) => {
    const taskId = h.scenario.task.id
    await h.traffic.burst(260)

    // The uninterrupted reference run.
    const w0 = await startWorker()
    const reference: CampaignResult = await h.client.workflow.execute(optimizationCampaign, {
      workflowId: `durable-ref-${taskId}`,
      taskQueue: h.taskQueue,
      args: [{ taskId, campaignId: `durable-ref-${taskId}`, trigger: 'test', config }],
    })
    w0.kill('SIGTERM')
    assert.ok(reference.rolloutsUsed > 0)
    assert.equal(await paidBy(reference.campaignId), reference.rolloutsUsed)
    // Forget the reference's cached answers and their grades, so the second run pays for its own
    // evaluations and its pooled fits see only its own evidence.
    const referenceRows = await h.db
      .select({ key: evaluations.cacheKey, purpose: evaluations.purpose })
      .from(evaluations)
      .where(eq(evaluations.campaignId, reference.campaignId))
    const referenceKeys = referenceRows.map((r) => r.key)
    const referenceRollouts = referenceRows.filter((r) => r.purpose === 'task').map((r) => r.key)
    for (let i = 0; i < referenceKeys.length; i += 500)
      await h.db
        .delete(scores)
        .where(and(eq(scores.subjectType, 'evaluation'), inArray(scores.subjectId, referenceKeys.slice(i, i + 500))))
    await h.db.delete(evaluations).where(eq(evaluations.campaignId, reference.campaignId))

    // The same campaign (same seed, same traffic), with its worker killed in the middle of the search.
    const campaignId = `durable-run-${taskId}`
    await startWorker()
    const handle = await h.client.workflow.start(optimizationCampaign, {
      workflowId: campaignId,
      taskQueue: h.taskQueue,
      args: [{ taskId, campaignId, trigger: 'test', config }],
    })
    await eventually(
      async () =>
        Number(
          (await h.db.select({ n: count() }).from(candidates).where(eq(candidates.campaignId, campaignId)))[0]?.n ?? 0,
        ),
      (n) => n >= 3,
      120_000,
      'search under way',
    )
    // Kill while a search round is running on the worker (not between two activities), so the kill
    // interrupts work in flight. A round can finish between the look and the kill: the server still
    // holding the round as started after the process is gone is the proof that work was cut off.
    // When the kill missed, a fresh worker carries on and the next round is tried.
    // (A round's large evaluations run as chunk activities: a chunk in flight is work of the round too.)
    const roundInFlight = async () =>
      ((await handle.describe()).raw.pendingActivities ?? []).some(
        (a) =>
          ['searchRound', 'evaluateChunk'].includes(a.activityType?.name ?? '') && Number(a.state) === 2 /* STARTED */,
      )
    let interrupted = false
    for (let attempt = 1; attempt <= 5 && !interrupted; attempt++) {
      await eventually(roundInFlight, (yes) => yes, 120_000, 'a search round in flight')
      const running = workers.filter((w) => w.exitCode === null && w.signalCode === null)
      for (const w of running) w.kill('SIGKILL')
      await Promise.all(
        running.map(
          (w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once('exit', r))),
        ),
      )
      await new Promise((r) => setTimeout(r, 500))
      interrupted = await roundInFlight()
      t.diagnostic(
        `kill ${attempt}: ` +
          `${interrupted ? 'a search round was in flight' : 'fell between activities; a new worker carries on'}`,
      )
      if (!interrupted) await startWorker()
    }
    assert.ok(interrupted, 'one of five kills landed while a search round was in flight')
    const atKill = await h.db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) })
    assert.equal(atKill?.status, 'running', 'killed before the campaign finished')
    const paidAtKill = await paidBy(campaignId)
    const killedAt = new Date(
      ((await h.db.execute(sql`select now() as now`)) as unknown as { rows: Array<{ now: string | Date }> }).rows[0]
        ?.now ?? 0,
    )

    await startWorker()
    const resumed: CampaignResult = await handle.result()
    const history = await handle.fetchHistory()
    const retried = (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)
    assert.ok(retried.length >= 1, 'an activity was retried on the new worker after the kill')

    const runKeys = await h.db
      .select({ key: evaluations.cacheKey, at: evaluations.createdAt })
      .from(evaluations)
      .where(and(eq(evaluations.campaignId, campaignId), eq(evaluations.purpose, 'task')))
    const extra = runKeys
      .filter((r) => !referenceRollouts.includes(r.key))
      .map(
        (r) =>
          `${r.key.slice(0, 8)} at ` +
          `kill${r.at >= killedAt ? '+' : '-'}${Math.abs(r.at.getTime() - killedAt.getTime())}ms`,
      )
    const missing = referenceRollouts.filter((k) => !runKeys.some((r) => r.key === k)).length
    t.diagnostic(
      `rollouts: uninterrupted ${reference.rolloutsUsed}, resumed ${resumed.rolloutsUsed} (${paidAtKill} ` +
        `before the kill); evaluations only the resumed run made: ${extra.length ? extra.join(', ') : 'none'}; ` +
        `only the uninterrupted run: ${missing}`,
    )
    assert.equal(resumed.decision, reference.decision)
    assert.equal(resumed.winnerVersion, reference.winnerVersion, 'same winner as the uninterrupted run')
    assert.equal(
      resumed.rolloutsUsed,
      reference.rolloutsUsed,
      `the resumed campaign paid ${resumed.rolloutsUsed} rollouts, the uninterrupted one ${reference.rolloutsUsed}`,
    )
    assert.equal(await paidBy(campaignId), reference.rolloutsUsed)
    assert.ok(paidAtKill > 0 && paidAtKill < reference.rolloutsUsed, `paid ${paidAtKill} before the kill`)
  },
)
