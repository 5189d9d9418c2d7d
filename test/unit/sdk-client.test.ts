import assert from 'node:assert/strict'
import { test } from 'node:test'
import { renderMessages, type PromptContent } from '../../core/prompt.js'
import { KaizenClient as ViaPackage } from 'kaizen/client'
import {
  KaizenClient,
  KaizenClientError,
  type FetchLike,
  type KaizenClientOptions,
  type TrafficRecord,
} from '../../sdk/client.js'
import { parseRetryAfter } from '../../sdk/errors.js'

/** One request as the fake server saw it. */
interface Seen {
  method: string
  url: URL
  headers: Headers
  body: any
  at: number
}

type Reply = Response | Error | Promise<Response>

/** A fetch answered by `reply`, which sees every request (and how many came before it). */
function fakeServer(reply: (req: Seen, n: number) => Reply) {
  const seen: Seen[] = []
  const fetch: FetchLike = async (url, init) => {
    const req: Seen = {
      method: init.method ?? 'GET',
      url: new URL(url),
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      at: performance.now(),
    }
    seen.push(req)
    const r = await reply(req, seen.length - 1)
    if (r instanceof Error) throw r
    return r
  }
  return { fetch, seen }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
const apiError = (status: number, code: string, message: string, extra: Record<string, unknown> = {}) =>
  json(status, { error: { code, message, ...extra } })

const content: PromptContent = {
  system: 'You answer support tickets.',
  user: 'Ticket: {{ticket}}\nTier: {{tier}}',
  model: 'openai:gpt-4.1-mini',
  params: { temperature: 0, maxTokens: 100 },
  examples: [{ input: { ticket: 'refund?', tier: 'free' }, output: 'We will look at it.' }],
}
const resolved = (id = 'pv_1', number = 1, arm: string | null = null) => ({
  task: 'support',
  version: { id, number, content },
  arm,
  canaryId: arm ? 'canary-1' : null,
  routingWeight: arm ? 0.25 : null,
})

/** A client on the fake server, with a clock of the test's own and fast retries. */
function clientOn(fetch: FetchLike, options: Partial<KaizenClientOptions> = {}) {
  const clock = { now: 1_000_000 }
  const errors: Array<{ err: KaizenClientError; records: readonly TrafficRecord[] }> = []
  const client = new KaizenClient({
    baseUrl: 'http://kaizen.test/',
    token: 'kz_test',
    fetch,
    now: () => clock.now,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    batch: { maxSize: 100, intervalMs: 60_000 },
    onError: (err, records) => errors.push({ err, records }),
    ...options,
  })
  return { client, clock, errors }
}

const call = (i: number) => ({
  task: 'support',
  versionId: 'pv_1',
  key: `user-${i}`,
  model: 'gpt-4.1-mini',
  input: { ticket: `ticket ${i}`, tier: 'gold' },
  output: `reply ${i}`,
  latencyMs: 120.4,
})
const accepted = (req: Seen) => json(202, { stored: req.body.records.length, duplicates: 0 })

test('kaizen/client resolves to sdk/client.ts by the package’s own exports', () => {
  assert.equal(ViaPackage, KaizenClient)
})

test('resolve: cached for max-age, then revalidated with If-None-Match; a 304 keeps the cached version', async () => {
  const server = fakeServer((req) =>
    req.headers.get('if-none-match') === '"pv_1.none"'
      ? new Response(null, { status: 304, headers: { etag: '"pv_1.none"', 'cache-control': 'private, max-age=1' } })
      : json(200, resolved(), { etag: '"pv_1.none"', 'cache-control': 'private, max-age=1' }),
  )
  const { client, clock } = clientOn(server.fetch)
  const first = await client.resolve('support', 'user-1')
  assert.equal(first.source, 'network')
  assert.equal(first.stale, false)
  assert.equal(first.key, 'user-1')
  assert.deepEqual(first.version, resolved().version)
  assert.equal(server.seen[0]!.url.href, 'http://kaizen.test/v1/tasks/support/prompt?key=user-1')
  assert.equal(server.seen[0]!.headers.get('authorization'), 'Bearer kz_test')
  assert.equal(server.seen[0]!.headers.get('if-none-match'), null)

  clock.now += 999
  assert.equal((await client.resolve('support', 'user-1')).source, 'cache')
  assert.equal(server.seen.length, 1, 'within max-age no request is made')

  clock.now += 1
  const again = await client.resolve('support', 'user-1')
  assert.equal(server.seen.length, 2)
  assert.equal(server.seen[1]!.headers.get('if-none-match'), '"pv_1.none"')
  assert.equal(again.source, 'revalidated')
  assert.deepEqual(again.version, first.version)
  assert.equal((await client.resolve('support', 'user-1')).source, 'cache', 'a 304 starts a new max-age')

  await client.resolve('support', 'user 2/x')
  assert.equal(server.seen.length, 3, 'the cache is per routing key')
  assert.equal(server.seen[2]!.url.searchParams.get('key'), 'user 2/x')
})

test('resolve: a changed version replaces the cached one; concurrent calls for one key share a request', async () => {
  let version = 1
  const server = fakeServer(async (req) => {
    await new Promise((r) => setTimeout(r, 5))
    const etag = `"pv_${version}.canary"`
    return req.headers.get('if-none-match') === etag
      ? new Response(null, { status: 304, headers: { etag } })
      : json(200, resolved(`pv_${version}`, version, 'canary'), { etag, 'cache-control': 'max-age=1' })
  })
  const { client, clock } = clientOn(server.fetch)
  const both = await Promise.all([client.resolve('support', 'k'), client.resolve('support', 'k')])
  assert.equal(server.seen.length, 1)
  assert.deepEqual(
    both.map((r) => [r.version.id, r.arm, r.canaryId, r.routingWeight]),
    [
      ['pv_1', 'canary', 'canary-1', 0.25],
      ['pv_1', 'canary', 'canary-1', 0.25],
    ],
  )
  version = 2
  clock.now += 1_000
  const changed = await client.resolve('support', 'k')
  assert.equal(changed.source, 'network')
  assert.equal(changed.version.id, 'pv_2')
})

test(`resolve: the server unreachable or 5xx with a cached version: served stale, said so; \
a 4xx is thrown`, async () => {
  let mode: 'ok' | 'down' | '503' | '404' = 'ok'
  const server = fakeServer((req) => {
    if (mode === 'down') return new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') })
    if (mode === '503') return apiError(503, 'INFRA_UNAVAILABLE', 'the database is unavailable; try again shortly')
    if (mode === '404') return apiError(404, 'NOT_FOUND', 'unknown task "support"')
    if (req.headers.get('if-none-match') === '"e1"')
      return new Response(null, { status: 304, headers: { etag: '"e1"' } })
    return json(200, resolved(), { etag: '"e1"', 'cache-control': 'max-age=1' })
  })
  const { client, clock } = clientOn(server.fetch)
  mode = 'down'
  await assert.rejects(client.resolve('support', 'u'), (err: KaizenClientError) => {
    assert.ok(err instanceof KaizenClientError)
    assert.equal(err.code, 'NETWORK')
    assert.equal(err.status, null)
    assert.match(err.message, /ECONNREFUSED/)
    return true
  })
  mode = 'ok'
  await client.resolve('support', 'u')
  mode = 'down'
  clock.now += 5_000
  const stale = await client.resolve('support', 'u')
  assert.equal(stale.source, 'stale')
  assert.equal(stale.stale, true)
  assert.equal((stale.error as KaizenClientError).code, 'NETWORK')
  assert.equal(stale.version.id, 'pv_1')
  const asked = server.seen.length
  assert.equal((await client.resolve('support', 'u')).source, 'stale', 'still stale…')
  assert.equal(server.seen.length, asked, '…without asking again within a second')

  mode = '503'
  clock.now += 1_000
  const stale503 = await client.resolve('support', 'u')
  assert.equal(stale503.source, 'stale')
  assert.equal((stale503.error as KaizenClientError).status, 503)

  mode = 'ok'
  clock.now += 1_000
  const back = await client.resolve('support', 'u')
  assert.equal(back.stale, false)
  assert.equal(back.source, 'revalidated')

  mode = '404'
  clock.now += 1_000
  await assert.rejects(client.resolve('support', 'u'), { name: 'KaizenClientError', code: 'NOT_FOUND', status: 404 })
})

test('resolve: a request that outlives the timeout fails TIMEOUT', async () => {
  const fetch: FetchLike = (_url, init) =>
    new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(new Error('aborted'))))
  const { client } = clientOn(fetch, { timeoutMs: 20 })
  await assert.rejects(client.resolve('support', 'u'), { code: 'TIMEOUT', status: null })
})

test('render: byte-identical to core renderMessages; every missing variable named as input.<name>', () => {
  const { client } = clientOn(fakeServer(() => json(200, {})).fetch)
  const input = { ticket: 'db down', tier: 'gold' }
  assert.deepEqual(client.render({ content }, input), renderMessages(content, input))
  assert.deepEqual(
    client.render({ content }, input).map((m) => m.role),
    ['system', 'user', 'assistant', 'user'],
  )
  assert.throws(
    () => client.render({ content }, { other: 'x' }),
    (err: KaizenClientError) => {
      assert.ok(err instanceof KaizenClientError)
      assert.equal(err.code, 'INVALID_INPUT')
      assert.equal(err.status, null)
      assert.deepEqual(err.fields, ['input.ticket', 'input.tier'])
      assert.match(err.message, /"ticket", "tier".*given: other/)
      return true
    },
  )
})

test(`record: batches of maxSize go at once, the rest when the interval passes; ids and fields \
as the API takes them`, async () => {
  const server = fakeServer(accepted)
  const { client } = clientOn(server.fetch, { batch: { maxSize: 3, intervalMs: 40 } })
  const ids = Array.from({ length: 7 }, (_, i) => client.record(call(i)))
  assert.equal(new Set(ids).size, 7)
  for (const id of ids) assert.match(id, /^[0-9a-f-]{36}$/)
  await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(
    server.seen.map((s) => s.body.records.length),
    [3, 3],
    'two full batches at once',
  )
  assert.equal(client.pending, 1)
  await new Promise((r) => setTimeout(r, 80))
  assert.deepEqual(
    server.seen.map((s) => s.body.records.length),
    [3, 3, 1],
    'the last one after the interval',
  )
  const sent = server.seen.flatMap((s) => s.body.records)
  assert.deepEqual(
    sent.map((r: TrafficRecord) => r.id),
    ids,
  )
  const first = sent[0]
  assert.equal(server.seen[0]!.url.pathname, '/v1/traffic')
  assert.deepEqual(Object.keys(first).sort(), [
    'arm',
    'canaryId',
    'error',
    'id',
    'input',
    'latencyMs',
    'model',
    'output',
    'promptVersion',
    'routingKey',
    'routingWeight',
    'startedAt',
    'task',
  ])
  assert.equal(first.latencyMs, 120, 'latency rounded to the integer the API takes')
  assert.equal(first.promptVersion, 'pv_1')
  assert.equal(first.routingKey, 'user-0')
  assert.equal(first.startedAt, new Date(1_000_000 - 120).toISOString())
  assert.deepEqual(await client.flush(), { stored: 0, duplicates: 0, failed: 0 })
})

test('record: from a resolved prompt, its version, key, arm and canary are echoed', async () => {
  const server = fakeServer((req) =>
    req.url.pathname === '/v1/traffic' ? accepted(req) : json(200, resolved('pv_9', 9, 'canary')),
  )
  const { client } = clientOn(server.fetch)
  const prompt = await client.resolve('support', 'user-7')
  const id = client.record({ prompt, input: { ticket: 't', tier: 'free' }, output: 'o', id: 'call-1' })
  assert.equal(id, 'call-1')
  client.record({ prompt, input: { ticket: 't', tier: 'free' }, output: 'o', id: 'call-2', simulated: true })
  assert.deepEqual(await client.flush(), { stored: 2, duplicates: 0, failed: 0 })
  const [r, simulated] = server.seen[1]!.body.records
  assert.deepEqual(
    [r.task, r.promptVersion, r.routingKey, r.model, r.arm, r.canaryId, r.routingWeight, r.simulated],
    ['support', 'pv_9', 'user-7', 'openai:gpt-4.1-mini', 'canary', 'canary-1', 0.25, undefined],
  )
  assert.equal(simulated.simulated, true, 'an answer from a simulated model is labelled so')
})

test('record: a malformed call is refused at once, naming the field, and never reaches a batch', async () => {
  const server = fakeServer(accepted)
  const { client } = clientOn(server.fetch)
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ input: { ticket: 42 } }, 'input.ticket'],
    [{ versionId: '' }, 'versionId'],
    [{ key: 'k'.repeat(501) }, 'key'],
    [{ latencyMs: -1 }, 'latencyMs'],
    [{ arm: 'treatment' }, 'arm'],
    [{ startedAt: 'yesterday' }, 'startedAt'],
    [{ simulated: 'yes' }, 'simulated'],
  ]
  for (const [change, field] of bad)
    assert.throws(() => client.record({ ...call(1), ...change } as never), { code: 'INVALID_INPUT', fields: [field] })
  client.record(call(2))
  await client.flush()
  assert.equal(server.seen.length, 1)
  assert.equal(server.seen[0]!.body.records.length, 1)
})

test('record: 503, 429 and network failures are retried with backoff, the same batch with the same ids', async () => {
  const replies: Array<(req: Seen) => Reply> = [
    () => apiError(503, 'INFRA_UNAVAILABLE', 'the database is unavailable; try again shortly'),
    () => new TypeError('fetch failed'),
    (req) => json(202, { stored: req.body.records.length, duplicates: 0 }),
  ]
  const server = fakeServer((req, n) => replies[n]!(req))
  const { client, errors } = clientOn(server.fetch, { retry: { attempts: 5, baseDelayMs: 20, maxDelayMs: 1_000 } })
  client.record(call(1))
  client.record({ ...call(2), id: 'mine' })
  assert.deepEqual(await client.flush(), { stored: 2, duplicates: 0, failed: 0 })
  assert.equal(server.seen.length, 3)
  const idsOf = (s: Seen) => s.body.records.map((r: TrafficRecord) => r.id)
  assert.deepEqual(idsOf(server.seen[1]!), idsOf(server.seen[0]!))
  assert.deepEqual(idsOf(server.seen[2]!), idsOf(server.seen[0]!))
  assert.equal(idsOf(server.seen[0]!)[1], 'mine')
  const gaps = [server.seen[1]!.at - server.seen[0]!.at, server.seen[2]!.at - server.seen[1]!.at]
  assert.ok(gaps[0]! >= 9, `first backoff ≥ half of 20 ms (${gaps[0]})`)
  assert.ok(gaps[1]! >= 19, `second backoff ≥ half of 40 ms (${gaps[1]})`)
  assert.deepEqual(errors, [])
})

test('record: a 429 with Retry-After waits as long as the server asks', async () => {
  const server = fakeServer((req, n) =>
    n === 0
      ? new Response(JSON.stringify({ error: { code: 'BUDGET_EXHAUSTED', message: 'slow down' } }), {
          status: 429,
          headers: { 'retry-after': '1' },
        })
      : json(202, { stored: 0, duplicates: req.body.records.length }),
  )
  const { client } = clientOn(server.fetch, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } })
  client.record(call(1))
  assert.deepEqual(await client.flush(), { stored: 0, duplicates: 1, failed: 0 })
  const waited = server.seen[1]!.at - server.seen[0]!.at
  assert.ok(waited >= 990, `waited ${waited} ms for Retry-After: 1`)
})

test('record: a 4xx is never retried and goes to onError with the API code, status and fields', async () => {
  const server = fakeServer(() =>
    apiError(404, 'NOT_FOUND', 'unknown prompt version "pv_x" of task "support" at records[0].promptVersion', {
      fields: ['records[0].promptVersion'],
    }),
  )
  const { client, errors } = clientOn(server.fetch)
  client.record({ ...call(1), versionId: 'pv_x' })
  assert.deepEqual(await client.flush(), { stored: 0, duplicates: 0, failed: 1 })
  assert.equal(server.seen.length, 1)
  assert.equal(errors.length, 1)
  const { err, records } = errors[0]!
  assert.equal(err.status, 404)
  assert.equal(err.code, 'NOT_FOUND')
  assert.equal(err.retryable, false)
  assert.deepEqual(err.fields, ['records[0].promptVersion'])
  assert.match(err.message, /^record 1 call\(s\): unknown prompt version "pv_x"/)
  assert.equal(records[0]!.promptVersion, 'pv_x')
})

test('record: when the attempts run out the batch goes to onError; a non-API answer is HTTP', async () => {
  const server = fakeServer(() => new Response('<html>Bad gateway</html>', { status: 502 }))
  const { client, errors } = clientOn(server.fetch)
  client.record(call(1))
  client.record(call(2))
  assert.deepEqual(await client.flush(), { stored: 0, duplicates: 0, failed: 2 })
  assert.equal(server.seen.length, 4, 'attempts: 4')
  assert.equal(errors[0]!.err.code, 'HTTP')
  assert.equal(errors[0]!.err.status, 502)
  assert.match(errors[0]!.err.message, /HTTP 502 \(<html>Bad gateway<\/html>\)/)
  assert.equal(errors[0]!.records.length, 2)
})

test('record: the queue is bounded: past maxQueue the oldest are dropped and reported', async () => {
  const server = fakeServer(accepted)
  const { client, errors } = clientOn(server.fetch, { batch: { maxSize: 100, intervalMs: 60_000, maxQueue: 3 } })
  for (let i = 0; i < 5; i++) client.record({ ...call(i), id: `c${i}` })
  assert.deepEqual(
    errors.map((e) => [e.err.code, e.records.map((r) => r.id)]),
    [
      ['QUEUE_FULL', ['c0']],
      ['QUEUE_FULL', ['c1']],
    ],
  )
  await client.close()
  assert.deepEqual(
    server.seen[0]!.body.records.map((r: TrafficRecord) => r.id),
    ['c2', 'c3', 'c4'],
  )
})

test('close: flushes what is queued, then refuses new records', async () => {
  const server = fakeServer(accepted)
  const { client } = clientOn(server.fetch)
  client.record(call(1))
  client.record(call(2))
  assert.equal(server.seen.length, 0, 'waiting for the interval')
  assert.deepEqual(await client.close(), { stored: 2, duplicates: 0, failed: 0 })
  assert.deepEqual(client.recorded, { stored: 2, duplicates: 0, failed: 0 })
  assert.equal(server.seen.length, 1)
  assert.equal(client.pending, 0)
  assert.throws(() => client.record(call(3)), { code: 'CLOSED' })
})

test(`complete: one idempotency id across retries of a lost answer; API errors typed; \
not retried after a model call`, async () => {
  const server = fakeServer((req, n) => {
    if (req.body.key === 'refused')
      return apiError(502, 'PROVIDER_REJECTED', 'openai gpt-4.1-mini rejected the request (traffic tr_1)')
    if (n === 0) return new TypeError('fetch failed')
    if (n === 1) return apiError(503, 'INFRA_UNAVAILABLE', 'the database is unavailable; try again shortly')
    return json(200, {
      trafficId: 'tr_1',
      output: 'restart it',
      error: null,
      version: { id: 'pv_1', number: 1 },
      arm: null,
      canaryId: null,
      model: 'gpt-4.1-mini',
      provider: 'openai',
      simulated: false,
      usage: { inputTokens: 3, outputTokens: 2 },
      latencyMs: 10,
      costUsd: 0,
      replayed: n > 2,
      recorded: true,
    })
  })
  const { client } = clientOn(server.fetch)
  const r = await client.complete({ task: 'support', key: 'u1', input: { ticket: 'x', tier: 'gold' } })
  assert.equal(r.output, 'restart it')
  assert.equal(server.seen.length, 3)
  assert.equal(server.seen[0]!.url.pathname, '/v1/tasks/support/complete')
  const ids = server.seen.map((s) => s.body.id)
  assert.match(ids[0], /^[0-9a-f-]{36}$/)
  assert.deepEqual(new Set(ids).size, 1, 'the same id on every attempt')
  assert.deepEqual(server.seen[0]!.body, { key: 'u1', input: { ticket: 'x', tier: 'gold' }, id: ids[0] })

  await client.complete({ task: 'support', key: 'u1', id: 'req-7', input: { ticket: 'x', tier: 'gold' } })
  assert.equal(server.seen.at(-1)!.body.id, 'req-7')

  const before = server.seen.length
  await assert.rejects(client.complete({ task: 'support', key: 'refused', input: {} }), {
    name: 'KaizenClientError',
    status: 502,
    code: 'PROVIDER_REJECTED',
    message: 'complete (task "support"): openai gpt-4.1-mini rejected the request (traffic tr_1)',
  })
  assert.equal(server.seen.length, before + 1, 'a refused model call is not retried')
})

test('feedback: a record still queued is sent first, then the feedback', async () => {
  const server = fakeServer((req) =>
    req.url.pathname === '/v1/traffic' ? accepted(req) : json(201, { trafficId: 'tr_x', recorded: ['rating'] }),
  )
  const { client } = clientOn(server.fetch)
  const id = client.record(call(1))
  const r = await client.feedback({ task: 'support', id, rating: { score: 1, by: 'agent@example.com' } })
  assert.deepEqual(r, { trafficId: 'tr_x', recorded: ['rating'] })
  assert.deepEqual(
    server.seen.map((s) => s.url.pathname),
    ['/v1/traffic', '/v1/feedback'],
  )
  assert.deepEqual(server.seen[1]!.body, { task: 'support', id, rating: { score: 1, by: 'agent@example.com' } })
})

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('2'), 2_000)
  assert.equal(parseRetryAfter(null), null)
  assert.equal(parseRetryAfter('soon'), null)
  const now = Date.parse('2026-01-01T00:00:00Z')
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now), 3_000)
})
