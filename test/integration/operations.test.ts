/**
 * Operations end to end (issue 13): the real `kaizen` binary and the HTTP API against the test
 * Temporal server and database, through client/operations.ts — bad input refused before anything
 * runs, tasks checked before anything is started or scheduled, failures shown with their root
 * cause, fast answers when no worker runs, and a reject sent right after an approval.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { ScheduleNotFoundError, WorkflowNotFoundError, WorkflowUpdateStage } from '@temporalio/client'
import { and, asc, eq } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { createOperations } from '../../client/operations.js'
import { getLabels } from '../../db/queries/labels.js'
import { campaignPreflight } from '../../db/queries/preflight.js'
import { createToken } from '../../db/queries/tokens.js'
import { approvals, auditEvents, campaigns, labelHistory } from '../../db/schema.js'
import { PromptResolver } from '../../serving/resolver.js'
import { canaryRelease } from '../../workflows/canary.js'
import { approveUpdate, canaryStatusQuery, scheduleIdFor } from '../../workflows/messages.js'
import { kaizen } from '../helpers/cli.js'
import { betterContent, fastCanary, measuredCostRatio, version } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, uniqueSuffix, type Harness } from '../helpers/infra.js'

let h: Harness
let app: ReturnType<typeof createApi>
let tokens: Record<'read' | 'operate' | 'bob', string>
const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-ops-test-'))

before(async () => {
  h = await startHarness({ name: 'ops' })
  tokens = {
    read: (await createToken(h.db, { name: 'ops-read', scopes: ['read'], createdBy: 'test' })).secret,
    operate: (await createToken(h.db, { name: 'ops-operate', scopes: ['operate', 'read'], createdBy: 'test' })).secret,
    bob: (await createToken(h.db, { name: 'ops-bob', scopes: ['approve', 'read'], person: 'bob@example.com', createdBy: 'test' })).secret,
  }
  app = createApi({ db: h.db, resolver: new PromptResolver(h.db), temporal: { client: async () => h.client, taskQueue: h.taskQueue } })
})
after(async () => {
  await h.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/** The CLI against the test Temporal server, on the harness worker's task queue (or `queue`). */
const cli = (args: string[], extra: Record<string, string> = {}) =>
  kaizen(args, { KAIZEN_DATA_DIR: dataDir, TEMPORAL_ADDRESS: testInfra().temporalAddress, TEMPORAL_TASK_QUEUE: h.taskQueue, ...extra })
const call = (method: string, path: string, secret: string, body?: unknown) =>
  app.request(path, { method, headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string; fields?: string[] } }).error
const exists = (workflowId: string) =>
  h.client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      () => true,
      (e: unknown) => (e instanceof WorkflowNotFoundError ? false : Promise.reject(e)),
    )

test('bad CLI input is refused with the flag or field, the value and the fix, before anything starts', async () => {
  const task = h.scenario.task.id
  const file = (name: string, text: string) => {
    const path = join(dataDir, name)
    writeFileSync(path, text)
    return path
  }
  const cases: Array<{ args: string[]; pattern: RegExp }> = [
    { args: ['--config', file('bare.yaml', 'fast\n')], pattern: /campaign config .*bare\.yaml must be a mapping of settings .* not the text "fast"/ },
    { args: ['--config', file('list.yaml', '- search: { rounds: 1 }\n')], pattern: /campaign config .*list\.yaml must be a mapping of settings .* not a list/ },
    { args: ['--config', file('typo.yaml', 'serach:\n  rounds: 1\n')], pattern: /serach: unknown setting "serach"; did you mean "search"\?/ },
    { args: ['--config', file('nested.json', '{"canary": {"weight": 0.1, "bake": {"second": 30}}}')], pattern: /canary\.bake\.second: unknown setting "second"; did you mean "seconds"\?/ },
    { args: ['--canary-weight', 'abc'], pattern: /--canary-weight "abc" \(canary\.weight\) is not a number; use a number greater than 0 and at most 0\.5/ },
    { args: ['--rounds', 'many'], pattern: /--rounds "many" \(search\.rounds\) is not a number; use a whole number from 1 to 1000/ },
  ]
  for (const [i, c] of cases.entries()) {
    const id = `ops-bad-input-${i}-${Date.now()}`
    const run = await cli(['campaign', 'start', '--task', task, '--id', id, '--no-wait', ...c.args])
    assert.equal(run.code, 2, `${c.args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, c.pattern)
    assert.equal(await exists(id), false, `nothing was started for ${c.args.join(' ')}`)
  }

  // `kaizen up` / `kaizen demo` refuse a bad --rate before starting servers, a worker or traffic.
  for (const command of ['up', 'demo']) {
    const run = await kaizen([command, '--rate', 'abc', '--headless'], { KAIZEN_DATA_DIR: dataDir })
    assert.equal(run.code, 2, run.stderr)
    assert.match(run.stderr, /--rate "abc" is not a number; use a number greater than 0 and at most 1000/)
    assert.doesNotMatch(run.stderr, /Starting the Temporal dev server|Kaizen is starting/)
  }
  const scenario = await kaizen(['demo', '--scenario', 'no-such-scenario', '--headless'], { KAIZEN_DATA_DIR: dataDir })
  assert.equal(scenario.code, 3, scenario.stderr)
  assert.match(scenario.stderr, /unknown scenario "no-such-scenario"/)
  assert.doesNotMatch(scenario.stderr, /Starting the Temporal dev server/)

  const cron = await cli(['schedule', 'create', '--task', task, '--cron', 'every night'])
  assert.equal(cron.code, 2)
  assert.match(cron.stderr, /--cron "every night" is not a 5-field cron expression/)
  const window = await cli(['schedule', 'create', '--task', task, '--catchup-window', 'soonish'])
  assert.equal(window.code, 2)
  assert.match(window.stderr, /--catchup-window "soonish" is not a duration/)
  const limit = await cli(['campaign', 'list', '--limit', '0'])
  assert.equal(limit.code, 2)
  assert.match(limit.stderr, /--limit "0" is out of range: use a whole number from 1 to 10000/)
})

test('tasks are checked before anything is started or scheduled; a schedule on too little traffic warns', async () => {
  const task = h.scenario.task.id
  const id = `ops-unknown-${Date.now()}`
  const unknown = await cli(['campaign', 'start', '--task', 'no-such-task', '--id', id, '--no-wait'])
  assert.equal(unknown.code, 3, unknown.stderr)
  assert.match(unknown.stderr, /unknown task "no-such-task" .*; nothing was started/)
  assert.equal(await exists(id), false)
  const typo = await cli(['campaign', 'start', '--task', `${task}x`, '--no-wait'])
  assert.equal(typo.code, 3)
  assert.match(typo.stderr, new RegExp(`did you mean "${task}"\\?`))

  // The task exists but has no traffic yet: the campaign would fail at its snapshot, so it does not start.
  const empty = await cli(['campaign', 'start', '--task', task, '--id', id, '--no-wait'])
  assert.equal(empty.code, 5, empty.stderr)
  assert.match(empty.stderr, new RegExp(`task "${task}" has 0 usable traffic records .* in the last 168 h; a campaign needs at least 60.*; nothing was started`))
  assert.equal(await exists(id), false)

  const noSchedule = await cli(['schedule', 'create', '--task', 'no-such-task'])
  assert.equal(noSchedule.code, 3, noSchedule.stderr)
  assert.match(noSchedule.stderr, /unknown task "no-such-task".*; no schedule was created/)
  await assert.rejects(h.client.schedule.getHandle(scheduleIdFor('no-such-task')).describe(), ScheduleNotFoundError)

  const warned = await cli(['schedule', 'create', '--task', task, '--json'])
  assert.equal(warned.code, 0, warned.stderr)
  assert.match(warned.stderr, new RegExp(`Warning: task "${task}" has 0 usable traffic records .* every scheduled run will fail for this reason`))
  const created = JSON.parse(warned.stdout) as { scheduleId: string; warnings: string[] }
  assert.equal(created.warnings.length, 1)
  await h.client.schedule.getHandle(created.scheduleId).delete()

  // The API holds the database and runs the same check itself.
  const apiUnknown = await call('POST', '/v1/campaigns', tokens.operate, { task: 'no-such-task' })
  assert.equal(apiUnknown.status, 404)
  assert.deepEqual((await errorOf(apiUnknown)).fields, ['task'])
  const apiEmpty = await call('POST', '/v1/campaigns', tokens.operate, { task, id })
  assert.equal(apiEmpty.status, 422)
  assert.match((await errorOf(apiEmpty)).message, /has 0 usable traffic records.*nothing was started/)
  assert.equal(await exists(id), false)
  assert.equal((await h.db.select().from(campaigns).where(eq(campaigns.id, id))).length, 0)
})

test('API bodies carrying campaign settings are strict: unknown keys and non-mappings are named', async () => {
  const typo = await call('POST', '/v1/campaigns', tokens.operate, { task: h.scenario.task.id, config: { search: { roudns: 2 } } })
  assert.equal(typo.status, 400)
  const e = await errorOf(typo)
  assert.deepEqual(e.fields, ['config.search.roudns'])
  assert.match(e.message, /config\.search\.roudns: unknown setting "roudns"; did you mean "rounds"\?/)
  const list = await call('POST', '/v1/campaigns', tokens.operate, { task: h.scenario.task.id, config: [1] })
  assert.equal(list.status, 400)
  assert.deepEqual((await errorOf(list)).fields, ['config'])
})

test('`campaign estimate` says when and why the campaign would refuse to run', async () => {
  const env = { DATABASE_URL: testInfra().databaseUrl }
  const json = await cli(['campaign', 'estimate', '--task', h.scenario.task.id, '--json'], env)
  assert.equal(json.code, 0, json.stderr)
  const est = JSON.parse(json.stdout) as { refusal: { code: string; message: string } | null; usableRecords: number; proposerCalls: number }
  assert.equal(est.refusal?.code, 'INSUFFICIENT_DATA')
  assert.match(est.refusal?.message ?? '', /has 0 usable traffic records/)
  assert.equal(est.usableRecords, 0)
  const text = await cli(['campaign', 'estimate', '--task', h.scenario.task.id], env)
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stderr, /This campaign would REFUSE TO RUN \[INSUFFICIENT_DATA\]: task ".*" has 0 usable traffic records/)
  const unknown = await cli(['campaign', 'estimate', '--task', 'no-such-task'], env)
  assert.equal(unknown.code, 3)
  assert.match(unknown.stderr, /unknown task "no-such-task"/)
})

test('a failed campaign shows its root cause and code (CLI text and --json, API); an ended workflow needs no worker', async () => {
  const campaignId = uniqueSuffix('ops-failed')
  // Started directly (no preflight): it fails at its snapshot, as a campaign on a task without traffic does.
  const handle = await h.client.workflow.start('optimizationCampaign', { workflowId: campaignId, taskQueue: h.taskQueue, args: [{ taskId: h.scenario.task.id, campaignId, trigger: 'test', config: {} }], memo: { taskId: h.scenario.task.id } })
  await assert.rejects(handle.result())

  const text = await cli(['campaign', 'status', campaignId])
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stderr, new RegExp(`${campaignId} · task ${h.scenario.task.id} · failed: task "${h.scenario.task.id}" has 0 usable traffic records .* needs at least 60\\..* \\[INSUFFICIENT_DATA\\] \\(in activity snapshotDataset\\)`))
  assert.match(text.stderr, /failure chain: workflow: .*\n\s+← activity snapshotDataset: .*\n\s+← application \[INSUFFICIENT_DATA\]: task/)
  const json = JSON.parse((await cli(['campaign', 'status', campaignId, '--json'])).stdout)
  assert.equal(json.workflowStatus, 'FAILED')
  assert.equal(json.failure.code, 'INSUFFICIENT_DATA')
  assert.deepEqual(json.failure.chain.map((l: { kind: string }) => l.kind), ['workflow', 'activity', 'application'])
  const api = await call('GET', `/v1/campaigns/${campaignId}`, tokens.read)
  assert.equal(api.status, 200)
  const view = (await api.json()) as { failure: { code: string; message: string }; reason: string }
  assert.equal(view.failure.code, 'INSUFFICIENT_DATA')
  assert.match(view.failure.message, /has 0 usable traffic records/)

  // A status read of an ended campaign goes to its history, not to a worker: it works from a queue nobody polls.
  const elsewhere = await cli(['campaign', 'status', campaignId], { TEMPORAL_TASK_QUEUE: uniqueSuffix('nobody') })
  assert.equal(elsewhere.code, 0, elsewhere.stderr)
  assert.match(elsewhere.stderr, /\[INSUFFICIENT_DATA\]/)
})

test('no worker polling: status, approve and start fail at once with exit 7 and a hint; once ended, status needs none', async () => {
  const queue = uniqueSuffix('ops-no-worker')
  const campaignId = uniqueSuffix('ops-orphan')
  const canaryId = uniqueSuffix('canary-ops-orphan')
  const orphan = await h.client.workflow.start('optimizationCampaign', { workflowId: campaignId, taskQueue: queue, args: [{ taskId: h.scenario.task.id, campaignId, trigger: 'test', config: {} }] })
  const orphanCanary = await h.client.workflow.start('canaryRelease', { workflowId: canaryId, taskQueue: queue, args: [{ canaryId, taskId: h.scenario.task.id, campaignId: null, candidateVersionId: 'pv_x', baselineVersionId: 'pv_y', graderVersionId: 'gv' }] })
  try {
    const hint = new RegExp(`no Kaizen worker is polling task queue "${queue}", so .*; start one with \`kaizen up\` \\(embedded\\) or \`kaizen worker\``)
    const status = await cli(['campaign', 'status', campaignId])
    assert.equal(status.code, 7, status.stderr)
    assert.match(status.stderr, hint)
    const canary = await cli(['canary', 'status', canaryId])
    assert.equal(canary.code, 7, canary.stderr)
    assert.match(canary.stderr, hint)
    const approve = await cli(['canary', 'approve', canaryId, '--approver', 'alice@example.com'])
    assert.equal(approve.code, 7, approve.stderr)
    assert.match(approve.stderr, new RegExp(`no Kaizen worker is polling task queue "${queue}", so canary ${canaryId} cannot take the approve now \\(nothing was recorded\\)`))
    const id = uniqueSuffix('ops-nostart')
    const start = await cli(['campaign', 'start', '--task', h.scenario.task.id, '--id', id, '--no-wait'], { TEMPORAL_TASK_QUEUE: queue })
    assert.equal(start.code, 7, start.stderr)
    assert.match(start.stderr, new RegExp(`no Kaizen worker is polling task queue "${queue}", so the campaign cannot be checked \\(nor run\\)`))
    assert.equal(await exists(id), false)
    const api = await call('GET', `/v1/campaigns/${campaignId}`, tokens.read)
    assert.equal(api.status, 503)
    assert.equal((await errorOf(api)).code, 'INFRA_UNAVAILABLE')
  } finally {
    await orphan.terminate('test over')
    await orphanCanary.terminate('test over')
  }
  const ended = await cli(['campaign', 'status', campaignId])
  assert.equal(ended.code, 0, ended.stderr)
  assert.match(ended.stderr, new RegExp(`${campaignId} · terminated: test over \\[terminated\\]`))
  const endedCanary = await cli(['canary', 'status', canaryId, '--json'])
  assert.equal(endedCanary.code, 0, endedCanary.stderr)
  assert.equal(JSON.parse(endedCanary.stdout).failure.chain.at(-1).kind, 'terminated')
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
      args: [{ canaryId, taskId: h.scenario.task.id, campaignId: null, candidateVersionId: candidate.id, baselineVersionId: h.task.seedVersion.id, graderVersionId: h.task.graderVersionId, config: { ...config, analysis: { ...config.analysis!, expectedCostRatio } } }],
    })
    await eventually(() => handle.query(canaryStatusQuery), (s) => s.state === 'awaiting_approval', 90_000, 'awaiting approval')
    // Alice approves; as soon as the approval is accepted (not yet carried out), Bob rejects over HTTP.
    const approval = await handle.startUpdate(approveUpdate, { args: [{ approver: 'alice@example.com' }], waitForStage: WorkflowUpdateStage.ACCEPTED })
    const rejected = await call('POST', `/v1/canaries/${canaryId}/reject`, tokens.bob, { comment: 'support tickets doubled' })
    assert.equal(rejected.status, 200, JSON.stringify(await rejected.clone().json()))
    const outcome = (await rejected.json()) as { state: string; productionVersionId: string; message: string }
    assert.equal(outcome.state, 'rolled_back')
    assert.equal(outcome.productionVersionId, h.task.seedVersion.id)
    assert.match(outcome.message, new RegExp(`rejected by bob@example.com during the bake window: rolled back, production is back on ${h.task.seedVersion.id}`))
    assert.equal((await approval.result()).state, 'promoted')
    const final = await handle.result()
    assert.equal(final.state, 'rolled_back')
    assert.equal((await getLabels(h.db, h.scenario.task.id)).production?.promptVersionId, h.task.seedVersion.id)

    // One approval row per decision; the audit log tells the same story, once each.
    const rows = await h.db.select().from(approvals).where(eq(approvals.canaryId, canaryId)).orderBy(asc(approvals.at))
    assert.deepEqual(rows.map((r) => [r.decision, r.approver]), [['approve', 'alice@example.com'], ['reject', 'bob@example.com']])
    const actions = (await h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, canaryId))).map((e) => e.action)
    for (const a of ['canary.approved', 'canary.promoted', 'canary.bake_started', 'canary.rejected', 'canary.bake_rolled_back']) assert.equal(actions.filter((x) => x === a).length, 1, `${a} once in ${actions.join(',')}`)
    const moves = await h.db.select().from(labelHistory).where(and(eq(labelHistory.canaryId, canaryId), eq(labelHistory.label, 'production'))).orderBy(asc(labelHistory.at))
    assert.deepEqual(moves.map((m) => m.toVersionId), [candidate.id, h.task.seedVersion.id])

    // Approving the ended canary again says what happened to it, records nothing.
    const late = await cli(['canary', 'approve', canaryId, '--approver', 'alice@example.com'])
    assert.equal(late.code, 4, late.stderr)
    assert.match(late.stderr, new RegExp(`canary ${canaryId} has ended: rolled_back \\(approved by alice@example.com at \\S+\\): rolled back during the bake window by bob@example.com: support tickets doubled; nothing to approve, nothing was recorded`))
    assert.equal((await h.db.select().from(approvals).where(eq(approvals.canaryId, canaryId))).length, 2)
    const status = await cli(['canary', 'status', canaryId])
    assert.match(status.stderr, /approved by alice@example.com at \S+ \(apr_[^)]+\)\n\s+rejected by bob@example.com at \S+ \(apr_[^)]+\)/)
  } finally {
    await h.traffic.stop()
  }
})

test('with traffic, the checks pass: preflight (worker and database give the same answer) and the estimate has no refusal', async () => {
  await h.traffic.burst(120)
  const config = (await import('../../core/config.js')).parseCampaignConfig({ sample: { size: 120, minItems: 60 } })
  const viaWorker = await createOperations({ client: h.client, taskQueue: h.taskQueue }).preflight({ taskId: h.scenario.task.id, config, mode: 'start', campaignId: 'ops-preflight' })
  const direct = await campaignPreflight(h.db, { taskId: h.scenario.task.id, config, mode: 'start', campaignId: 'ops-preflight' })
  assert.equal(viaWorker.refusal, null, JSON.stringify(viaWorker))
  assert.deepEqual({ ...viaWorker, warnings: [] }, { ...direct, warnings: [] })
  const est = await cli(['campaign', 'estimate', '--task', h.scenario.task.id, '--json'], { DATABASE_URL: testInfra().databaseUrl })
  assert.equal(est.code, 0, est.stderr)
  assert.equal(JSON.parse(est.stdout).refusal, null)
})
