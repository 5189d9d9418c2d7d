import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { serve } from '@hono/node-server'
import { count, desc, eq, sql } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { TokenCache } from '../../api/auth.js'
import { MAX_BATCH } from '../../api/routes/traffic.js'
import { Prices } from '../../providers/prices.js'
import { ProviderRegistry } from '../../providers/registry.js'
import { moveLabel } from '../../db/queries/labels.js'
import { trafficIdOf } from '../../db/queries/traffic-ids.js'
import { createToken, revokeToken } from '../../db/queries/tokens.js'
import { auditEvents, feedback, traffic } from '../../db/schema.js'
import { Rng } from '../../core/rng.js'
import { PromptResolver } from '../../serving/resolver.js'
import { errorOf } from '../helpers/cli.js'
import { betterContent, version } from '../helpers/fixtures.js'
import { holdTransaction, startHarness, untilLockWait, type Harness } from '../helpers/infra.js'

let h: Harness
let secrets: Record<'ingest' | 'read' | 'all', string>
let app: ReturnType<typeof createApi>

before(async () => {
  h = await startHarness({ name: 'api', worker: false })
  secrets = {
    ingest: (await createToken(h.db, { name: 'collector', scopes: ['ingest'], createdBy: 'test' })).secret,
    read: (await createToken(h.db, { name: 'app', scopes: ['read'], createdBy: 'test' })).secret,
    all: (
      await createToken(h.db, {
        name: 'ops',
        scopes: ['ingest', 'read', 'operate', 'approve'],
        person: 'ops@example.com',
        createdBy: 'test',
      })
    ).secret,
  }
  app = createApi({ db: h.db, resolver: new PromptResolver(h.db), maxBodyBytes: 256 * 1024 })
})
after(() => h.close())

const auth = (secret: string) => ({ authorization: `Bearer ${secret}` })
const post = (body: unknown, secret = secrets.ingest) =>
  app.request('/v1/traffic', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(secret) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
const record = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `call-${i}`,
  task: h.scenario.task.id,
  promptVersion: h.task.seedVersion.id,
  routingKey: `user-${i % 7}`,
  input: { incident_id: `INC-${i}`, service: 'auth-service', summary: 'login fails' },
  output: '{"diagnosis":"bad deploy"}',
  model: 'gpt-4.1-mini',
  inputTokens: 120,
  outputTokens: 40,
  latencyMs: 800,
  ...extra,
})
const stored = async () =>
  Number((await h.db.select({ n: count() }).from(traffic).where(eq(traffic.taskId, h.scenario.task.id)))[0]?.n ?? 0)

test('ingestion stores a batch whole, once per idempotency key, and names unknown tasks and versions', async () => {
  const before = await stored()
  const batch = { records: Array.from({ length: 50 }, (_, i) => record(i)) }
  const r = await post(batch)
  assert.equal(r.status, 202, await r.clone().text())
  assert.deepEqual(await r.json(), { stored: 50, duplicates: 0 })
  const again = await post(batch)
  assert.deepEqual(await again.json(), { stored: 0, duplicates: 50 })
  assert.equal(await stored(), before + 50)
  const row = (await h.db.select().from(traffic).where(eq(traffic.routingKey, 'user-3')))[0]
  assert.equal(row?.simulated, false)
  assert.equal(row?.provider, 'external')

  const unknownTask = await post({ records: [record(100), record(101, { task: 'no-such-task' })] })
  assert.equal(unknownTask.status, 404)
  const body = (await unknownTask.json()) as { error: { code: string; message: string; fields: string[] } }
  assert.equal(body.error.code, 'NOT_FOUND')
  assert.match(body.error.message, /no-such-task/)
  assert.deepEqual(body.error.fields, ['records[1].task'])
  const unknownVersion = await post({ records: [record(102, { promptVersion: 'pv_nope' })] })
  assert.equal(unknownVersion.status, 404)
  assert.match(((await unknownVersion.json()) as { error: { message: string } }).error.message, /pv_nope/)
  assert.equal(await stored(), before + 50, 'a batch with an unknown name stores nothing')
})

test('personal data and secrets are redacted before storage', async () => {
  const r = await post({
    records: [
      record(300, {
        input: {
          incident_id: 'INC-300',
          service: 'auth',
          summary: 'user jane.doe@example.com cannot log in from 10.1.2.3',
        },
        output: 'rotate key sk-proj-abcdefghijklmnopqrstuvwx12 and call +1 415 555 0100',
        error: null,
      }),
    ],
  })
  assert.equal(r.status, 202)
  const row = (
    await h.db.select().from(traffic).where(eq(traffic.routingKey, 'user-6')).orderBy(desc(traffic.createdAt))
  )[0]
  const text = JSON.stringify(row)
  for (const leaked of ['jane.doe@example.com', '10.1.2.3', 'sk-proj-abc', '555 0100'])
    assert.ok(!text.includes(leaked), `${leaked} was stored`)
  assert.match(row!.input.summary ?? '', /user \[REDACTED:email\] cannot log in from \[REDACTED:ip-address\]/)
  assert.match(row!.output ?? '', /\[REDACTED:openai-key\]/)
})

test('each scope is enforced: no token 401, revoked 401, wrong scope 403', async () => {
  const batch = { records: [record(200)] }
  const none = await app.request('/v1/traffic', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(batch),
  })
  assert.equal(none.status, 401)
  assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED')
  const wrong = await post(batch, secrets.read)
  assert.equal(wrong.status, 403)
  assert.match(((await wrong.json()) as { error: { message: string } }).error.message, /"ingest" scope/)
  const readWithIngest = await app.request(`/v1/tasks/${h.scenario.task.id}/prompt?key=u1`, {
    headers: auth(secrets.ingest),
  })
  assert.equal(readWithIngest.status, 403)
  assert.equal((await app.request('/metrics', { headers: auth(secrets.ingest) })).status, 403)
  assert.equal(
    (await app.request(`/v1/tasks/${h.scenario.task.id}/prompt?key=u1`, { headers: auth(secrets.read) })).status,
    200,
  )
  assert.equal((await post(batch, secrets.all)).status, 202)

  const temp = await createToken(h.db, { name: 'temp', scopes: ['ingest'], createdBy: 'test' })
  assert.equal((await post(batch, temp.secret)).status, 202)
  await revokeToken(h.db, temp.token.id, 'test')
  const fresh = createApi({ db: h.db, resolver: new PromptResolver(h.db), tokens: new TokenCache(h.db) })
  const revoked = await fresh.request('/v1/traffic', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(temp.secret) },
    body: JSON.stringify(batch),
  })
  assert.equal(revoked.status, 401)
})

test('a token limited to some tasks acts on those only: traffic, feedback, resolve', async () => {
  const own = h.scenario.task.id
  const mine = await createToken(h.db, {
    name: 'team-a',
    scopes: ['ingest', 'read', 'operate'],
    tasks: [`${own.split('-')[0]}-*`],
    createdBy: 'test',
  })
  const other = await createToken(h.db, {
    name: 'team-b',
    scopes: ['ingest', 'read'],
    tasks: ['billing-*'],
    createdBy: 'test',
  })
  assert.equal((await post({ records: [record(300)] }, mine.secret)).status, 202)
  const before = await stored()
  const refused = await post({ records: [record(301), record(302)] }, other.secret)
  assert.equal(refused.status, 403)
  const error = ((await refused.json()) as { error: { message: string; fields?: string[] } }).error
  assert.equal(
    error.message,
    `token "team-b" may not act on task "${own}" (records[].task); it is limited to billing-*`,
  )
  assert.equal(await stored(), before, 'a refused batch stores nothing')
  const resolve = async (secret: string) =>
    (await app.request(`/v1/tasks/${own}/prompt?key=u1`, { headers: auth(secret) })).status
  assert.deepEqual([await resolve(mine.secret), await resolve(other.secret)], [200, 403])
  const fb = async (secret: string) =>
    (
      await app.request('/v1/feedback', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth(secret) },
        body: JSON.stringify({ task: own, id: 'call-300', rating: { score: 1, by: 'x@example.com' } }),
      })
    ).status
  assert.equal(await fb(other.secret), 403)
  await assert.rejects(
    createToken(h.db, { name: 'bad', scopes: ['read'], tasks: ['Support Team'], createdBy: 'test' }),
    /tasks\[0\]: a task id or a pattern with \*/,
  )
})

test('resolve: canary routing with ETag and 304, and a rollback is visible within one second', async () => {
  const task = h.scenario.task.id
  const candidate = await version(h.db, h.scenario, betterContent(h.scenario), 'api-better')
  await moveLabel(h.db, {
    moveKey: `api:${task}:start`,
    taskId: task,
    label: 'canary',
    toVersionId: candidate.id,
    weight: 0.5,
    canaryId: 'canary-api',
    reason: 'test',
    actor: 'test',
  })
  const get = async (key: string, headers: Record<string, string> = {}): Promise<Response> =>
    app.request(`/v1/tasks/${task}/prompt?key=${key}`, { headers: { ...auth(secrets.read), ...headers } })
  await new Promise((r) => setTimeout(r, 1_100)) // past the resolver's 1 s cache
  const arms = new Set<string>()
  for (let i = 0; i < 40; i++) {
    const r = await get(`user-${i}`)
    assert.equal(r.status, 200)
    const body = (await r.json()) as { arm: string; version: { id: string }; canaryId: string }
    arms.add(body.arm)
    assert.equal(body.version.id, body.arm === 'canary' ? candidate.id : h.task.seedVersion.id)
    assert.equal(r.headers.get('cache-control'), 'private, max-age=1')
    const etag = r.headers.get('etag') as string
    assert.equal((await get(`user-${i}`, { 'if-none-match': etag })).status, 304)
  }
  assert.deepEqual([...arms].sort(), ['baseline', 'canary'])
  const missing = await app.request(`/v1/tasks/${task}/prompt`, { headers: auth(secrets.read) })
  assert.equal(missing.status, 400)
  assert.match(await missing.text(), /key/)
  const unknown = await app.request('/v1/tasks/nope/prompt?key=a', { headers: auth(secrets.read) })
  assert.equal(unknown.status, 404)
  assert.match(await unknown.text(), /nope/)

  await moveLabel(h.db, {
    moveKey: `api:${task}:rollback`,
    taskId: task,
    label: 'canary',
    toVersionId: null,
    weight: 0,
    canaryId: 'canary-api',
    reason: 'rollback',
    actor: 'test',
  })
  const at = Date.now()
  let seen: number | null = null
  while (Date.now() - at < 3_000) {
    const bodies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => get(`user-${i}`).then((r) => r.json() as Promise<{ arm: string | null }>)),
    )
    if (bodies.every((b) => b.arm === null)) {
      seen = Date.now()
      break
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.ok(seen !== null && seen - at <= 1_050, `rollback visible after ${seen === null ? 'never' : seen - at} ms`)
})

test(`fuzz: 1,200 malformed bodies each get a 4xx naming the fault, the server stays up, \
no partial batch is stored`, async () => {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    const before = await stored()
    const rng = Rng.fromSeed('api-fuzz')
    const bad: Array<(r: Record<string, unknown>) => unknown> = [
      (r) => ({ ...r, task: undefined }),
      (r) => ({ ...r, task: 42 }),
      (r) => ({ ...r, promptVersion: '' }),
      (r) => ({ ...r, routingKey: null }),
      (r) => ({ ...r, input: 'not an object' }),
      (r) => ({ ...r, input: { a: 1 } }),
      (r) => ({ ...r, input: [1, 2] }),
      (r) => ({ ...r, model: undefined }),
      (r) => ({ ...r, inputTokens: -1 }),
      (r) => ({ ...r, outputTokens: 1.5 }),
      (r) => ({ ...r, latencyMs: 'fast' }),
      (r) => ({ ...r, costUsd: -0.01 }),
      (r) => ({ ...r, arm: 'treatment' }),
      (r) => ({ ...r, routingWeight: 2 }),
      (r) => ({ ...r, startedAt: 'yesterday' }),
      (r) => ({ ...r, surprise: true }),
      (r) => ({ ...r, id: '' }),
      (r) => ({ ...r, output: { text: 'x' } }),
      (r) => ({ ...r, task: 'x'.repeat(300) }),
      () => null,
      () => 'a string record',
      () => [],
    ]
    const wholeBody: Array<() => { body: string; type?: string }> = [
      () => ({ body: '{"records": [' }),
      () => ({ body: 'not json at all' }),
      () => ({ body: '' }),
      () => ({ body: JSON.stringify({ records: [] }) }),
      () => ({ body: JSON.stringify({}) }),
      () => ({ body: JSON.stringify([]) }),
      () => ({ body: JSON.stringify({ records: {} }) }),
      () => ({ body: JSON.stringify({ records: [record(1)], extra: 1 }) }),
      () => ({
        body: JSON.stringify({ records: Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ id: String(i) })) }),
      }),
      () => ({ body: JSON.stringify({ records: [record(1, { output: 'x'.repeat(300 * 1024) })] }) }),
      () => ({ body: 'null' }),
      () => ({ body: JSON.stringify({ records: [record(1)] }), type: 'text/plain' }),
    ]
    let n = 0
    const statuses = new Map<number, number>()
    for (let i = 0; i < 1_200; i++) {
      let body: string
      let type = 'application/json'
      let faultAt: string | null = null
      if (i % 5 === 0) {
        const w = rng.pick(wholeBody)()
        body = w.body
        type = w.type ?? type
      } else {
        // A batch of valid records with one faulty record somewhere in it.
        const size = 1 + rng.int(30)
        const at = rng.int(size)
        const records: unknown[] = Array.from({ length: size }, (_, k) => record(10_000 + i * 40 + k))
        records[at] = rng.pick(bad)(records[at] as Record<string, unknown>)
        faultAt = `records[${at}]`
        body = JSON.stringify({ records })
      }
      const res = await fetch(`${base}/v1/traffic`, {
        method: 'POST',
        headers: { 'content-type': type, ...auth(secrets.ingest) },
        body,
      }).catch((e: Error) => {
        throw new Error(
          `case ${i}: ${e.message} (${String((e as { cause?: unknown }).cause)}) for ${body.slice(0, 100)}`,
        )
      })
      n++
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      assert.ok(res.status >= 400 && res.status < 500, `case ${i}: status ${res.status} for ${body.slice(0, 200)}`)
      const err = (await res.json()) as { error: { code: string; message: string; fields?: string[] } }
      assert.ok(err.error.code && err.error.message.length > 0, `case ${i}: error body`)
      if (faultAt)
        assert.ok(
          (err.error.fields ?? []).some((f) => f.startsWith(faultAt as string)) || err.error.message.includes(faultAt),
          `case ${i}: ${JSON.stringify(err.error)} should name ${faultAt}`,
        )
    }
    assert.equal(n, 1_200)
    assert.ok((statuses.get(413) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, JSON.stringify([...statuses]))
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the server is up')
    // A chunked body (no Content-Length) over the limit is cut off by the streaming limiter: 413 too.
    const big = new TextEncoder().encode(`{"records":[${'"x",'.repeat(100_000)}"x"]}`)
    const chunked = await fetch(`${base}/v1/traffic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(secrets.ingest) },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < big.length; i += 16_384) c.enqueue(big.subarray(i, i + 16_384))
          c.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    assert.equal(chunked.status, 413)
    assert.equal(await stored(), before, 'no malformed batch stored any record')
    const ok = await fetch(`${base}/v1/traffic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(secrets.ingest) },
      body: JSON.stringify({ records: [record(999_999)] }),
    })
    assert.equal(ok.status, 202)
  } finally {
    await new Promise((r) => server.close(r))
  }
})

test('the OpenAPI description and Prometheus metrics are served', async () => {
  const doc = (await (await app.request('/openapi.json')).json()) as {
    paths: Record<string, unknown>
    components: { schemas: Record<string, unknown> }
  }
  assert.ok(doc.paths['/v1/traffic'] && doc.paths['/v1/tasks/{task}/prompt'])
  assert.ok(doc.components.schemas.TrafficRecord && doc.components.schemas.Error)
  const metrics = await (await app.request('/metrics', { headers: auth(secrets.read) })).text()
  assert.match(metrics, /kaizen_traffic_ingested_total\{source="api"\} \d+/)
  assert.match(metrics, /kaizen_http_requests_total\{method="POST",route="\/v1\/traffic",status="202"\}/)
  assert.match(metrics, /kaizen_prompt_resolutions_total/)
})

test(`OTLP: spans from an OpenTelemetry exporter land as traffic (GenAI attributes \
mapped, other spans skipped)`, async () => {
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http')
  const { BasicTracerProvider, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base')
  const { SpanStatusCode } = await import('@opentelemetry/api')
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  try {
    const exporter = new OTLPTraceExporter({ url: `${base}/otlp/v1/traces`, headers: auth(secrets.ingest) })
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
    const tracer = provider.getTracer('checkout-service')
    const llm = (key: string, extra: Record<string, string | number> = {}) =>
      tracer.startSpan('chat gpt-4.1-mini', {
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': 'gpt-4.1-mini',
          'gen_ai.usage.input_tokens': 321,
          'gen_ai.usage.output_tokens': 45,
          'kaizen.task': h.scenario.task.id,
          'kaizen.prompt_version': h.task.seedVersion.id,
          'kaizen.routing_key': key,
          'kaizen.input.incident_id': 'INC-77',
          'kaizen.input.service': 'auth-service',
          'kaizen.input.summary': 'login fails for ops@example.com',
          'gen_ai.output.messages': JSON.stringify([
            { role: 'assistant', parts: [{ type: 'text', content: '{"diagnosis":"expired cert"}' }] },
          ]),
          ...extra,
        },
      })
    const ok = llm('otel-user-1')
    await new Promise((r) => setTimeout(r, 15))
    ok.end()
    const failed = llm('otel-user-2')
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'rate limited' })
    failed.end()
    tracer.startSpan('GET /checkout', { attributes: { 'http.method': 'GET' } }).end()
    await provider.forceFlush()
    await provider.shutdown()

    const rows = await h.db.select().from(traffic).where(eq(traffic.taskId, h.scenario.task.id))
    const one = rows.find((r) => r.routingKey === 'otel-user-1')
    assert.ok(one, 'the GenAI span landed as a traffic record')
    assert.equal(one.model, 'gpt-4.1-mini')
    assert.equal(one.provider, 'openai')
    assert.equal(one.inputTokens, 321)
    assert.equal(one.outputTokens, 45)
    assert.ok(one.latencyMs >= 10, `latency ${one.latencyMs} ms from the span's times`)
    assert.equal(one.output, '{"diagnosis":"expired cert"}')
    assert.deepEqual(one.input, {
      incident_id: 'INC-77',
      service: 'auth-service',
      summary: 'login fails for [REDACTED:email]',
    })
    assert.equal(one.promptVersionId, h.task.seedVersion.id)
    assert.equal(rows.find((r) => r.routingKey === 'otel-user-2')?.error, 'rate limited')
    assert.ok(
      !rows.some((r) => r.input.summary === undefined && r.routingKey.length === 32),
      'the HTTP span was not stored',
    )
    const metrics = await (await app.request('/metrics', { headers: auth(secrets.read) })).text()
    assert.match(metrics, /kaizen_traffic_ingested_total\{source="otlp"\} 2/)

    // A GenAI span that is not a valid record fails the export, naming the span.
    const bad = await fetch(`${base}/otlp/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(secrets.ingest) },
      body: JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: 't1',
                    spanId: 's1',
                    startTimeUnixNano: '1',
                    endTimeUnixNano: '2',
                    attributes: [
                      { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
                      { key: 'kaizen.task', value: { stringValue: h.scenario.task.id } },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
    })
    assert.equal(bad.status, 400)
    assert.match(await bad.text(), /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\].*promptVersion/s)
  } finally {
    await new Promise((r) => server.close(r))
  }
})

test(`records sent without a cost are priced at their time by the dated price table; a cost sent \
(or OTLP's gen_ai.usage.cost) is kept`, async () => {
  const prices = new Prices({
    'acme-model': [
      { from: '2026-01-01', inputPerMTok: 1, outputPerMTok: 2 },
      { from: '2026-06-01', inputPerMTok: 0.5, outputPerMTok: 1 },
    ],
  })
  const priced = createApi({
    db: h.db,
    resolver: new PromptResolver(h.db),
    providers: new ProviderRegistry([], null, { price: (m, at) => prices.of(m, at) }),
  })
  const send = (records: unknown[]) =>
    priced.request('/v1/traffic', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(secrets.ingest) },
      body: JSON.stringify({ records }),
    })
  const at = (day: string) => `${day}T12:00:00Z`
  const base = { model: 'openai:acme-model', inputTokens: 1_000_000, outputTokens: 1_000_000 }
  const r = await send([
    record(9101, { ...base, startedAt: at('2026-03-01') }),
    record(9102, { ...base, startedAt: at('2026-07-01') }),
    record(9103, { ...base, startedAt: at('2026-07-01'), costUsd: 0.25 }),
    record(9104, { ...base, model: 'unpriced-model' }),
  ])
  assert.equal(r.status, 202, await r.clone().text())
  const cost = async (id: string) =>
    (
      await h.db
        .select()
        .from(traffic)
        .where(eq(traffic.id, trafficIdOf(h.scenario.task.id, id)))
    )[0]?.costUsd
  assert.equal(await cost('call-9101'), 3, 'the price in effect in March')
  assert.equal(await cost('call-9102'), 1.5, 'the price from June on')
  assert.equal(await cost('call-9103'), 0.25, 'a cost sent is kept')
  assert.equal(await cost('call-9104'), 0, 'a model without a price costs 0')

  const span = (key: string, cost?: number) => ({
    traceId: key.padStart(32, '0'),
    spanId: key.padStart(16, '0'),
    startTimeUnixNano: String(Date.parse(at('2026-07-02')) * 1_000_000),
    endTimeUnixNano: String(Date.parse(at('2026-07-02')) * 1_000_000 + 5_000_000),
    attributes: [
      ['gen_ai.operation.name', { stringValue: 'chat' }],
      ['gen_ai.request.model', { stringValue: 'acme-model' }],
      ['gen_ai.usage.input_tokens', { intValue: 2_000_000 }],
      ['gen_ai.usage.output_tokens', { intValue: 0 }],
      ['kaizen.task', { stringValue: h.scenario.task.id }],
      ['kaizen.prompt_version', { stringValue: h.task.seedVersion.id }],
      ['kaizen.routing_key', { stringValue: `otel-cost-${key}` }],
      ['kaizen.input', { stringValue: JSON.stringify(record(0).input) }],
      ...(cost === undefined ? [] : [['gen_ai.usage.cost', { doubleValue: cost }]]),
    ].map(([k, value]) => ({ key: k, value })),
  })
  const otlp = await priced.request('/otlp/v1/traces', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(secrets.ingest) },
    body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span('a1', 0.125), span('a2')] }] }] }),
  })
  assert.equal(otlp.status, 200, await otlp.clone().text())
  const rows = await h.db
    .select({ key: traffic.routingKey, cost: traffic.costUsd })
    .from(traffic)
    .where(sql`${traffic.routingKey} like 'otel-cost-%'`)
  assert.deepEqual(
    Object.fromEntries(rows.map((x) => [x.key, x.cost])),
    { 'otel-cost-a1': 0.125, 'otel-cost-a2': 1 },
    'gen_ai.usage.cost kept; without it, priced by the table at the span time',
  )
})

test(`feedback: an outcome becomes the record’s reference, a rating needs a person; \
both are kept append-only`, async () => {
  const send = (body: unknown, secret = secrets.ingest) =>
    app.request('/v1/feedback', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(secret) },
      body: JSON.stringify(body),
    })
  const outcome = {
    diagnosis: 'expired certificate',
    keywords: ['certificate'],
    actions: [{ command: 'cert-manager renew auth-tls', target: 'auth-service' }],
    risk: 'low',
  }
  const r = await send({
    task: h.scenario.task.id,
    id: 'call-1',
    outcome,
    rating: { score: 0.2, by: 'oncall@example.com', comment: 'missed the cert' },
  })
  assert.equal(r.status, 201, await r.clone().text())
  const { trafficId } = (await r.json()) as { trafficId: string }
  const row = (await h.db.select().from(traffic).where(eq(traffic.id, trafficId)))[0]
  assert.deepEqual(row?.reference, outcome)
  const logged = await h.db.select().from(feedback).where(eq(feedback.trafficId, trafficId))
  assert.deepEqual(logged.map((f) => f.kind).sort(), ['outcome', 'rating'])
  assert.match(logged.find((f) => f.kind === 'rating')!.actor, /oncall@example\.com/)
  assert.equal((await send({ task: h.scenario.task.id, id: 'call-1', outcome })).status, 201)
  assert.equal(
    (await h.db.select().from(feedback).where(eq(feedback.trafficId, trafficId))).length,
    2,
    'the same feedback twice is stored once',
  )

  // The task's grader reads decisions: an outcome of another shape is refused naming each field, nothing kept.
  const shapeless = await send({ trafficId, outcome: { queue: 'auth', actions: 'renew it' } })
  assert.equal(shapeless.status, 400)
  const shapeError = await errorOf(shapeless)
  assert.deepEqual(shapeError.fields?.sort(), ['outcome.actions', 'outcome.diagnosis', 'outcome.keywords'])
  assert.match(shapeError.message, /its grader reads decisions/)
  assert.deepEqual((await h.db.select().from(traffic).where(eq(traffic.id, trafficId)))[0]?.reference, outcome)

  const noPerson = await send({ trafficId, rating: { score: 1, by: ' ' } })
  assert.equal(noPerson.status, 400)
  assert.match(await noPerson.text(), /rating\.by/)
  const unknown = await send({ task: h.scenario.task.id, id: 'never-sent', outcome })
  assert.equal(unknown.status, 404)
  assert.match(await unknown.text(), /never-sent/)
  assert.equal((await send({ trafficId }, secrets.ingest)).status, 400)
  assert.equal((await send({ trafficId, outcome }, secrets.read)).status, 403)
  await assert.rejects(h.db.execute(sql`update feedback set actor = 'someone else'`), (e: Error) =>
    /append-only/.test(String((e as { cause?: Error }).cause?.message ?? e.message)),
  )

  // Outcomes and comments are redacted before storage; the rater's identity is kept.
  const leaky = { ...outcome, diagnosis: 'customer jane.doe@example.com pasted key sk-proj-abcdefghijklmnopqrstuvwx12' }
  const r2 = await send({
    task: h.scenario.task.id,
    id: 'call-2',
    outcome: leaky,
    rating: { score: 0.5, by: 'oncall@example.com', comment: 'call +1 415 555 0100' },
  })
  assert.equal(r2.status, 201)
  const id2 = ((await r2.json()) as { trafficId: string }).trafficId
  const stored2 = JSON.stringify([
    (await h.db.select().from(traffic).where(eq(traffic.id, id2)))[0]?.reference,
    await h.db.select().from(feedback).where(eq(feedback.trafficId, id2)),
  ])
  for (const leaked of ['jane.doe@example.com', 'sk-proj-abc', '555 0100'])
    assert.ok(!stored2.includes(leaked), `${leaked} was stored`)
  assert.match(stored2, /customer \[REDACTED:email\] pasted key \[REDACTED:openai-key\]/)
  assert.match(stored2, /user:oncall@example\.com/)

  // A record erased by retention takes no more feedback (an outcome would make it look usable again).
  await h.db.update(traffic).set({ expiredAt: new Date() }).where(eq(traffic.id, id2))
  const late = await send({ trafficId: id2, outcome })
  assert.equal(late.status, 409)
  assert.match(await late.text(), /erased by the task's retention policy/)

  // Retention deleting a record while feedback on it arrives: the feedback waits for the delete and
  // gets 404 naming the record (not a foreign-key failure, 500).
  assert.equal((await post({ records: [record(424_242)] })).status, 202)
  const goneId = trafficIdOf(h.scenario.task.id, 'call-424242')
  const deleting = await holdTransaction(
    h.db,
    async (tx) => (await tx.delete(traffic).where(eq(traffic.id, goneId)).returning({ id: traffic.id })).length,
  )
  const racing = send({ trafficId: goneId, rating: { score: 1, by: 'oncall@example.com' } })
  // The feedback is waiting on the row lock (not merely slow to arrive) before the delete commits.
  await untilLockWait(h.db, 'the feedback waits for the delete')
  assert.equal(await deleting.commit(), 1)
  const raced = await racing
  assert.equal(raced.status, 404, await raced.clone().text())
  assert.match(
    ((await raced.json()) as { error: { message: string } }).error.message,
    new RegExp(`unknown traffic record "${goneId}"`),
  )

  // Outcomes arriving together for one record take turns (no deadlock between their locks and updates).
  const together = await Promise.all(
    Array.from({ length: 6 }, (_, i) => send({ trafficId, outcome: { ...outcome, diagnosis: `cause ${i}` } })),
  )
  assert.deepEqual(
    together.map((x) => x.status),
    [201, 201, 201, 201, 201, 201],
    (await Promise.all(together.map((x) => x.text()))).join('\n'),
  )
})

test('PUT /v1/tasks/{task} applies a task file; promote and rollback move production (audited)', async () => {
  const id = `http-task-${h.scenario.id.slice(-6)}`
  const file = (system: string) => ({
    id,
    title: 'HTTP task',
    model: 'sim-standard',
    inputs: ['ticket'],
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'Ticket: {{ticket}}' },
    ],
    grader: { kind: 'grader', dimensions: [{ name: 'brief', check: { type: 'length', max: 400 } }] },
  })
  const put = (body: unknown, secret = secrets.all, query = '') =>
    app.request(`/v1/tasks/${id}${query}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...auth(secret) },
      body: JSON.stringify(body),
    })
  const first = await put(file('You triage tickets.'))
  assert.equal(first.status, 200, await first.clone().text())
  assert.equal(((await first.json()) as { created: boolean }).created, true)
  const again = await put(file('You triage tickets.'))
  assert.equal(((await again.json()) as { changed: boolean }).changed, false)
  assert.equal((await put(file('You triage tickets.'), secrets.read)).status, 403, 'read is not operate')

  const bad = await put({
    ...file('x'),
    messages: [
      { role: 'system', content: 'x' },
      { role: 'user', content: '{{nope}}' },
    ],
  })
  assert.equal(bad.status, 400)
  assert.match(
    ((await bad.json()) as { error: { message: string } }).error.message,
    /messages\[1\]\.content: unknown variable \{\{nope\}\}; declared: ticket/,
  )
  const fileGrader = await put({ ...file('x'), grader: { file: 'grader.yaml' } })
  assert.equal(fileGrader.status, 400)
  const elsewhere = await createToken(h.db, {
    name: 'billing-ops',
    scopes: ['operate'],
    tasks: ['billing-*'],
    createdBy: 'test',
  })
  assert.equal((await put(file('You triage tickets.'), elsewhere.secret)).status, 403)

  const second = await put(file('You triage tickets. Name the queue.'))
  assert.equal(((await second.json()) as { promoted: boolean }).promoted, false, 'a draft')
  const move = (path: string, body: unknown) =>
    app.request(`/v1/tasks/${id}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(secrets.all) },
      body: JSON.stringify(body),
    })
  const promoted = await move('promote', { version: 2, reason: 'reviewed' })
  assert.equal(promoted.status, 200, await promoted.clone().text())
  assert.equal(((await promoted.json()) as { to: { version: number } }).to.version, 2)
  const back = await move('rollback', { reason: 'escalations went up' })
  assert.equal(((await back.json()) as { to: { version: number } }).to.version, 1)
  const audit = await h.db
    .select({ action: auditEvents.action, actor: auditEvents.actor })
    .from(auditEvents)
    .where(eq(auditEvents.taskId, id))
  assert.ok(audit.some((e) => e.action === 'prompt.promoted' && e.actor === 'user:ops@example.com'))
  assert.ok(audit.some((e) => e.action === 'prompt.rolled-back' && e.actor === 'user:ops@example.com'))
  assert.ok(audit.some((e) => e.action === 'task.created' && e.actor === 'user:ops@example.com'))
})

test(`POST /v1/tasks/{task}/estimate: what a campaign would spend and how its spend budget divides, \
settings refused by path, other tasks' tokens refused`, async () => {
  const priced = createApi({
    db: h.db,
    resolver: new PromptResolver(h.db),
    providers: h.deps.providers,
    evalConcurrency: 4,
  })
  const estimate = (body: unknown, secret = secrets.read, task = h.task.taskId) =>
    priced.request(`/v1/tasks/${task}/estimate`, {
      method: 'POST',
      ...(body === undefined
        ? { headers: auth(secret) }
        : { headers: { 'content-type': 'application/json', ...auth(secret) }, body: JSON.stringify(body) }),
    })
  const config = { search: { strategy: 'gepa', rounds: 3, budgetUsd: 0.000001 } }
  const r = await estimate({ config, acceptRate: 0.5 })
  assert.equal(r.status, 200, await r.clone().text())
  const est = (await r.json()) as {
    model: string
    rollouts: { baseline: number; total: { expected: number } }
    usd: { expected: number | null }
    budget: { usd: number; searchRollouts: number; holdoutReserveUsd: number } | null
    refusal: { code: string; message: string } | null
    warnings: string[]
    assumptions: string[]
  }
  assert.equal(est.model, h.task.seedVersion.model)
  assert.ok(est.rollouts.total.expected > est.rollouts.baseline)
  assert.ok((est.usd.expected ?? 0) > 0, 'the simulated model has a price')
  assert.equal(est.budget?.usd, 0.000001)
  assert.equal(est.budget?.searchRollouts, 0)
  // The task has no traffic: that is the refusal (the first reason), and the budget a warning (with
  // traffic, a start refuses it too: operations-cli.test.ts).
  assert.equal(est.refusal?.code, 'INSUFFICIENT_DATA')
  assert.ok(
    est.warnings.some((w) => /search\.budgetUsd \$0\.000001 does not cover/.test(w)),
    est.warnings.join('\n'),
  )
  assert.ok(est.assumptions.some((a) => /3 rounds/.test(a)))
  // Without a budget there is nothing to divide; the body may be left out.
  const plain = await estimate(undefined)
  assert.equal(plain.status, 200, await plain.clone().text())
  assert.equal(((await plain.json()) as { budget: unknown }).budget, null)

  const bad = await estimate({ config: { search: { rounds: 0 } } })
  assert.equal(bad.status, 400)
  const badBody = (await bad.json()) as { error: { message: string; details?: { fields?: string[] } } }
  assert.match(badBody.error.message, /config\.search\.rounds/)
  assert.equal((await estimate({ config, acceptRate: 2 })).status, 400)
  assert.equal((await estimate({}, secrets.read, 'no-such-task')).status, 404)
  const elsewhere = (
    await createToken(h.db, { name: 'other-task-reader', scopes: ['read'], tasks: ['another-task'], createdBy: 'test' })
  ).secret
  assert.equal((await estimate({}, elsewhere)).status, 403)
  assert.equal((await estimate({}, secrets.ingest)).status, 403, 'the read scope is needed')
})
