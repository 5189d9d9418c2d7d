/**
 * docs/your-own-prompt.md, step by step, as a user runs it: the real `kaizen` binary (sim serve,
 * worker, serve, task apply, tokens, traffic export, grader calibrate, campaign estimate and start,
 * audit), the example app (examples/oncall-app/main.ts) on `kaizen/client`, and the HTTP API, on
 * this run's Postgres database and the real Temporal server. The model, the LLM judge and the LLM
 * proposer are `kaizen sim serve` behind the OpenAI wire protocol, reached through Kaizen's OpenAI
 * provider; no scenario is registered as a task.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { and, eq, sql } from 'drizzle-orm'
import { openDatabase, type Database } from '../../db/client.js'
import { candidates, labels, traffic } from '../../db/schema.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { kaizen, startKaizen, type KaizenProcess } from '../helpers/cli.js'
import { testInfra, uniqueSuffix } from '../helpers/infra.js'

const TASK = 'oncall-triage'
const CAMPAIGN = 'oncall-1'
const CANARY = `canary-${CAMPAIGN}`
const MIGRATION = 'oncall-migrate-1'
const APP = [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(REPO_ROOT, 'examples/oncall-app/main.ts')]

let work: string
let database: Database
let env: Record<string, string | undefined>
let simUrl: string
let apiUrl: string
const processes: KaizenProcess[] = []
const tokens: Record<'app' | 'ops' | 'alice', string> = { app: '', ops: '', alice: '' }

/** `kaizen <args>` with this test's environment; what it printed (messages, then data). Fails on a non-zero exit. */
async function run(args: string[]): Promise<string> {
  const r = await kaizen(args, env)
  assert.equal(r.code, 0, `kaizen ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`)
  return `${r.stderr}\n${r.stdout}`
}
/** `kaizen <args> --json`: what it printed on stdout, parsed. */
async function runJson(args: string[]): Promise<any> {
  const r = await kaizen([...args, '--json'], env)
  assert.equal(r.code, 0, `kaizen ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`)
  return JSON.parse(r.stdout)
}
const started = (p: KaizenProcess) => (processes.push(p), p)

async function api(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, json: await res.json() }
}

/** Poll until `probe` returns a value (not undefined), or fail with the last thing seen. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    const value = await probe().catch((err: unknown) => ((last = err instanceof Error ? err.message : err), undefined))
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/** The example app over `count` cases from `offset`; its summary line. */
async function app(args: string[]): Promise<string> {
  const p = started(startKaizen(args, { ...env, KAIZEN_TOKEN: tokens.app, KAIZEN_URL: apiUrl }, APP))
  const [line] = await p.waitFor(/Sent \d+ case\(s\)[^\n]*/, 240_000)
  assert.equal(await p.exited(), 0, p.output())
  return line
}
const cases = (offset: number, count: number) =>
  `${simUrl}/sim/v1/examples?scenario=incident-triage&count=${count}&offset=${offset}`

before(async () => {
  const { databaseUrl, temporalAddress } = testInfra()
  work = await mkdtemp(join(tmpdir(), 'kaizen-own-prompt-'))
  database = await openDatabase({ url: databaseUrl, dataDir: '/nonexistent', migrate: false })
  env = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: uniqueSuffix('own-prompt'),
    KAIZEN_DATA_DIR: work,
    KAIZEN_PRICES_FILE: join(REPO_ROOT, 'examples/oncall-app/prices.yaml'),
    OPENAI_API_KEY: undefined,
    ANTHROPIC_API_KEY: undefined,
    OPENAI_BASE_URL: undefined,
  }
  // 1. The model: the simulated world behind the OpenAI wire protocol.
  const sim = started(startKaizen(['sim', 'serve', '--port', '0'], env))
  const [, baseUrl] = await sim.waitFor(/OPENAI_BASE_URL=(\S+)/)
  env.OPENAI_BASE_URL = baseUrl
  simUrl = baseUrl!.replace(/\/v1$/, '')
})

after(async () => {
  for (const p of processes.reverse()) await p.stop()
  await database?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

test('your own prompt: from a task file to an approved canary, as docs/your-own-prompt.md says', async (t) => {
  const clock = Date.now()
  const log = (what: string) => t.diagnostic(`${((Date.now() - clock) / 1000).toFixed(0)} s: ${what}`)

  // 2. Define the task: from YAML, no scenario. Applying it again changes nothing.
  const applied = await run(['task', 'apply', '-f', 'examples/oncall-app/task.yaml', '--actor', 'ops@example.com'])
  assert.match(applied, /oncall-triage/)
  const again = await run(['task', 'apply', '-f', 'examples/oncall-app/task.yaml', '--actor', 'ops@example.com'])
  assert.match(again, /unchanged|no change/i)
  assert.match(await run(['task', 'show', TASK]), /openai:sim-standard/)

  // 3. Start Kaizen: a worker and the API, separate processes on one database and Temporal server.
  const worker = started(startKaizen(['worker'], env))
  await worker.waitFor(/worker polling task queue/)
  const serve = started(startKaizen(['serve', '--port', '0'], env))
  ;[, apiUrl] = (await serve.waitFor(/listening on (http:\/\/\S+) /)) as [string, string]
  log('services up')

  // 4. Tokens: the app's is limited to oncall-* tasks, the approver's names its person.
  const secret = async (args: string[]) =>
    (JSON.parse((await kaizen(['token', 'create', ...args], env)).stdout) as { secret: string }).secret
  tokens.app = await secret(['--name', 'oncall-app', '--scopes', 'ingest,read', '--tasks', 'oncall-*'])
  tokens.ops = await secret(['--name', 'ops', '--scopes', 'operate,read'])
  tokens.alice = await secret(['--name', 'alice', '--scopes', 'approve,read', '--person', 'alice@example.com'])
  const denied = await api('GET', '/v1/tasks/support-reply/prompt?key=k', tokens.app)
  assert.equal(denied.status, 403, JSON.stringify(denied.json))

  // 5. Traffic through the gateway (OpenAI provider → sim serve), OTLP/HTTP JSON and the client, with outcomes.
  const sent = [
    await app(['--cases', cases(0, 110), '--via', 'gateway', '--outcomes', '--run', 'gateway']),
    await app(['--cases', cases(110, 110), '--via', 'otlp', '--outcomes', '--run', 'otlp']),
    await app(['--cases', cases(220, 110), '--via', 'client', '--outcomes', '--run', 'client']),
  ]
  for (const line of sent) assert.match(line, /Sent 110 case\(s\) via \w+ \(0 failed\), 110 outcome\(s\)/)
  assert.match(sent[2]!, /110 stored/)
  const stored = await database.db
    .select({
      n: sql<number>`count(*)::int`,
      referenced: sql<number>`count(${traffic.reference})::int`,
      simulated: sql<number>`count(*) filter (where ${traffic.simulated})::int`,
      first: sql<string>`min(${traffic.routingKey})`,
      last: sql<string>`max(${traffic.routingKey})`,
    })
    .from(traffic)
    .where(eq(traffic.taskId, TASK))
  assert.deepEqual(stored[0], { n: 330, referenced: 330, simulated: 330, first: 'serve:000000', last: 'serve:000329' })
  log('330 records with outcomes')

  // 6. Calibrate the grader on labelled answers (the simulated world labels them here).
  const records = join(work, 'records.jsonl')
  await run(['traffic', 'export', '--task', TASK, '--limit', '120', '-o', records])
  const labelled = await fetch(`${simUrl}/sim/v1/labels`, { method: 'POST', body: await readFile(records) })
  assert.equal(labelled.status, 200)
  const labelsFile = join(work, 'labels.jsonl')
  await writeFile(labelsFile, await labelled.text())
  const calibrated = await run(['grader', 'calibrate', '--task', TASK, '--labels', labelsFile])
  assert.match(calibrated, /trusted/i)
  assert.doesNotMatch(calibrated, /not trusted|untrusted/i)
  log('grader calibrated')

  // 7. Estimate, then start the campaign; live traffic through the client for its canary.
  const config = 'examples/oncall-app/campaign.yaml'
  const estimate = await runJson(['campaign', 'estimate', '--task', TASK, '--config', config])
  assert.ok(estimate.usd.expected > 0 && estimate.usd.high <= 5, JSON.stringify(estimate))
  assert.equal(estimate.refusal, null, JSON.stringify(estimate))
  await run(['campaign', 'start', '--task', TASK, '--config', config, '--id', CAMPAIGN, '--no-wait'])
  const live = started(
    startKaizen(
      ['--cases', cases(0, 330), '--repeat', '0', '--rate', '25'],
      { ...env, KAIZEN_TOKEN: tokens.app, KAIZEN_URL: apiUrl },
      APP,
    ),
  )
  const atCanary = await until(
    'the campaign to start its canary',
    async () => {
      const r = await api('GET', `/v1/campaigns/${CAMPAIGN}`, tokens.ops)
      return r.json.result || r.json.workflowStatus === 'FAILED' ? r.json : undefined
    },
    300_000,
  )
  assert.equal(atCanary.decision, 'canary-started', JSON.stringify(atCanary))
  log(`canary started: ${atCanary.reason}`)
  // The holdout decision: the winner beats production on the holdout, and the LLM proposer wrote it.
  const result = atCanary.result
  assert.ok(result.winnerHoldoutDQ > result.baselineHoldoutDQ, JSON.stringify(result))
  const [winner] = await database.db
    .select({ operator: candidates.operator })
    .from(candidates)
    .where(and(eq(candidates.campaignId, CAMPAIGN), eq(candidates.promptVersionId, result.winnerVersion)))
  assert.match(winner?.operator ?? '', /^llm-/, 'the winner was written by the LLM proposer')

  // 8. Watch the canary serve live traffic, then approve it over HTTP with the approver's token.
  const waiting = await until(
    'the canary to await approval',
    async () => {
      const r = await api('GET', `/v1/canaries/${CANARY}`, tokens.alice)
      if (r.json.state === 'rolled_back') throw new Error(JSON.stringify(r.json))
      return r.json.state === 'awaiting_approval' ? r.json : undefined
    },
    240_000,
  )
  log(`awaiting approval: ${JSON.stringify(waiting.analysis)}`)
  const approved = await api('POST', `/v1/canaries/${CANARY}/approve`, tokens.alice, {
    comment: 'holdout and live agree',
  })
  assert.equal(approved.status, 200, JSON.stringify(approved.json))
  // Approved, the canary bakes with a holdback on the old version, then ends promoted: production is the winner.
  const ended = await until(
    'the canary to end',
    async () => {
      const r = await api('GET', `/v1/canaries/${CANARY}`, tokens.alice)
      return r.json.workflowStatus === 'RUNNING' ? undefined : r.json
    },
    120_000,
  )
  await live.stop()
  log(`canary ended: ${ended.state}`)
  assert.equal(ended.state, 'promoted', JSON.stringify(ended))
  const [production] = await database.db
    .select({ version: labels.promptVersionId })
    .from(labels)
    .where(and(eq(labels.taskId, TASK), eq(labels.label, 'production')))
  assert.equal(production?.version, result.winnerVersion)

  // The canary served its candidate through the client (routing per key), with both arms recorded.
  const arms = await database.db
    .select({ arm: traffic.arm, n: sql<number>`count(*)::int` })
    .from(traffic)
    .where(eq(traffic.canaryId, CANARY))
    .groupBy(traffic.arm)
  const byArm = Object.fromEntries(arms.map((a) => [a.arm, a.n]))
  assert.ok(byArm.canary > 0 && byArm.baseline > 0, JSON.stringify(byArm))

  // 9. A cheaper model: `kaizen migrate` re-optimizes the prompt for openai:sim-small through the
  // OpenAI wire (the LLM proposer is told the model; the judge's reasons name the format it needs),
  // and canaries the (model, prompt) pair; the live app gets the new model for the canary's keys.
  const migrated = await run([
    'migrate',
    '--task',
    TASK,
    '--to-model',
    'openai:sim-small',
    '--margin',
    '0.1',
    '--config',
    'examples/oncall-app/migrate.yaml',
    '--id',
    MIGRATION,
    '--no-wait',
  ])
  assert.match(migrated, new RegExp(MIGRATION))
  const traffic2 = started(
    startKaizen(
      ['--cases', cases(0, 330), '--repeat', '0', '--rate', '25', '--run', 'migration'],
      { ...env, KAIZEN_TOKEN: tokens.app, KAIZEN_URL: apiUrl },
      APP,
    ),
  )
  const pair = await until(
    'the migration to start its canary',
    async () => {
      const r = await api('GET', `/v1/campaigns/${MIGRATION}`, tokens.ops)
      return r.json.result || r.json.workflowStatus === 'FAILED' ? r.json : undefined
    },
    300_000,
  )
  assert.equal(pair.decision, 'canary-started', JSON.stringify(pair))
  log(`migration canary started: ${pair.reason}`)
  const agility = pair.result.agility
  const [prodPoint, newPoint] = [production!.version, pair.result.winnerVersion].map((id) =>
    agility.front.find((p: { id: string }) => p.id === id),
  )
  assert.equal(newPoint.model, 'openai:sim-small', JSON.stringify(agility.front))
  assert.ok(newPoint.costPer1k < prodPoint.costPer1k / 2, JSON.stringify(agility.front))
  // The drop, through the wire too: production's prompt unchanged on the cheap model, on the holdout.
  assert.equal(agility.drop.model, 'openai:sim-small', JSON.stringify(agility.drop))
  assert.ok(agility.drop.difference < 0 && agility.drop.n > 0, JSON.stringify(agility.drop))
  const migrationCanary = `canary-${MIGRATION}`
  const awaiting = await until(
    'the migration canary to await approval',
    async () => {
      const r = await api('GET', `/v1/canaries/${migrationCanary}`, tokens.alice)
      if (r.json.state === 'rolled_back') throw new Error(JSON.stringify(r.json))
      return r.json.state === 'awaiting_approval' ? r.json : undefined
    },
    240_000,
  )
  // The approval evidence per arm: the canary arm is cheaper per request (its model is).
  const evidence = awaiting.analysis
  assert.ok(evidence.canary.meanCostUsd < evidence.baseline.meanCostUsd, JSON.stringify(evidence))
  const served = await database.db
    .select({ arm: traffic.arm, model: traffic.model, n: sql<number>`count(*)::int` })
    .from(traffic)
    .where(eq(traffic.canaryId, migrationCanary))
    .groupBy(traffic.arm, traffic.model)
  assert.deepEqual(
    served.map((r) => `${r.arm}:${r.model}`).sort(),
    ['baseline:openai:sim-standard', 'canary:openai:sim-small'],
    JSON.stringify(served),
  )
  const approvedPair = await api('POST', `/v1/canaries/${migrationCanary}/approve`, tokens.alice, {
    comment: 'cheaper model, as good',
  })
  assert.equal(approvedPair.status, 200, JSON.stringify(approvedPair.json))
  await until(
    'the migration canary to end',
    async () => {
      const r = await api('GET', `/v1/canaries/${migrationCanary}`, tokens.alice)
      return r.json.workflowStatus === 'RUNNING' ? undefined : r.json
    },
    120_000,
  )
  await traffic2.stop()
  const [moved] = await database.db
    .select({ version: labels.promptVersionId })
    .from(labels)
    .where(and(eq(labels.taskId, TASK), eq(labels.label, 'production')))
  assert.equal(moved?.version, pair.result.winnerVersion)
  log('the (openai:sim-small, prompt) pair is in production')

  // 10. The audit log shows each step, with who did it.
  const events = (await runJson(['audit', '--task', TASK, '--limit', '500'])) as Array<{
    action: string
    actor: string
  }>
  const actions = events.map((e) => e.action)
  log(`audit: ${[...new Set(actions)].join(', ')}`)
  for (const action of ['grader.activated', 'campaign.started', 'canary.started', 'canary.ramped', 'canary.promoted'])
    assert.ok(actions.includes(action), `audit has ${action}: ${actions.join(', ')}`)
  assert.ok(
    events.some((e) => e.actor === 'alice@example.com'),
    'the approval is recorded under its person',
  )

  // 11. The quality monitor on this task: live traffic from the app graded by the task's LLM judge over the
  // OpenAI wire; a DQ floor set above what any prompt achieves is breached and alerted (no campaign here).
  const monitorFile = join(work, 'monitor.yaml')
  await writeFile(
    monitorFile,
    [
      'sampleRate: 1',
      'checkEveryMs: 1500',
      'referenceMs: 60000',
      'floors: { dq: 0.999, p95LatencyMs: null, windowMs: 60000, minObservations: 10 }',
      'action: { startCampaign: false }',
    ].join('\n'),
  )
  assert.match(await run(['monitor', 'start', '--task', TASK, '--file', monitorFile]), /kaizen-monitor-oncall-triage/)
  const traffic3 = started(
    startKaizen(
      ['--cases', cases(330, 200), '--repeat', '0', '--rate', '25', '--run', 'monitor'],
      { ...env, KAIZEN_TOKEN: tokens.app, KAIZEN_URL: apiUrl },
      APP,
    ),
  )
  const watched = await until(
    'a monitor alert',
    async () => {
      const r = await api('GET', `/v1/monitors/${TASK}`, tokens.ops)
      return r.json.openAlerts?.length > 0 && r.json.status?.window?.graded > 0 ? r.json : undefined
    },
    90_000,
  )
  await traffic3.stop()
  assert.deepEqual(
    watched.openAlerts.map((a: { kind: string; metric: string }) => `${a.kind}:${a.metric}`),
    ['floor:dq'],
  )
  const window = watched.status.window
  assert.equal(window.versionId, pair.result.winnerVersion)
  assert.ok(window.dqMean > 0 && window.dqMean < 0.999 && window.meanCostUsd > 0, JSON.stringify(window))
  const status = await run(['monitor', 'status', '--task', TASK])
  assert.match(status, /open alert .* \(floor dq/)
  await run(['monitor', 'stop', '--task', TASK])
  log(`monitor: DQ ${window.dqMean.toFixed(3)} over ${window.graded} graded requests; alert raised`)
})
