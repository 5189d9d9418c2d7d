/**
 * The LLM proposer against a local OpenAI-compatible server: reflection from failures and their
 * feedback, blind edits, structured answers validated, unusable rewrites dropped, every call on the
 * campaign's proposer ledger and cached.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { and, eq } from 'drizzle-orm'
import { Rng } from '../../core/rng.js'
import { openDatabase, type Database } from '../../db/client.js'
import { evaluations } from '../../db/schema.js'
import { Redactor } from '../../privacy/redact.js'
import { LlmProposer } from '../../proposers/llm.js'
import { ModelClient } from '../../providers/client.js'
import { OpenAIProvider } from '../../providers/openai.js'
import { Prices } from '../../providers/prices.js'
import { ProviderRegistry } from '../../providers/registry.js'
import { testInfra, uniqueSuffix } from '../helpers/infra.js'
import { startLlmServer, type LlmServer } from '../helpers/llm-server.js'

let server: LlmServer
let database: Database
before(async () => {
  server = await startLlmServer()
  database = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent', migrate: false })
})
after(async () => {
  await server.close()
  await database.close()
})

const parent = {
  system: 'You triage incidents for {{service}}. Answer with JSON.',
  user: 'Incident: {{summary}}',
  model: 'gpt-4.1-mini',
  params: { temperature: 0, maxTokens: 512 },
}

function proposer(campaignId: string) {
  const prices = new Prices({ 'proposer-x': { inputPerMTok: 1, outputPerMTok: 4 } })
  const openai = new OpenAIProvider({ apiKey: 'test', baseURL: server.openaiBaseUrl, prices, serves: () => true })
  const registry = new ProviderRegistry([openai], null, {
    defaultLimits: { concurrency: 4, tokensPerMinute: null },
    price: (m) => prices.of(m),
  })
  const models = new ModelClient(database.db, registry, {
    retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20, maxRetryAfterMs: 1_000 },
  })
  return new LlmProposer(models, { model: 'proposer-x', maxSentences: 5, maxPromptTokens: 200 }, { campaignId })
}

test(`reflection: the failures and their feedback reach the proposer; the rewrite comes back as a \
proposal on the proposer ledger`, async () => {
  const campaignId = uniqueSuffix('proposer')
  let seen = ''
  server.setResponder((call) => {
    seen = call.messages.map((m) => m.content).join('\n')
    return {
      kind: 'json',
      value: {
        critique: 'the instructions never ask for concrete commands',
        instructions:
          'You triage incidents for {{service}}. Answer with JSON. Give each action as a shell command with ' +
          'its target.',
      },
    }
  })
  const p = await proposer(campaignId).reflect(
    parent,
    [{ input: { summary: 'payments-api 5xx after deploy' }, score: 0.3, feedback: 'actions were vague: no commands' }],
    Rng.fromSeed('r'),
  )
  assert.ok(p)
  assert.equal(p.operator, 'llm-reflect')
  assert.match(p.content.system, /shell command with its target/)
  assert.deepEqual(p.feedbackUsed, ['actions were vague: no commands'])
  assert.match(seen, /actions were vague: no commands/)
  assert.match(seen, /payments-api 5xx after deploy/)
  const body = server.calls.at(-1)?.body as { response_format?: { type: string } }
  assert.equal(body.response_format?.type, 'json_schema')
  const rows = await database.db
    .select()
    .from(evaluations)
    .where(and(eq(evaluations.campaignId, campaignId), eq(evaluations.purpose, 'proposer')))
  assert.equal(rows.length, 1)
  assert.ok((rows[0]?.costUsd ?? 0) > 0)
})

test(`unusable rewrites are dropped: a lost {{variable}}, too many sentences, \
unparseable JSON, the same text`, async () => {
  const rng = Rng.fromSeed('drop')
  const cases = [
    { kind: 'json' as const, value: { critique: 'x', instructions: 'You triage incidents. Answer with JSON.' } },
    { kind: 'json' as const, value: { critique: 'x', instructions: 'A {{service}}. B. C. D. E. F. G.' } },
    { kind: 'text' as const, text: 'Here are better instructions: be concrete.' },
    { kind: 'json' as const, value: { critique: 'x', instructions: parent.system } },
  ]
  for (const reply of cases) {
    server.setResponder(() => reply)
    assert.equal(
      await proposer(uniqueSuffix('drop')).reflect(parent, [{ input: { summary: 's' }, score: 0, feedback: 'f' }], rng),
      null,
      JSON.stringify(reply),
    )
  }
})

test('a blind edit asks for one change; the same draw is answered from the cache', async () => {
  const campaignId = uniqueSuffix('edit')
  server.setResponder(() => ({
    kind: 'json',
    value: { critique: 'added a sentence', instructions: `${parent.system} Name the failing service first.` },
  }))
  server.resetStats()
  const a = await proposer(campaignId).mutate(parent, Rng.fromSeed('same'))
  const b = await proposer(campaignId).mutate(parent, Rng.fromSeed('same'))
  assert.equal(a?.operator, 'llm-edit')
  assert.deepEqual(a, b)
  assert.equal(server.callCount(), 1, 'the second identical proposal is a cache hit')
})

test(`what the proposer model is sent is redacted: failure examples quoting personal \
data or secrets do not leave`, async () => {
  let seen = ''
  server.setResponder((call) => {
    seen = call.messages.map((m) => m.content).join('\n')
    return {
      kind: 'json',
      value: {
        critique: 'c',
        instructions: 'You triage incidents for {{service}}. Answer with JSON. Name the owner team.',
      },
    }
  })
  const prices = new Prices({ 'proposer-x': { inputPerMTok: 1, outputPerMTok: 4 } })
  const openai = new OpenAIProvider({ apiKey: 'test', baseURL: server.openaiBaseUrl, prices, serves: () => true })
  const models = new ModelClient(database.db, new ProviderRegistry([openai], null, { price: (m) => prices.of(m) }))
  const p = new LlmProposer(
    models,
    { model: 'proposer-x', maxSentences: 5, maxPromptTokens: 200 },
    { campaignId: uniqueSuffix('proposer-redact') },
    new Redactor(),
  )
  const proposal = await p.reflect(
    parent,
    [
      {
        input: { summary: 'jane.doe@example.com reports sk-proj-abcdefghijklmnopqrstuvwx12 leaked' },
        score: 0.2,
        feedback: 'no owner named',
      },
    ],
    Rng.fromSeed('x'),
  )
  assert.ok(proposal)
  assert.match(seen, /no owner named/)
  assert.ok(!seen.includes('jane.doe@example.com') && !seen.includes('sk-proj-abc'), seen)
  assert.match(seen, /\[REDACTED:email\] reports \[REDACTED:openai-key\]/)
})
