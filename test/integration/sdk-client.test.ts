import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { serve, type ServerType } from '@hono/node-server'
import { and, eq, inArray } from 'drizzle-orm'
import { createApi } from '../../api/app.js'
import { createToken } from '../../db/queries/tokens.js'
import { trafficIdOf } from '../../db/queries/traffic-ids.js'
import { traffic } from '../../db/schema.js'
import { OpenAIProvider } from '../../providers/openai.js'
import { Prices } from '../../providers/prices.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { Gateway } from '../../serving/gateway.js'
import { PromptResolver } from '../../serving/resolver.js'
import { KaizenClient, KaizenClientError, type FetchLike } from '../../sdk/client.js'
import { kaizen } from '../helpers/cli.js'
import { startHarness, testInfra, type Harness } from '../helpers/infra.js'
import { startLlmServer, type LlmServer } from '../helpers/llm-server.js'

/** The example app's task (examples/support-app/task.yaml), applied with the CLI as its README says. */
const APP_TASK = 'support-reply'

let h: Harness
let llm: LlmServer
let server: ServerType
let baseUrl: string
let token: string

before(async () => {
  llm = await startLlmServer({
    responder: (call) => ({
      kind: 'text',
      text: `Sorry about that; we are on it. (${call.messages.at(-1)?.content.split('\n')[0]})`,
      inputTokens: 40,
      outputTokens: 15,
    }),
  })
  const openai = new OpenAIProvider({
    apiKey: 'test',
    baseURL: llm.openaiBaseUrl,
    prices: new Prices(),
    serves: (m) => m.startsWith('openai:') || m.startsWith('gpt-'),
  })
  h = await startHarness({ name: 'sdk', worker: false, providers: [openai] })
  token = (await createToken(h.db, { name: 'support-app', scopes: ['read', 'ingest'], createdBy: 'test' })).secret
  const resolver = new PromptResolver(h.db, 200)
  const app = createApi({ db: h.db, resolver, gateway: new Gateway({ db: h.db, resolver, models: h.deps.models }) })
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const applied = await kaizen(['task', 'apply', '-f', 'examples/support-app/task.yaml', '--actor', 'test'], {
    DATABASE_URL: testInfra().databaseUrl,
    OPENAI_BASE_URL: llm.openaiBaseUrl,
    OPENAI_API_KEY: undefined,
  })
  assert.equal(applied.code, 0, applied.stderr)
})
after(async () => {
  await new Promise((r) => server.close(r))
  await h.close()
  await llm.close()
})

/** The global fetch, with every exchange noted (method, path, status). */
function watchedFetch() {
  const exchanges: Array<{ method: string; path: string; status: number }> = []
  const fetch: FetchLike = async (url, init) => {
    const res = await globalThis.fetch(url, init)
    exchanges.push({ method: init.method ?? 'GET', path: new URL(url).pathname, status: res.status })
    return res
  }
  return { fetch, exchanges }
}

test(`resolve against the API: fresh from the cache, then revalidated by ETag (304) once max-age \
has passed`, async () => {
  const watched = watchedFetch()
  const client = new KaizenClient({ baseUrl, token, fetch: watched.fetch })
  const first = await client.resolve(h.scenario.task.id, 'user-1')
  assert.equal(first.source, 'network')
  assert.equal(first.version.id, h.task.seedVersion.id)
  assert.equal(first.arm, null)
  const cached = await client.resolve(h.scenario.task.id, 'user-1')
  assert.equal(cached.source, 'cache')
  assert.equal(watched.exchanges.length, 1, 'no request within max-age')
  await new Promise((r) => setTimeout(r, 1_100))
  const again = await client.resolve(h.scenario.task.id, 'user-1')
  assert.equal(again.source, 'revalidated')
  assert.deepEqual(again.version, first.version)
  assert.deepEqual(
    watched.exchanges.map((e) => e.status),
    [200, 304],
  )
  await assert.rejects(client.resolve('no-such-task', 'user-1'), { name: 'KaizenClientError', status: 404 })
})

test('record: a batch whose answer was lost is sent again and stored once', async () => {
  let lose = true
  const posts: number[] = []
  const fetch: FetchLike = async (url, init) => {
    const res = await globalThis.fetch(url, init)
    if (new URL(url).pathname === '/v1/traffic') {
      posts.push(res.status)
      // The server stored the batch; its answer is lost on the way back.
      if (lose) {
        lose = false
        throw new TypeError('fetch failed', { cause: new Error('socket hang up') })
      }
    }
    return res
  }
  const client = new KaizenClient({ baseUrl, token, fetch, retry: { baseDelayMs: 10 }, batch: { maxSize: 5 } })
  const prompt = await client.resolve(h.scenario.task.id, 'user-2')
  const ids = Array.from({ length: 5 }, (_, i) =>
    client.record({
      prompt,
      input: { incident_id: `INC-${i}`, service: 'auth', summary: 'login fails' },
      output: '{"diagnosis":"bad deploy"}',
      latencyMs: 300,
    }),
  )
  assert.deepEqual(await client.close(), { stored: 0, duplicates: 5, failed: 0 })
  assert.deepEqual(posts, [202, 202], 'the same batch twice: stored by the first, duplicates in the second')
  const rows = await h.db
    .select()
    .from(traffic)
    .where(
      inArray(
        traffic.id,
        ids.map((id) => trafficIdOf(h.scenario.task.id, id)),
      ),
    )
  assert.equal(rows.length, 5)
  assert.ok(rows.every((r) => r.promptVersionId === prompt.version.id && r.routingKey === 'user-2'))
})

test('complete on a simulated task through the gateway; a repeat of its id is a replay; errors are typed', async () => {
  const client = new KaizenClient({ baseUrl, token })
  const task = h.scenario.task.id
  const r = await client.complete({ task, key: 'user-3', id: 'sdk-req-1', simulation: { exampleKey: 'sdk-1' } })
  assert.equal(r.simulated, true)
  assert.equal(r.version.id, h.task.seedVersion.id)
  assert.equal(r.replayed, false)
  assert.equal(r.recorded, true)
  assert.ok(r.output)
  const again = await client.complete({ task, key: 'user-3', id: 'sdk-req-1', simulation: { exampleKey: 'sdk-1' } })
  assert.equal(again.replayed, true)
  assert.equal(again.trafficId, r.trafficId)
  await assert.rejects(client.complete({ task, key: 'user-3', input: { summary: 'x' } }), (err: KaizenClientError) => {
    assert.ok(err instanceof KaizenClientError)
    assert.equal(err.status, 400)
    assert.equal(err.code, 'INVALID_INPUT')
    assert.deepEqual(err.fields, ['simulation.exampleKey'])
    return true
  })
  await assert.rejects(client.complete({ task: APP_TASK, key: 'u', input: { ticket: 'x' } }), {
    status: 400,
    code: 'INVALID_INPUT',
    fields: ['input.tier'],
  })
})

test('feedback on a call recorded by the client (still queued: sent first)', async () => {
  const client = new KaizenClient({ baseUrl, token })
  const prompt = await client.resolve(APP_TASK, 'customer-7')
  const id = client.record({ prompt, input: { ticket: 'Where is my parcel?', tier: 'free' }, output: 'Checking.' })
  const r = await client.feedback({ task: APP_TASK, id, rating: { score: 0.8, by: 'agent@example.com' } })
  assert.deepEqual(r, { trafficId: trafficIdOf(APP_TASK, id), recorded: ['rating'] })
  await client.close()
})

/** Run the example app as its README says, against this API and the local model server. */
function runExample(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', 'examples/support-app/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KAIZEN_URL: baseUrl,
        KAIZEN_TOKEN: token,
        OPENAI_BASE_URL: llm.openaiBaseUrl,
        OPENAI_API_KEY: 'test',
        CUSTOMER_ID: 'customer-42',
      },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

test(`the example app: resolves, renders as the gateway does, calls its model, records the call; \
--gateway lets Kaizen make it`, async () => {
  const appRows = () =>
    h.db
      .select()
      .from(traffic)
      .where(and(eq(traffic.taskId, APP_TASK), eq(traffic.routingKey, 'customer-42')))
  llm.resetStats()
  const direct = await runExample(['Charged twice for March'])
  assert.equal(direct.code, 0, direct.stderr)
  assert.match(direct.stdout, /^support-reply@1 \(pv_\w+, production\) for customer-42$/m)
  assert.match(direct.stdout, /^Reply: Sorry about that; we are on it\. \(Ticket: Charged twice for March\)$/m)
  assert.match(direct.stdout, /^Recorded: 1 stored, 0 already stored, 0 not stored\.$/m)
  const [row] = await appRows()
  assert.ok(row, 'the call is in the traffic')
  assert.deepEqual(row.input, { ticket: 'Charged twice for March', tier: 'gold' })
  assert.equal(row.provider, 'openai')
  assert.equal(row.model, 'openai:gpt-4.1-mini')
  assert.equal(row.outputTokens, 15)
  assert.equal(row.simulated, false)

  const gateway = await runExample(['Charged twice for March', '--gateway'])
  assert.equal(gateway.code, 0, gateway.stderr)
  assert.match(gateway.stdout, /^support-reply@1 \(pv_\w+, production\) for customer-42, via the gateway$/m)
  assert.match(gateway.stdout, /^Recorded by Kaizen as tr_\S+\.$/m)
  assert.equal((await appRows()).length, 2)

  // The app rendered locally what the gateway renders: the model saw the same messages both times.
  assert.equal(llm.calls.length, 2)
  assert.deepEqual(llm.calls[0]!.body.messages, llm.calls[1]!.body.messages)
  assert.equal(llm.calls[0]!.body.model, 'gpt-4.1-mini')
})
