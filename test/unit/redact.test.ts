import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { judgeCaller, prefetchJudge } from '../../evaluation/judge-caller.js'
import { Redactor, RedactionConfig, loadRedaction } from '../../privacy/redact.js'
import type { CallRecord, ModelClient } from '../../providers/client.js'
import type { CompletionRequest } from '../../providers/types.js'

const PII = 'Call jane.doe@example.com or +1 415 555 0100 from 10.0.0.12, card 4111 1111 1111 1111'
const SECRETS =
  'key sk-proj-abcdefghijklmnopqrstuvwx12, aws AKIAIOSFODNN7EXAMPLE, Authorization: Bearer ' +
  'eyJhbGciOiJIUzI1NiJ9.abcdefghij, password=hunter2'

test('personal data and secrets are redacted; ordinary text is left alone', async () => {
  const r = new Redactor()
  const [a, b, c] = await r.texts([PII, SECRETS, 'kubectl rollout undo deployment/payments-api --to-revision=41'])
  for (const leaked of ['jane.doe@example.com', '555 0100', '10.0.0.12', '4111 1111 1111 1111'])
    assert.ok(!a!.includes(leaked), `${leaked} in ${a}`)
  assert.match(a!, /\[REDACTED:email\]/)
  for (const leaked of ['sk-proj-abc', 'AKIAIOSFODNN7EXAMPLE', 'eyJhbGci', 'hunter2'])
    assert.ok(!b!.includes(leaked), `${leaked} in ${b}`)
  assert.match(b!, /\[REDACTED:openai-key\].*\[REDACTED:aws-access-key\]/)
  assert.equal(c, 'kubectl rollout undo deployment/payments-api --to-revision=41')
  // Only some texts of a batch need the library: each result stays in its place.
  const mixed = await r.texts([
    'no entity here',
    'mail ops@example.org now',
    'restart at 10:30',
    'call 0044 20 7946 0958',
    'done',
  ])
  assert.deepEqual(mixed, [
    'no entity here',
    'mail [REDACTED:email] now',
    'restart at 10:30',
    'call [REDACTED:phone-number]',
    'done',
  ])
})

test('redaction settings: custom patterns, entities can be turned off, bad settings name the field', async () => {
  const r = new Redactor(
    RedactionConfig.parse({ entities: [], patterns: [{ name: 'employee-id', regex: 'EMP-[0-9]{6}' }] }),
  )
  assert.equal(await r.text('EMP-123456 wrote to jane@example.com'), '[REDACTED:employee-id] wrote to jane@example.com')
  const dir = mkdtempSync(join(tmpdir(), 'kaizen-redact-'))
  writeFileSync(join(dir, 'bad.yaml'), 'patterns:\n  - { name: x, regex: "([" }\n')
  await assert.rejects(loadRedaction(join(dir, 'bad.yaml')), /patterns\[0\]\.regex: not a valid regular expression/)
  writeFileSync(join(dir, 'ok.yaml'), 'entities: [email]\n')
  assert.equal(
    await (await loadRedaction(join(dir, 'ok.yaml'))).text('a@b.io from 10.0.0.1'),
    '[REDACTED:email] from 10.0.0.1',
  )
})

test('judges are sent redacted requests (the cache key is the redacted request)', async () => {
  const sent: CompletionRequest[] = []
  const models = {
    keyOf: (r: CompletionRequest) => JSON.stringify(r.messages),
    lookup: async () => new Map<string, CallRecord>(),
    complete: async (r: CompletionRequest) => {
      sent.push(r)
      return { record: { output: '{"level":"good"}', error: null } as unknown as CallRecord, cached: false }
    },
  } as unknown as ModelClient
  const request: CompletionRequest = {
    model: 'judge',
    messages: [
      { role: 'system', content: 'grade' },
      { role: 'user', content: `case: ${PII}\nanswer: ${SECRETS}` },
    ],
    params: { temperature: 0, maxTokens: 100 },
  }
  const redactor = new Redactor()
  const prefetched = await prefetchJudge(models, [request], redactor)
  const judge = judgeCaller(models, { campaignId: null }, prefetched, redactor)
  const verdict = await judge(request)
  assert.equal(verdict.text, '{"level":"good"}')
  const seen = sent.map((r) => r.messages.map((m) => m.content).join('\n')).join('\n')
  for (const leaked of ['jane.doe@example.com', '4111 1111 1111 1111', 'AKIAIOSFODNN7EXAMPLE', 'hunter2'])
    assert.ok(!seen.includes(leaked), `${leaked} reached the judge`)
  assert.ok(prefetched.keys.has(models.keyOf(sent[0]!)), 'prefetch looked up the request as sent')
  // Without a redactor (the default in tests that need none) the request goes out as is.
  await judgeCaller(models, { campaignId: null })(request)
  assert.ok(sent[1]!.messages[1]!.content.includes('jane.doe@example.com'))
})

test('entities glued to punctuation are redacted too (second pass after the library)', async () => {
  const r = new Redactor()
  const out = await r.texts([
    '<jane@example.com>',
    'email:jane@example.com',
    'seen (ops.lead@corp.example.org)',
    'ip=10.1.2.3;',
    'from (192.168.0.7)',
    'card:4111111111111111',
  ])
  assert.deepEqual(out, [
    '<[REDACTED:email]>',
    'email:[REDACTED:email]',
    'seen ([REDACTED:email])',
    'ip=[REDACTED:ip-address];',
    'from ([REDACTED:ip-address])',
    'card:[REDACTED:credit-card-number]',
  ])
  // Look-alikes stay: a long id that fails the card checksum, a dotted version, dates.
  assert.deepEqual(await r.texts(['order 1234567890123 ok', 'version 1.2.3.4.5', 'INC-20261121 at 2026-11-21']), [
    'order 1234567890123 ok',
    'version 1.2.3.4.5',
    'INC-20261121 at 2026-11-21',
  ])
  // A card followed by a short digit group (CVV, expiry) is still found; the group is kept.
  assert.deepEqual(await r.texts(['card:4111111111111111 123', 'card:4111-1111-1111-1111 12/25']), [
    'card:[REDACTED:credit-card-number] 123',
    'card:[REDACTED:credit-card-number] 12/25',
  ])
  // A disabled entity is not redacted by the second pass either.
  const noEmail = new Redactor(RedactionConfig.parse({ entities: ['ip-address'] }))
  assert.deepEqual(await noEmail.texts(['<jane@example.com> 10.0.0.1']), ['<jane@example.com> [REDACTED:ip-address]'])
})
