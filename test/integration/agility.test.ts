/**
 * Model agility end to end (issue 17): `kaizen migrate` on a simulated task, through the real
 * Temporal server and PostgreSQL, measures the drop on the cheap tier, re-optimizes the prompt for
 * it, ships the (model, prompt) pair to a canary whose treatment arm the gateway serves with the new
 * model, and an approval promotes it.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { and, eq } from 'drizzle-orm'
import { getLabels } from '../../db/queries/labels.js'
import { promptVersions, traffic } from '../../db/schema.js'
import { approveUpdate, canaryStatusQuery, type CampaignResult } from '../../workflows/messages.js'
import { kaizen } from '../helpers/cli.js'
import { TEST_CAMPAIGN } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, type Harness } from '../helpers/infra.js'

let h: Harness
const dir = mkdtempSync(join(tmpdir(), 'kaizen-agility-test-'))
before(async () => {
  h = await startHarness({ name: 'agility', fixedIds: true })
})
after(async () => {
  await h.close()
  rmSync(dir, { recursive: true, force: true })
})

test('kaizen migrate re-optimizes the prompt for a cheaper model and canaries the (model, prompt) pair', async () => {
  const taskId = h.scenario.task.id
  const production = h.task.seedVersion
  assert.equal(production.model, 'sim-standard')
  await h.traffic.burst(260)
  const config = join(dir, 'campaign.json')
  writeFileSync(
    config,
    JSON.stringify({
      ...TEST_CAMPAIGN,
      search: { ...TEST_CAMPAIGN.search, strategy: 'pooled-local', minibatchSize: 8 },
    }),
  )
  const run = await kaizen(
    [
      'migrate',
      '--task',
      taskId,
      '--to-model',
      'sim-small',
      '--margin',
      '0.05',
      '--finalists',
      '2',
      '--config',
      config,
      '--id',
      'migrate-1',
    ],
    {
      TEMPORAL_ADDRESS: testInfra().temporalAddress,
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: testInfra().databaseUrl,
    },
  )
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`)
  const said = run.stderr
  if (process.env.AGILITY_TEST_OUT) writeFileSync(process.env.AGILITY_TEST_OUT, said)
  // The front is printed: production and the sim-small finalist, each with quality, cost and latency.
  assert.match(said, /Objective migrate \(margin 0\.05\); holdout front/)
  assert.match(said, /sim-small .* qualifies, chosen/)
  assert.match(said, /Decision: canary-started\. migration qualifies: sim-small/)
  assert.match(said, /the best (on the holdout|that qualifies) of 2 finalists on it/)

  const handle = h.client.workflow.getHandle('migrate-1')
  const result: CampaignResult = await handle.result()
  assert.equal(result.decision, 'canary-started', result.reason)
  const winner = await h.db.query.promptVersions.findFirst({ where: eq(promptVersions.id, result.winnerVersion!) })
  assert.equal(winner?.model, 'sim-small')
  const front = result.agility!.front
  const prod = front.find((p) => p.id === production.id)!
  const pair = front.find((p) => p.id === result.winnerVersion)!
  assert.ok(pair.costPer1k < prod.costPer1k / 2, `${pair.costPer1k} vs ${prod.costPer1k}`)
  assert.ok(pair.quality >= prod.quality - 0.05, `${pair.quality} vs ${prod.quality}`)
  // --finalists 2: sim-small's two best-ranked candidates went to the holdout; the better one there
  // that qualifies ships, and the drop's share won back is the shipped one's.
  const finalists = result.agility!.verdicts.filter((v) => v.model === 'sim-small')
  assert.equal(finalists.length, 2)
  const qualifying = finalists.filter((v) => v.withinLimits && v.nonInferior)
  assert.equal(pair.quality, Math.max(...qualifying.map((v) => v.quality)))
  // The drop, on the holdout: production's prompt unchanged on sim-small, against production on the
  // same items (sim-small ignores the seed prompt's JSON wording: a large drop), and the share won back.
  const drop = result.agility!.drop!
  assert.equal(drop.model, 'sim-small')
  assert.ok(drop.difference < -0.1 && drop.interval[1] < 0, JSON.stringify(drop))
  assert.ok(Math.abs(drop.productionQuality - prod.quality) < 1e-9, `${drop.productionQuality} vs ${prod.quality}`)
  assert.ok(drop.recovered !== null && drop.recovered > 1, JSON.stringify(drop))
  const unchanged = await h.db.query.promptVersions.findFirst({ where: eq(promptVersions.id, drop.id) })
  assert.equal(unchanged?.model, 'sim-small')
  assert.equal(unchanged?.system, production.system)
  assert.match(
    said,
    new RegExp(
      `Migration drop on the holdout: production's prompt unchanged on sim-small scores ${drop.quality.toFixed(3)} ` +
        `against production's ${prod.quality.toFixed(3)}, −${Math.abs(drop.difference).toFixed(3)} \\(95 % interval ` +
        `.* items\\); the re-optimized prompt wins back \\d+ % of it`,
    ),
  )
  // The drop was real: production's prompt moved as it is to sim-small was a candidate, and far worse.
  const lineage = await kaizen(['campaign', 'show', 'migrate-1', '--json'], { DATABASE_URL: testInfra().databaseUrl })
  const nodes = (
    JSON.parse(lineage.stdout) as { nodes: Array<{ operator: string; model: string; validationMean: number }> }
  ).nodes
  const shown = await kaizen(['campaign', 'show', 'migrate-1', '--all'], { DATABASE_URL: testInfra().databaseUrl })
  assert.match(shown.stderr, /v\d+ sim-small \[switch-model, round 1, accepted\]/)
  assert.match(shown.stderr, /By the objective: migration qualifies: sim-small/)
  const switched = nodes.find((n) => n.operator === 'switch-model')!
  assert.equal(switched.model, 'sim-small')
  assert.ok(
    result.winnerValidationDQ! > switched.validationMean + 0.1,
    `${result.winnerValidationDQ} vs ${switched.validationMean}`,
  )

  // Live traffic: the gateway serves the canary arm with sim-small, the baseline arm with sim-standard.
  h.traffic.start(40)
  const canary = h.client.workflow.getHandle(result.canary!.workflowId)
  const status = await eventually(
    () => canary.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval' || s.state === 'rolled_back',
    120_000,
    'canary awaiting approval',
  )
  assert.equal(status.state, 'awaiting_approval', status.reason ?? '')
  const arms = await h.db
    .select({ arm: traffic.arm, model: traffic.model })
    .from(traffic)
    .where(and(eq(traffic.taskId, taskId), eq(traffic.canaryId, result.canary!.id)))
  assert.ok(
    arms.some((r) => r.arm === 'canary') &&
      arms.every((r) => r.model === (r.arm === 'canary' ? 'sim-small' : 'sim-standard')),
  )
  // The approval evidence: cost and latency per arm (the cheaper model is cheaper live too).
  const a = status.analysis!
  assert.ok(a.canary.meanCostUsd! < a.baseline.meanCostUsd!, `${a.canary.meanCostUsd} vs ${a.baseline.meanCostUsd}`)
  assert.ok(a.canary.meanLatencyMs! < a.baseline.meanLatencyMs!)

  await canary.executeUpdate(approveUpdate, { args: [{ approver: 'alice@example.com', comment: 'cheaper, as good' }] })
  await eventually(
    () => canary.query(canaryStatusQuery),
    (s) => s.state === 'baking' || s.state === 'promoted',
    60_000,
    'promoted',
  )
  const labels = await getLabels(h.db, taskId)
  assert.equal(labels.production?.promptVersionId, result.winnerVersion)
  h.traffic.stop()
})

test('designed search in a campaign: designs are paid for and cached, never saved; the fitted prompt is', async () => {
  // After the first test, production runs on sim-small; this migration moves it back to sim-standard.
  const config = join(dir, 'designed.json')
  writeFileSync(config, JSON.stringify({ ...TEST_CAMPAIGN, search: { ...TEST_CAMPAIGN.search, strategy: 'designed' } }))
  const env = { DATABASE_URL: testInfra().databaseUrl }
  const run = await kaizen(
    ['migrate', '--task', h.scenario.task.id, '--to-model', 'sim-standard', '--config', config, '--id', 'designed-1'],
    { ...env, TEMPORAL_ADDRESS: testInfra().temporalAddress, TEMPORAL_TASK_QUEUE: h.taskQueue },
  )
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`)
  const result: CampaignResult = await h.client.workflow.getHandle('designed-1').result()
  const shown = await kaizen(['campaign', 'show', 'designed-1', '--json'], env)
  type Node = { candidateId: string; operator: string; model: string; parents: string[]; validationMean: number | null }
  const nodes = (JSON.parse(shown.stdout) as { nodes: Node[] }).nodes
  const root = nodes.find((n) => n.operator === 'switch-model' && n.model === 'sim-standard')!
  const fitted = nodes.filter((n) => n.operator === 'designed')
  // Most of the budget went to designs; the pool holds production, its prompt on sim-standard and the fits.
  assert.ok(result.rolloutsUsed > 1000, `${result.rolloutsUsed} rollouts`)
  assert.ok(nodes.length <= 4, JSON.stringify(nodes))
  assert.ok(fitted.length >= 1, JSON.stringify(nodes))
  for (const f of fitted) {
    assert.equal(f.model, 'sim-standard')
    assert.deepEqual(f.parents, [root.candidateId])
    assert.notEqual(f.validationMean, null)
  }
})
