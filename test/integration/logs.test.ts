/**
 * Logs without secrets: real Kaizen processes (`kaizen serve` with ingestion and the gateway,
 * `kaizen up` running a worker, the traffic simulator and a campaign), every log level on
 * (TRACE), their database reached through a proxy that cuts every connection mid-ingest and
 * mid-campaign and then gives the database back. Traffic carries planted secrets and personal data;
 * no line the processes print may contain any of them, nor SQL parameters, nor a task token. The
 * processes must survive the outage and the campaign must finish.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { count, eq } from 'drizzle-orm'
import { createPromptVersion } from '../../db/queries/prompts.js'
import { moveLabel } from '../../db/queries/labels.js'
import { createToken } from '../../db/queries/tokens.js'
import { candidates, tasks } from '../../db/schema.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { freePort } from '../../scripts/lib/test-infra.js'
import type { Scenario } from '../../sim/scenario.js'
import { optimizationCampaign } from '../../workflows/campaign/index.js'
import type { CampaignResult } from '../../workflows/messages.js'
import { startTcpProxy, type TcpProxy } from '../helpers/faults.js'
import { TEST_CAMPAIGN } from '../helpers/fixtures.js'
import { eventually, startHarness, testInfra, type Harness } from '../helpers/infra.js'
import { startLlmServer, type LlmServer } from '../helpers/llm-server.js'

const MARK = `kzleak${randomBytes(4).toString('hex')}`
/** What must never be printed. Each is unique to this run, so a hit cannot be a coincidence. */
const PLANTED = {
  apiKey: `sk-live-${MARK}Q7x9Lp2Vb8Nw4Rt6Yh3`,
  envKey: `sk-live-env${MARK}Zq1Wx2Ec3Rv4Tb5`,
  email: `jane.${MARK}@example.com`,
  card: '4111 1111 1111 1111',
  phone: '+1 415 555 0199',
  /** In every simulated input and answer (a service name) and in every gateway input and answer. */
  marker: MARK,
}
const PERSONAL = `Reported by ${PLANTED.email}, phone ${PLANTED.phone}, card ${PLANTED.card}, key ${PLANTED.apiKey}.`
/**
 * Never in a log line either: SQL parameters (drizzle's message, or as a JSON field), a PostgreSQL detail with row
 * values, Temporal task tokens.
 */
const FORBIDDEN_PATTERNS = [/params"?\s*:/, /Failed query/, /Key \(.*\)=\(/, /task_?token/i]

/**
 * The scenario's inputs and answers carry the planted data: personal data in every summary, the marker in every service
 * name.
 */
function plant(s: Scenario): Scenario {
  const plantService = (v: unknown) => (typeof v === 'string' ? `${v}-${MARK}` : v)
  const service = s.variables.service
  return {
    ...s,
    variables: {
      ...s.variables,
      ...(service && service.kind === 'choice'
        ? { service: { ...service, values: service.values.map(plantService) } }
        : {}),
    },
    clusters: s.clusters.map((c) => ({ ...c, summaries: c.summaries.map((t) => `${t} ${PERSONAL}`) })),
  } as Scenario
}

interface Child {
  name: string
  process: ChildProcess
  lines: string[]
}

let h: Harness
let llm: LlmServer
let proxy: TcpProxy
const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-logs-'))
const scenariosDir = join(dataDir, 'scenarios')
const children: Child[] = []
const REAL_TASK = `logs-real-${process.pid}`

before(async () => {
  h = await startHarness({ name: 'logs', worker: false, edit: plant })
  const { databaseUrl } = testInfra()
  proxy = await startTcpProxy(databaseUrl)
  // The model echoes what it was sent (planted data included) and adds the marker.
  llm = await startLlmServer({
    responder: (call) => ({ kind: 'text', text: `answer ${MARK}: ${call.messages.at(-1)?.content ?? ''}` }),
  })
  mkdirSync(scenariosDir)
  writeFileSync(join(scenariosDir, `${h.scenario.id}.json`), JSON.stringify(h.scenario))
  await h.db.insert(tasks).values({
    id: REAL_TASK,
    title: 'Logs test',
    description: 'real-model task',
    scenarioId: null,
    inputFields: ['ticket'],
  })
  const v = await createPromptVersion(h.db, {
    taskId: REAL_TASK,
    content: {
      system: 'You triage tickets.',
      user: 'Ticket: {{ticket}}',
      model: 'gpt-4.1-mini',
      params: { temperature: 0, maxTokens: 64 },
    },
    origin: 'human',
    createdBy: 'test',
  })
  await moveLabel(h.db, {
    moveKey: `logs:${REAL_TASK}:prod`,
    taskId: REAL_TASK,
    label: 'production',
    toVersionId: v.id,
    weight: 1,
    canaryId: null,
    reason: 'test',
    actor: 'test',
  })
})

after(async () => {
  for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL')
  await proxy?.close()
  await llm?.close()
  await h?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/**
 * A Kaizen command as a child process, its database through the proxy, every log level on; every line it prints is
 * kept.
 */
function kaizen(name: string, args: string[], env: Record<string, string>): Child {
  const { databaseUrl, temporalAddress } = testInfra()
  const childEnv: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) childEnv[k] = v
  Object.assign(childEnv, {
    DATABASE_URL: proxy.url(databaseUrl),
    TEMPORAL_ADDRESS: temporalAddress,
    KAIZEN_DATA_DIR: dataDir,
    KAIZEN_SCENARIOS_DIR: scenariosDir,
    KAIZEN_LOG_LEVEL: 'TRACE',
    OPENAI_BASE_URL: llm.openaiBaseUrl,
    OPENAI_API_KEY: PLANTED.envKey,
    ...env,
  })
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kaizen.js'), ...args], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Child = { name, process: child, lines: [] }
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream?.on('data', (d: Buffer) => {
      const parts = (rest + d.toString('utf8')).split('\n')
      rest = parts.pop() ?? ''
      out.lines.push(...parts)
    })
    stream?.on('end', () => rest && out.lines.push(rest))
  }
  children.push(out)
  return out
}

const printed = (c: Child, re: RegExp) => c.lines.some((l) => re.test(l))
const alive = (c: Child) => c.process.exitCode === null && c.process.signalCode === null
const waitFor = (c: Child, re: RegExp, what: string, timeoutMs = 120_000) =>
  eventually(
    async () => printed(c, re) || !alive(c),
    (ok) => ok,
    timeoutMs,
    `${c.name}: ${what}`,
  ).then(() =>
    assert.ok(
      alive(c),
      `${c.name} exited (${c.process.exitCode ?? c.process.signalCode}):\n${c.lines.slice(-30).join('\n')}`,
    ),
  )

/**
 * A step that must end within `ms`; otherwise it fails with what each process printed last (the test
 * once hung in CI past its 10 minutes with nothing to show why).
 */
async function within<T>(step: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const tails = children.map(
        (c) => `--- ${c.name} (${alive(c) ? 'running' : 'exited'}):\n${c.lines.slice(-25).join('\n')}`,
      )
      reject(new Error(`${what}: not done after ${ms / 1000} s\n${tails.join('\n')}`))
    }, ms)
  })
  try {
    return await Promise.race([step, late])
  } finally {
    clearTimeout(timer)
  }
}

/** With KAIZEN_TEST_LOG_DUMP=<folder>, every child's lines are also written there (to see what was printed). */
function dump(): void {
  const dir = process.env.KAIZEN_TEST_LOG_DUMP
  if (!dir) return
  mkdirSync(dir, { recursive: true })
  for (const c of children) writeFileSync(join(dir, `${c.name}.log`), c.lines.join('\n'))
}

/** Every printed line holding a planted value or a forbidden pattern, with the process that printed it. */
function leaks(): string[] {
  const found: string[] = []
  for (const c of children) {
    for (const line of c.lines) {
      const hits = [
        ...Object.entries(PLANTED)
          .filter(([, v]) => line.includes(v))
          .map(([k]) => k),
        ...FORBIDDEN_PATTERNS.filter((re) => re.test(line)).map(String),
      ]
      if (hits.length > 0)
        found.push(`${c.name} [${hits.join(', ')}]: ${line.length > 400 ? `${line.slice(0, 400)}…` : line}`)
    }
  }
  return found
}

test(
  `a database outage mid-ingest and mid-campaign prints no planted secret, personal data, SQL parameter or task \
token; the processes survive and the campaign finishes`,
  { timeout: 600_000 },
  async (t) => {
    const ingest = (await createToken(h.db, { name: 'logs-ingest', scopes: ['ingest', 'read'], createdBy: 'test' }))
      .secret
    await h.traffic.burst(260)

    const apiPort = await freePort()
    // Model calls are held for a while below: no model timeout may end them first.
    const serve = kaizen('serve', ['serve', '--port', String(apiPort)], { KAIZEN_MODEL_TIMEOUT_MS: '600000' })
    const taskQueue = `test-logs-${randomBytes(3).toString('hex')}`
    // One evaluation at a time: the search lasts long enough for the cut to land in it.
    const up = kaizen('up', ['up', '--no-campaign', '--headless', '--scenario', h.scenario.id, '--rate', '20'], {
      TEMPORAL_TASK_QUEUE: taskQueue,
      KAIZEN_EVAL_CONCURRENCY: '1',
    })
    await waitFor(serve, /Kaizen API listening/, 'the API listening')
    await waitFor(up, /Kaizen is running/, 'worker and traffic running')

    const api = `http://127.0.0.1:${apiPort}`
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${ingest}` }
    const complete = (i: number) =>
      fetch(`${api}/v1/tasks/${REAL_TASK}/complete`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ key: `user-${i}`, input: { ticket: `disk full on db-${i} ${PERSONAL} ${MARK}` } }),
      })
    const promptVersion = (await h.resolver.resolve(REAL_TASK, 'x')).version.id
    const ingestBatch = (i: number) =>
      fetch(`${api}/v1/traffic`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          records: [
            {
              id: `logs-${i}`,
              task: REAL_TASK,
              promptVersion,
              routingKey: `user-${i}`,
              input: { ticket: `${PERSONAL} ${MARK}` },
              output: `${MARK} ${PERSONAL}`,
              model: 'gpt-4.1-mini',
            },
          ],
        }),
      })
    assert.equal((await complete(0)).status, 200, 'the gateway answers before the outage')

    // A campaign, in the middle of its search when the database goes away.
    const campaignId = `logs-${h.scenario.task.id}`
    const handle = await h.client.workflow.start(optimizationCampaign, {
      workflowId: campaignId,
      taskQueue,
      args: [
        {
          taskId: h.scenario.task.id,
          campaignId,
          trigger: 'test',
          config: { ...TEST_CAMPAIGN, seed: 'logs', gate: { minEffect: 1 } },
        },
      ],
    })
    await eventually(
      async () =>
        Number(
          (await h.db.select({ n: count() }).from(candidates).where(eq(candidates.campaignId, campaignId)))[0]?.n ?? 0,
        ),
      (n) => n >= 2,
      180_000,
      'search under way',
    )

    // Gateway calls whose model answers arrive while the database is away: the model holds them until the cut.
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    const calls = llm.callCount()
    llm.setResponder(async (call) => {
      await released
      return { kind: 'text', text: `answer ${MARK}: ${call.messages.at(-1)?.content ?? ''} ${PERSONAL}` }
    })
    const held = Array.from({ length: 4 }, (_, i) => complete(100 + i))
    await eventually(
      async () => llm.callCount() - calls,
      (n) => n >= 4,
      60_000,
      'the held model calls',
    )

    const printedBefore = up.lines.length
    await proxy.cut()
    assert.equal(
      (await handle.describe()).status.name,
      'RUNNING',
      'the database went away in the middle of the campaign',
    )
    release()
    const during = await within(
      Promise.all([...held, complete(200), ingestBatch(300), ingestBatch(301)]),
      180_000,
      'gateway and ingest calls during the outage',
    )
    await eventually(
      async () => up.lines.slice(printedBefore).some((l) => /Activity failed/.test(l)) || !alive(up),
      (ok) => ok,
      120_000,
      'an activity failing on the lost database',
    )
    await proxy.cut({ mode: 'reset' }) // now every new connection is accepted and reset at once
    await eventually(
      async () => proxy.resets,
      (n) => n >= 3,
      60_000,
      'connections reset by the proxy',
    )
    await proxy.restore()
    const lost = await waitFor(
      up,
      /\[traffic\] \d+ requests? lost while the database was unavailable/,
      'the simulator reporting lost requests',
      60_000,
    ).then(
      () => true,
      () => false,
    )

    const result: CampaignResult = await within(
      handle.result(),
      240_000,
      `the campaign after the outage (${(await handle.describe()).status.name} when the wait began)`,
    )
    t.diagnostic(`campaign ${result.decision}; during the outage: ${during.map((r) => r.status).join(', ')}`)
    const after = await complete(400)
    const afterIngest = await ingestBatch(401)
    const metrics = await (await fetch(`${api}/metrics`, { headers })).text()
    dump()

    // First what matters most: nothing leaked, whatever else happened.
    const found = leaks()
    assert.deepEqual(found, [], `printed lines leak:\n${found.join('\n')}`)
    assert.ok(alive(serve) && alive(up), 'both processes survived the outage')
    assert.ok(['no-significant-improvement', 'no-better-candidate'].includes(result.decision), result.decision)

    // The held calls were made before the cut and answered during it: not recorded, and said so.
    const heldAnswers = during.slice(0, 4)
    for (const r of heldAnswers) {
      assert.equal(r.status, 200, await r.clone().text())
      assert.equal(r.headers.get('kaizen-recorded'), 'false')
      const body = (await r.json()) as { recorded: boolean; output: string }
      assert.equal(body.recorded, false)
      assert.ok(body.output.includes(MARK), 'the caller gets the answer')
    }
    // A new call during the outage: answered unrecorded if its version was still cached, else 503 before any model
    // call.
    assert.ok([200, 503].includes(during[4]!.status), String(during[4]!.status))
    for (const r of during.slice(5)) {
      assert.equal(r.status, 503, 'ingestion while the database is away: 503, to be retried')
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'INFRA_UNAVAILABLE')
    }
    const lostTotal = Number(/^kaizen_gateway_records_lost_total\{outcome="ok"\} (\d+)/m.exec(metrics)?.[1] ?? 0)
    assert.ok(lostTotal >= 4, `kaizen_gateway_records_lost_total: ${lostTotal}`)
    assert.ok(lost, 'the simulator reported its lost requests in one line')
    assert.ok(
      up.lines.filter((l) => /\[traffic\] \d+ requests? lost/.test(l)).length < 10,
      'lost requests are counted, not reported one line each',
    )

    assert.equal(after.status, 200, 'the gateway answers once the database is back')
    assert.equal(afterIngest.status, 202, 'ingestion works once the database is back')
  },
)
