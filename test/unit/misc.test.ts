import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { configFromFlags } from '../../cli/commands/campaign.js'
import { parseCampaignConfig } from '../../core/config.js'
import { parseDecision } from '../../core/decision.js'
import { isKaizenError, KaizenError } from '../../core/errors.js'
import { renderTemplate, templateVariables } from '../../core/prompt.js'
import { toApplicationFailure } from '../../activities/failure.js'
import { loadEnv } from '../../runtime/env.js'
import { routeToCanary } from '../../serving/routing.js'
import { ApplicationFailure } from '@temporalio/common'

test('templates render variables and name a missing one', () => {
  assert.equal(
    renderTemplate('Incident {{id}} on {{svc.name}}', { id: 'INC-1', svc: { name: 'auth' } }),
    'Incident INC-1 on auth',
  )
  assert.deepEqual(templateVariables('{{a}} {{ b }} {{a}}'), ['a', 'b'])
  assert.throws(
    () => renderTemplate('{{missing}}', { present: 'x' }),
    /uses \{\{missing\}\} but the input has no "missing" \(inputs: present\)/,
  )
})

test('routing is sticky per key and honours the weight', () => {
  let canary = 0
  for (let i = 0; i < 10_000; i++) {
    const first = routeToCanary('task', `user-${i}`, 'canary-1', 0.2)
    assert.equal(routeToCanary('task', `user-${i}`, 'canary-1', 0.2), first)
    if (first) canary++
  }
  assert.ok(Math.abs(canary / 10_000 - 0.2) < 0.015, `${canary / 10_000}`)
  assert.equal(routeToCanary('task', 'u', 'c', 0), false)
  assert.equal(routeToCanary('task', 'u', 'c', 1), true)
  const moved = Array.from(
    { length: 1000 },
    (_, i) =>
      routeToCanary('task', `user-${i}`, 'canary-1', 0.5) !== routeToCanary('task', `user-${i}`, 'canary-2', 0.5),
  ).filter(Boolean).length
  assert.ok(moved > 350, 'a new canary reshuffles users')
})

test('campaign config: defaults, and errors that name the field', () => {
  const c = parseCampaignConfig({})
  assert.equal(c.search.rolloutBudget, 2000)
  assert.equal(c.canary.onApprovalTimeout, 'hold')
  assert.throws(
    () => parseCampaignConfig({ splits: { train: 0.5, validation: 0.5, holdout: 0.5 } }),
    /splits: train \+ validation \+ holdout must be 1/,
  )
  assert.throws(() => parseCampaignConfig({ canary: { weight: 2 } }), /canary\.weight/)
  assert.throws(
    () => parseCampaignConfig({ canary: { weight: 1 } }),
    /canary\.weight: at most 0\.5: the canary is compared with the concurrent baseline/,
  )
  assert.throws(() => parseCampaignConfig({ search: { rounds: 'many' } }), /search\.rounds/)
})

test('environment: defaults, and invalid values named with the fix', () => {
  const env = loadEnv({})
  assert.equal(env.KAIZEN_DATA_DIR, '.kaizen')
  assert.equal(env.TEMPORAL_NAMESPACE, 'default')
  assert.equal(env.DATABASE_URL, undefined)
  assert.throws(() => loadEnv({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL: must be a postgres/)
  assert.throws(() => loadEnv({ TEMPORAL_ADDRESS: 'http://x:7233' }), /TEMPORAL_ADDRESS: must be host:port/)
  assert.throws(() => loadEnv({ KAIZEN_TEMPORAL_PORT: '99999' }), /KAIZEN_TEMPORAL_PORT/)
  assert.equal(loadEnv({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }).TEMPORAL_TLS, false)
  assert.equal(loadEnv({ DATABASE_URL: '' }).DATABASE_URL, undefined)
})

test('decisions parse from plain or fenced JSON, and malformed ones say why', () => {
  assert.equal(parseDecision('{"diagnosis":"x","actions":[{"command":"a","target":"b"}]}').ok, true)
  assert.equal(parseDecision('```json\n{"diagnosis":"x","actions":[{"command":"a"}]}\n```').ok, true)
  const bad = parseDecision('{"diagnosis":"x","actions":[]}')
  assert.ok(!bad.ok && /actions/.test(bad.error))
})

test('Kaizen errors map to Temporal failures: type = code, retry only transient ones', () => {
  const notFound = toApplicationFailure(new KaizenError('NOT_FOUND', 'no task')) as ApplicationFailure
  assert.ok(notFound instanceof ApplicationFailure)
  assert.equal(notFound.type, 'NOT_FOUND')
  assert.equal(notFound.nonRetryable, true)
  const flaky = toApplicationFailure(new KaizenError('PROVIDER_UNAVAILABLE', 'timeout')) as ApplicationFailure
  assert.equal(flaky.nonRetryable, false)
  // Any other error is still retried by the activity policy, under a description of itself (lib/safe-log.ts).
  const plain = toApplicationFailure(new Error('socket closed')) as ApplicationFailure
  assert.ok(plain instanceof ApplicationFailure)
  assert.deepEqual([plain.type, plain.nonRetryable, plain.message], ['Error', false, 'socket closed'])
  assert.ok(isKaizenError(Object.assign(new Error('x'), { name: 'KaizenError', code: 'CONFLICT' })))
})

test('--finalists sets search.finalistsPerModel, and only a search over models takes more than one', async () => {
  assert.equal((await configFromFlags({ toModel: 'sim-small', finalists: 3 })).config.search.finalistsPerModel, 3)
  assert.equal((await configFromFlags({ toModel: 'sim-small' })).config.search.finalistsPerModel, 1)
  await assert.rejects(
    configFromFlags({ finalists: 3 }),
    /search\.finalistsPerModel: several finalists per model apply to a search over models: set search\.objective/,
  )
})

test('--margin of a model search is also the canary readiness margin, unless the config sets its own', async () => {
  const flagged = await configFromFlags({ toModel: 'sim-small', margin: 0.1 })
  assert.equal(flagged.config.search.objective?.margin, 0.1)
  assert.equal(flagged.config.canary.analysis.margin, 0.1)
  assert.equal((await configFromFlags({ toModel: 'sim-small' })).config.canary.analysis.margin, 0.05)
  const dir = mkdtempSync(join(tmpdir(), 'kaizen-margin-'))
  try {
    const file = join(dir, 'c.yaml')
    writeFileSync(file, 'canary: { weight: 0.2, analysis: { margin: 0.03, blockMs: 1000 } }\n')
    const own = await configFromFlags({ config: file, toModel: 'sim-small', margin: 0.1 })
    assert.equal(own.config.canary.analysis.margin, 0.03)
    assert.equal(own.config.canary.weight, 0.2)
    const partial = join(dir, 'p.yaml')
    writeFileSync(partial, 'canary: { analysis: { blockMs: 1000 } }\n')
    const kept = await configFromFlags({ config: partial, toModel: 'sim-small', margin: 0.1 })
    assert.deepEqual([kept.config.canary.analysis.margin, kept.config.canary.analysis.blockMs], [0.1, 1000])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
