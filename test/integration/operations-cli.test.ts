/**
 * Operations from the real `kaizen` binary (issue 13), against the test Temporal server and database:
 * bad input refused before anything runs, tasks checked before anything is started or scheduled,
 * the estimate's refusal, and a failed campaign's root cause. (The API, no-worker answers and the
 * late-decision rule end to end: operations.test.ts.)
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client'
import { createApi } from '../../api/app.js'
import { createToken } from '../../db/queries/tokens.js'
import { PromptResolver } from '../../serving/resolver.js'
import { scheduleIdFor } from '../../workflows/messages.js'
import { apiCaller, kaizen } from '../helpers/cli.js'
import { startHarness, testInfra, uniqueSuffix, type Harness } from '../helpers/infra.js'

let h: Harness
let call: ReturnType<typeof apiCaller>
let readToken: string
const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-ops-cli-test-'))

before(async () => {
  h = await startHarness({ name: 'ops-cli' })
  readToken = (await createToken(h.db, { name: 'ops-cli-read', scopes: ['read'], createdBy: 'test' })).secret
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

/** The CLI against the test Temporal server, on the harness worker's task queue. */
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

test('bad CLI input is refused with the flag or field, the value and the fix, before anything starts', async () => {
  const file = (name: string, text: string) => {
    const path = join(dataDir, name)
    writeFileSync(path, text)
    return path
  }
  const cases: Array<{ args: string[]; pattern: RegExp }> = [
    {
      args: ['--config', file('bare.yaml', 'fast\n')],
      pattern: /campaign config .*bare\.yaml must be a mapping of settings .* not the text "fast"/,
    },
    {
      args: ['--config', file('list.yaml', '- search: { rounds: 1 }\n')],
      pattern: /campaign config .*list\.yaml must be a mapping of settings .* not a list/,
    },
    {
      args: ['--config', file('typo.yaml', 'serach:\n  rounds: 1\ncanary:\n  bake: { second: 30 }\n')],
      pattern: new RegExp(
        String.raw`canary\.bake\.second: unknown setting "second"; did you mean "seconds"\?\n` +
          String.raw`.*serach: unknown setting "serach"; did you mean "search"\?`,
      ),
    },
    {
      args: ['--canary-weight', 'abc'],
      pattern: /--canary-weight "abc" \(canary\.weight\) is not a number; use a number greater than 0 and at most 0\.5/,
    },
  ]
  for (const [i, c] of cases.entries()) {
    const id = `ops-bad-input-${i}-${Date.now()}`
    const run = await cli(['campaign', 'start', '--task', h.scenario.task.id, '--id', id, '--no-wait', ...c.args])
    assert.equal(run.code, 2, `${c.args.join(' ')}: ${run.stderr}`)
    assert.match(run.stderr, c.pattern)
    assert.equal(await exists(id), false, `nothing was started for ${c.args.join(' ')}`)
  }
  // `kaizen up` refuses a bad --rate before it starts a server, a worker or traffic (it used to run "about NaN
  // requests/s").
  const up = await kaizen(['up', '--rate', 'abc', '--headless'], { KAIZEN_DATA_DIR: dataDir })
  assert.equal(up.code, 2, up.stderr)
  assert.match(up.stderr, /--rate "abc" is not a number; use a number greater than 0 and at most 1000/)
  assert.doesNotMatch(up.stderr, /Starting the Temporal dev server|Kaizen is starting/)
})

test('tasks are checked before anything is started or scheduled; a schedule on too little traffic warns', async () => {
  const task = h.scenario.task.id
  const id = `ops-unknown-${Date.now()}`
  const unknown = await cli(['campaign', 'start', '--task', 'no-such-task', '--id', id, '--no-wait'])
  assert.equal(unknown.code, 3, unknown.stderr)
  assert.match(unknown.stderr, /unknown task "no-such-task" .*; nothing was started/)
  assert.equal(await exists(id), false)

  // The task exists but has no traffic yet: the campaign would fail at its snapshot, so it does not start.
  const empty = await cli(['campaign', 'start', '--task', task, '--id', id, '--no-wait'])
  assert.equal(empty.code, 5, empty.stderr)
  assert.match(
    empty.stderr,
    new RegExp(
      `task "${task}" has 0 usable traffic records .* in the last 168 h; a campaign needs at least 60.*; ` +
        `nothing was started`,
    ),
  )
  assert.equal(await exists(id), false)

  const noSchedule = await cli(['schedule', 'create', '--task', 'no-such-task'])
  assert.equal(noSchedule.code, 3, noSchedule.stderr)
  assert.match(noSchedule.stderr, /unknown task "no-such-task".*; no schedule was created/)
  await assert.rejects(h.client.schedule.getHandle(scheduleIdFor('no-such-task')).describe(), ScheduleNotFoundError)

  const warned = await cli(['schedule', 'create', '--task', task, '--json'])
  assert.equal(warned.code, 0, warned.stderr)
  assert.match(
    warned.stderr,
    new RegExp(`Warning: task "${task}" has 0 usable traffic records .* every scheduled run will fail for this reason`),
  )
  const created = JSON.parse(warned.stdout) as { scheduleId: string; warnings: string[] }
  assert.equal(created.warnings.length, 1)
  await h.client.schedule.getHandle(created.scheduleId).delete()

  // A rollout budget the baseline's scoring uses up (it counts against the budget before the search).
  const small = await cli(['schedule', 'create', '--task', task, '--budget', '100', '--json'])
  assert.equal(small.code, 0, small.stderr)
  const smallSchedule = JSON.parse(small.stdout) as { scheduleId: string; warnings: string[] }
  assert.equal(smallSchedule.warnings.length, 2, smallSchedule.warnings.join('\n'))
  assert.match(
    smallSchedule.warnings[1] ?? '',
    new RegExp(
      'search\\.rolloutBudget 100 is used up by scoring the baseline on about \\d+ training and validation ' +
        'items.*raise search\\.rolloutBudget above \\d+',
    ),
  )
  await h.client.schedule.getHandle(smallSchedule.scheduleId).delete()
})

test('`campaign estimate` says when and why the campaign would refuse to run', async () => {
  const env = { DATABASE_URL: testInfra().databaseUrl }
  const json = await cli(['campaign', 'estimate', '--task', h.scenario.task.id, '--json'], env)
  assert.equal(json.code, 0, json.stderr)
  const est = JSON.parse(json.stdout) as { refusal: { code: string; message: string } | null; usableRecords: number }
  assert.equal(est.refusal?.code, 'INSUFFICIENT_DATA')
  assert.match(est.refusal?.message ?? '', /has 0 usable traffic records/)
  assert.equal(est.usableRecords, 0)
  const text = await cli(['campaign', 'estimate', '--task', h.scenario.task.id], env)
  assert.equal(text.code, 0, text.stderr)
  assert.match(
    text.stderr,
    /This campaign would REFUSE TO RUN \[INSUFFICIENT_DATA\]: task ".*" has 0 usable traffic records/,
  )
})

test(`a failed campaign shows its root cause and code (CLI text and --json, API); an \
ended workflow needs no worker`, async () => {
  const campaignId = uniqueSuffix('ops-failed')
  // Started directly (no preflight): it fails at its snapshot, as a campaign on a task without traffic does.
  const handle = await h.client.workflow.start('optimizationCampaign', {
    workflowId: campaignId,
    taskQueue: h.taskQueue,
    args: [{ taskId: h.scenario.task.id, campaignId, trigger: 'test', config: {} }],
    memo: { taskId: h.scenario.task.id },
  })
  await assert.rejects(handle.result())

  const text = await cli(['campaign', 'status', campaignId])
  assert.equal(text.code, 0, text.stderr)
  assert.match(
    text.stderr,
    new RegExp(
      `${campaignId} · task ${h.scenario.task.id} · failed: task "${h.scenario.task.id}" has 0 usable ` +
        `traffic records .* needs at least 60\\..* \\[INSUFFICIENT_DATA\\] \\(in activity snapshotDataset\\)`,
    ),
  )
  assert.match(
    text.stderr,
    /failure chain: workflow: .*\n\s+← activity snapshotDataset: .*\n\s+← application \[INSUFFICIENT_DATA\]: task/,
  )
  // An ended campaign is read from its history, not asked of a worker: this works from a queue nobody polls.
  const json = await cli(['campaign', 'status', campaignId, '--json'], { TEMPORAL_TASK_QUEUE: uniqueSuffix('nobody') })
  assert.equal(json.code, 0, json.stderr)
  const view = JSON.parse(json.stdout)
  assert.equal(view.workflowStatus, 'FAILED')
  assert.equal(view.failure.code, 'INSUFFICIENT_DATA')
  assert.deepEqual(
    view.failure.chain.map((l: { kind: string }) => l.kind),
    ['workflow', 'activity', 'application'],
  )
  const api = await call('GET', `/v1/campaigns/${campaignId}`, readToken)
  assert.equal(api.status, 200)
  const body = (await api.json()) as { failure: { code: string; message: string } }
  assert.equal(body.failure.code, 'INSUFFICIENT_DATA')
  assert.match(body.failure.message, /has 0 usable traffic records/)
})

test(`a spend budget that leaves the search nothing is refused before anything starts, naming \
search.budgetUsd and what to raise it above; the estimate says it once, as the refusal`, async () => {
  // Traffic enough to run (the tests above need none, so this one comes last).
  await h.traffic.burst(240)
  const task = h.scenario.task.id
  const tiny = join(dataDir, 'tiny-budget.yaml')
  writeFileSync(tiny, 'search: { budgetUsd: 0.0001 }\n')
  const id = uniqueSuffix('ops-poor')
  const start = await cli(['campaign', 'start', '--task', task, '--id', id, '--config', tiny, '--no-wait'])
  assert.equal(start.code, 2, start.stderr)
  assert.match(start.stderr, /search\.budgetUsd \$0\.0001 does not cover scoring the baseline \(~\$[\d.]+\) and /)
  assert.match(start.stderr, /the holdout gate .* Raise search\.budgetUsd above \$[\d.]+; nothing was started/)
  assert.equal(await exists(id), false)

  const env = { DATABASE_URL: testInfra().databaseUrl }
  const estimated = await cli(['campaign', 'estimate', '--task', task, '--config', tiny, '--json'], env)
  assert.equal(estimated.code, 0, estimated.stderr)
  const est = JSON.parse(estimated.stdout)
  assert.equal(est.refusal?.code, 'INVALID_INPUT')
  assert.match(est.refusal?.message, /does not cover/)
  assert.ok(!est.warnings.some((w: string) => /does not cover/.test(w)), est.warnings.join('\n'))
  // The amount it names is enough: a budget above it is no refusal (the estimate runs the same check).
  const floor = Number(/above \$(\d+\.\d+)/.exec(est.refusal?.message)?.[1])
  assert.ok(floor > 0, est.refusal?.message)
  const enough = join(dataDir, 'enough-budget.yaml')
  writeFileSync(enough, `search: { budgetUsd: ${(floor * 1.5).toFixed(6)} }\n`)
  const enoughRun = await cli(['campaign', 'estimate', '--task', task, '--config', enough, '--json'], env)
  assert.equal(enoughRun.code, 0, enoughRun.stderr)
  const ok = JSON.parse(enoughRun.stdout)
  assert.equal(ok.refusal, null, JSON.stringify(ok.refusal))
  assert.ok(ok.budget.searchUsd > 0)
})

test(`a model the deployment cannot call or price is refused before anything starts or is scheduled, \
named by its field, with a "did you mean"`, async () => {
  const task = h.scenario.task.id // has traffic: the test above sent it
  const typo = await cli(['migrate', '--task', task, '--to-model', 'sim-smal', '--id', uniqueSuffix('ops-typo')])
  assert.equal(typo.code, 2, typo.stderr)
  assert.match(
    typo.stderr,
    /search\.objective\.toModel: no price for model "sim-smal" \(did you mean "sim-small"\?\); .*price table/,
  )
  const unserved = uniqueSuffix('ops-unserved')
  const start = await cli([
    'campaign',
    'start',
    '--task',
    task,
    '--models',
    'sim-small,openai:gpt-4.1-mini',
    '--objective',
    'cheapest',
    '--id',
    unserved,
    '--no-wait',
  ])
  assert.equal(start.code, 2, start.stderr)
  assert.match(
    start.stderr,
    /search\.models: no configured provider serves model "openai:gpt-4\.1-mini" .*OPENAI_API_KEY/,
  )
  assert.equal(await exists(unserved), false)
  // A model watch would fail at every run: refused at creation, nothing scheduled.
  const watch = await cli(['schedule', 'create', '--task', task, '--models', 'sim-small,sim-tiny'])
  assert.equal(watch.code, 2, watch.stderr)
  assert.match(watch.stderr, /search\.models: no price for model "sim-tiny"/)
  await assert.rejects(
    h.client.schedule.getHandle(scheduleIdFor(task, 'model-watch')).describe(),
    ScheduleNotFoundError,
  )
})
