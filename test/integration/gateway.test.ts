import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { and, count, eq } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { createMetrics } from '../../api/metrics.js'
import { openDatabase } from '../../db/client.js'
import { createPromptVersion } from '../../db/queries/prompts.js'
import { moveLabel } from '../../db/queries/labels.js'
import { createToken } from '../../db/queries/tokens.js'
import { tasks, traffic } from '../../db/schema.js'
import { OpenAIProvider } from '../../providers/openai.js'
import { Prices } from '../../providers/prices.js'
import { Gateway } from '../../serving/gateway.js'
import { PromptResolver } from '../../serving/resolver.js'
import { betterContent, version } from '../helpers/fixtures.js'
import { startTcpProxy } from '../helpers/faults.js'
import { eventually, startHarness, testInfra, type Harness } from '../helpers/infra.js'
import { startLlmServer, type LlmServer } from '../helpers/llm-server.js'

let h: Harness
let llm: LlmServer
let app: ReturnType<typeof createApi>
let ingest: string
let readOnly: string
const REAL_TASK = `gw-real-${process.pid}`

before(async () => {
  llm = await startLlmServer({
    responder: (call) => {
      const text = call.messages.at(-1)?.content ?? ''
      if (text.includes('REFUSE')) return { kind: 'error', status: 400, message: 'content policy' }
      return { kind: 'text', text: `restart the pod (seen: ${text})`, inputTokens: 30, outputTokens: 12 }
    },
  })
  const openai = new OpenAIProvider({
    apiKey: 'test',
    baseURL: llm.openaiBaseUrl,
    prices: new Prices(),
    serves: (m) => m.startsWith('gpt-'),
  })
  h = await startHarness({ name: 'gateway', worker: false, providers: [openai] })
  ingest = (await createToken(h.db, { name: 'app', scopes: ['ingest'], createdBy: 'test' })).secret
  readOnly = (await createToken(h.db, { name: 'reader', scopes: ['read'], createdBy: 'test' })).secret
  // A task served by a real (OpenAI wire protocol) model.
  await h.db.insert(tasks).values({
    id: REAL_TASK,
    title: 'Gateway test',
    description: 'real-model task',
    scenarioId: null,
    inputFields: ['ticket'],
  })
  const v = await createPromptVersion(h.db, {
    taskId: REAL_TASK,
    content: {
      system: 'You triage tickets. Answer with one action.',
      user: 'Ticket: {{ticket}}',
      model: 'gpt-4.1-mini',
      params: { temperature: 0, maxTokens: 64 },
    },
    origin: 'human',
    createdBy: 'test',
  })
  await moveLabel(h.db, {
    moveKey: `gw:${REAL_TASK}:prod`,
    taskId: REAL_TASK,
    label: 'production',
    toVersionId: v.id,
    weight: 1,
    canaryId: null,
    reason: 'test',
    actor: 'test',
  })
  const resolver = new PromptResolver(h.db, 200)
  app = createApi({ db: h.db, resolver, gateway: new Gateway({ db: h.db, resolver, models: h.deps.models }) })
})
after(async () => {
  await h.close()
  await llm.close()
})

const complete = (task: string, body: unknown, secret = ingest) =>
  app.request(`/v1/tasks/${task}/complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify(body),
  })
const rows = (task: string) => h.db.select().from(traffic).where(eq(traffic.taskId, task))

test('gateway calls the real provider, returns its output and records the call redacted', async () => {
  const r = await complete(REAL_TASK, {
    key: 'user-1',
    id: 'req-1',
    input: { ticket: 'db down, reported by jane.doe@example.com' },
  })
  assert.equal(r.status, 200, await r.clone().text())
  const body = (await r.json()) as Record<string, any>
  assert.equal(
    body.output,
    'restart the pod (seen: Ticket: db down, reported by jane.doe@example.com)',
    'the caller gets the model output unredacted',
  )
  assert.equal(body.simulated, false)
  assert.equal(body.provider, 'openai')
  assert.equal(body.arm, null)
  assert.deepEqual(body.usage, { inputTokens: 30, outputTokens: 12 })
  assert.equal(body.replayed, false)
  const call = llm.calls.at(-1)!
  assert.equal(call.system, 'You triage tickets. Answer with one action.')
  assert.equal(call.model, 'gpt-4.1-mini')

  const [row] = await h.db.select().from(traffic).where(eq(traffic.id, body.trafficId))
  assert.ok(row)
  assert.equal(row.routingKey, 'user-1')
  assert.equal(row.simulated, false)
  assert.equal(row.outputTokens, 12)
  assert.ok(
    !JSON.stringify(row).includes('jane.doe@example.com'),
    'personal data is redacted before storage (input and output)',
  )
  assert.match(row.input.ticket ?? '', /\[REDACTED:email\]/)

  // The same id again: answered from the record, no second model call, no second row.
  const calls = llm.callCount()
  const again = await complete(REAL_TASK, {
    key: 'user-1',
    id: 'req-1',
    input: { ticket: 'db down, reported by jane.doe@example.com' },
  })
  assert.equal(again.status, 200)
  const replay = (await again.json()) as Record<string, any>
  assert.equal(replay.replayed, true)
  assert.equal(replay.trafficId, body.trafficId)
  assert.equal(replay.version.number, body.version.number)
  assert.equal(llm.callCount(), calls)
  assert.equal((await rows(REAL_TASK)).length, 1)
})

test('gateway: a refused call is recorded as failed traffic and answered 502 naming the record', async () => {
  const r = await complete(REAL_TASK, { key: 'user-2', input: { ticket: 'REFUSE this' } })
  assert.equal(r.status, 502, await r.clone().text())
  const body = (await r.json()) as { error: { code: string; message: string } }
  assert.equal(body.error.code, 'PROVIDER_REJECTED')
  const id = /recorded as traffic (tr_\w+)/.exec(body.error.message)?.[1]
  assert.ok(id, body.error.message)
  const [row] = await h.db.select().from(traffic).where(eq(traffic.id, id))
  assert.equal(row?.output, null)
  assert.ok(row?.error)

  // A failure is not stored under the idempotency key: retrying with the same id calls the model again.
  let refuse = true
  llm.setResponder((call) =>
    refuse
      ? { kind: 'error', status: 400, message: 'content policy' }
      : { kind: 'text', text: `ok: ${call.messages.at(-1)?.content}` },
  )
  const first = await complete(REAL_TASK, { key: 'user-9', id: 'req-retry', input: { ticket: 'flaky' } })
  assert.equal(first.status, 502)
  refuse = false
  const retry = await complete(REAL_TASK, { key: 'user-9', id: 'req-retry', input: { ticket: 'flaky' } })
  assert.equal(retry.status, 200, await retry.clone().text())
  const retried = (await retry.json()) as { output: string; replayed: boolean }
  assert.equal(retried.replayed, false)
  assert.equal(retried.output, 'ok: Ticket: flaky')
  // The same id for another routing key is a conflict, not someone else's answer.
  const reused = await complete(REAL_TASK, { key: 'user-10', id: 'req-retry', input: { ticket: 'other' } })
  assert.equal(reused.status, 409)
  assert.deepEqual(((await reused.json()) as { error: { fields: string[] } }).error.fields, ['id'])
})

test('gateway: bad input names the field and stores nothing; scopes enforced', async () => {
  const before = (await rows(REAL_TASK)).length
  const missing = await complete(REAL_TASK, { key: 'user-3', input: { other: 'x' } })
  assert.equal(missing.status, 400)
  assert.deepEqual(((await missing.json()) as { error: { fields: string[] } }).error.fields, ['input.ticket'])
  const extra = await complete(REAL_TASK, { key: 'user-3', input: { ticket: 'x' }, temperature: 2 })
  assert.equal(extra.status, 400)
  const noKey = await complete(REAL_TASK, { input: { ticket: 'x' } })
  assert.equal(noKey.status, 400)
  assert.deepEqual(((await noKey.json()) as { error: { fields: string[] } }).error.fields, ['key'])
  const simOnReal = await complete(REAL_TASK, { key: 'u', input: { ticket: 'x' }, simulation: { exampleKey: 'a' } })
  assert.equal(simOnReal.status, 400)
  const unknown = await complete('no-such-task', { key: 'u', input: { ticket: 'x' } })
  assert.equal(unknown.status, 404)
  assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /no-such-task/)
  assert.equal((await complete(REAL_TASK, { key: 'u', input: { ticket: 'x' } }, readOnly)).status, 403)
  assert.equal((await rows(REAL_TASK)).length, before)
})

test(`gateway on a simulated task: canary routing per key, simulated answers with the case \
reference, labelled simulated`, async () => {
  const task = h.scenario.task.id
  const noCase = await complete(task, { key: 'user-1', input: { summary: 'x' } })
  assert.equal(noCase.status, 400)
  assert.deepEqual(((await noCase.json()) as { error: { fields: string[] } }).error.fields, ['simulation.exampleKey'])

  const candidate = await version(h.db, h.scenario, betterContent(h.scenario), 'gw-better')
  await moveLabel(h.db, {
    moveKey: `gw:${task}:canary`,
    taskId: task,
    label: 'canary',
    toVersionId: candidate.id,
    weight: 0.5,
    canaryId: 'canary-gw',
    reason: 'test',
    actor: 'test',
  })
  await new Promise((r) => setTimeout(r, 300))
  const seen = new Map<string, string>()
  for (let i = 0; i < 30; i++) {
    const r = await complete(task, { key: `user-${i % 10}`, simulation: { exampleKey: `gw-${i}` } })
    assert.equal(r.status, 200, await r.clone().text())
    const body = (await r.json()) as Record<string, any>
    assert.equal(body.simulated, true)
    assert.equal(body.version.id, body.arm === 'canary' ? candidate.id : h.task.seedVersion.id)
    const earlier = seen.get(`user-${i % 10}`)
    if (earlier) assert.equal(body.arm, earlier, 'a key keeps its arm')
    seen.set(`user-${i % 10}`, body.arm)
  }
  assert.deepEqual(new Set(seen.values()), new Set(['canary', 'baseline']))
  const recorded = await h.db
    .select({ n: count() })
    .from(traffic)
    .where(and(eq(traffic.taskId, task), eq(traffic.canaryId, 'canary-gw'), eq(traffic.simulated, true)))
  assert.equal(recorded[0]?.n, 30)
  const [one] = await h.db
    .select()
    .from(traffic)
    .where(and(eq(traffic.taskId, task), eq(traffic.simExampleKey, 'gw-3')))
  assert.ok(one?.reference, 'the simulated case keeps its known outcome as reference')
})

test('gateway: overlapping requests with the same id make one model call; the others are replays', async () => {
  llm.setResponder((call) => ({
    kind: 'delay',
    ms: 300,
    then: { kind: 'text', text: `slow: ${call.messages.at(-1)?.content}` },
  }))
  const calls = llm.callCount()
  const body = { key: 'user-20', id: 'req-overlap', input: { ticket: 'disk full' } }
  const answers = await Promise.all([complete(REAL_TASK, body), complete(REAL_TASK, body), complete(REAL_TASK, body)])
  const parsed = (await Promise.all(answers.map((a) => a.json()))) as Array<{
    output: string
    replayed: boolean
    trafficId: string
  }>
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 200],
  )
  assert.equal(llm.callCount() - calls, 1, 'one model call for three overlapping requests')
  assert.deepEqual(parsed.map((p) => p.replayed).sort(), [false, true, true])
  assert.equal(new Set(parsed.map((p) => p.trafficId)).size, 1)
  assert.equal((await h.db.select().from(traffic).where(eq(traffic.id, parsed[0]!.trafficId))).length, 1)
})

test(`gateway: a call made while the database is away is recorded when it comes back in time, else answered \
unrecorded (header, metric, one line without data)`, async () => {
  const { databaseUrl } = testInfra()
  const proxy = await startTcpProxy(databaseUrl)
  const viaProxy = await openDatabase({ url: proxy.url(databaseUrl), dataDir: '/nonexistent', migrate: false })
  try {
    const lines: string[] = []
    // routing reads the database directly: only recording goes through the proxy
    const resolver = new PromptResolver(h.db, 60_000)
    const metrics = createMetrics({ defaults: false })
    const gatewayWith = (recordRetryMs: number[]) =>
      new Gateway({ db: viaProxy.db, resolver, models: h.deps.models, recordRetryMs, log: (l) => lines.push(l) })
    const api = (gateway: Gateway) => createApi({ db: h.db, resolver, gateway, metrics })
    const call = (app: ReturnType<typeof createApi>, body: unknown) =>
      app.request(`/v1/tasks/${REAL_TASK}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest}` },
        body: JSON.stringify(body),
      })
    let release!: () => void
    let released = new Promise<void>((r) => (release = r))
    llm.setResponder(async (c) => {
      await released
      const text = c.messages.at(-1)?.content ?? ''
      return text.includes('REFUSE')
        ? { kind: 'error', status: 400, message: 'content policy' }
        : { kind: 'text', text: `on it (seen: ${text})` }
    })

    // The database drops every connection while the model answers, and is back before the retries run out: recorded.
    const patient = api(gatewayWith([2_000, 2_000, 2_000]))
    let calls = llm.callCount()
    const first = call(patient, {
      key: 'user-30',
      id: 'req-outage-1',
      input: { ticket: 'disk full, ask jane.doe@example.com' },
    })
    await eventually(
      async () => llm.callCount() - calls,
      (n) => n >= 1,
      30_000,
      'the model call',
    )
    await proxy.cut({ mode: 'reset' })
    release()
    await eventually(
      async () => proxy.resets,
      (n) => n >= 1,
      30_000,
      'a recording attempt refused',
    )
    await proxy.restore()
    const recorded = await first
    assert.equal(recorded.status, 200, await recorded.clone().text())
    assert.equal(recorded.headers.get('kaizen-recorded'), null)
    const body = (await recorded.json()) as { trafficId: string; recorded: boolean; replayed: boolean; output: string }
    assert.deepEqual([body.recorded, body.replayed], [true, false])
    const [row] = await h.db.select().from(traffic).where(eq(traffic.id, body.trafficId))
    assert.match(row?.input.ticket ?? '', /\[REDACTED:email\]/, 'recorded, redacted')

    // The database stays away: the caller still gets the answer, marked unrecorded; a refused call says it was not
    // recorded.
    released = new Promise<void>((r) => (release = r))
    const hasty = api(gatewayWith([10, 10]))
    calls = llm.callCount()
    const answered = call(hasty, { key: 'user-31', input: { ticket: 'db down, call jane.doe@example.com' } })
    const refused = call(hasty, { key: 'user-32', input: { ticket: 'REFUSE this, jane.doe@example.com' } })
    await eventually(
      async () => llm.callCount() - calls,
      (n) => n >= 2,
      30_000,
      'the model calls',
    )
    await proxy.cut()
    release()
    const unrecorded = await answered
    assert.equal(unrecorded.status, 200, await unrecorded.clone().text())
    assert.equal(unrecorded.headers.get('kaizen-recorded'), 'false')
    const ub = (await unrecorded.json()) as { trafficId: string; recorded: boolean; output: string }
    assert.equal(ub.recorded, false)
    assert.equal(
      ub.output,
      'on it (seen: Ticket: db down, call jane.doe@example.com)',
      'the answer, as the model gave it',
    )
    const refusal = await refused
    assert.equal(refusal.status, 502)
    assert.equal(refusal.headers.get('kaizen-recorded'), 'false')
    assert.match(
      ((await refusal.json()) as { error: { message: string } }).error.message,
      /not recorded: the database is unavailable/,
    )
    await proxy.restore()
    assert.equal(
      (await h.db.select().from(traffic).where(eq(traffic.id, ub.trafficId))).length,
      0,
      'no record was written',
    )
    const text = await metrics.registry.metrics()
    assert.match(text, /kaizen_gateway_records_lost_total\{outcome="ok"\} 1\b/)
    assert.match(text, /kaizen_gateway_records_lost_total\{outcome="error"\} 1\b/)

    // Once the database is back, the next recorded call reports the losses: one line, counted, no data.
    released = new Promise<void>((r) => (release = r))
    release()
    assert.equal((await call(hasty, { key: 'user-33', input: { ticket: 'ok now' } })).status, 200)
    assert.deepEqual(lines, ['[gateway] 2 model calls not recorded while the database was unavailable (ECONNREFUSED)'])
  } finally {
    llm.setResponder((c) => ({
      kind: 'text',
      text: `restart the pod (seen: ${c.messages.at(-1)?.content ?? ''})`,
      inputTokens: 30,
      outputTokens: 12,
    }))
    await viaProxy.close()
    await proxy.close()
  }
})
