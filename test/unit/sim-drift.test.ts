/**
 * Scheduled drift in the simulated world (sim/drift.ts, providers/simulation.ts): a silent model
 * update changes how the same requests are answered, a latency drift slows them, a traffic-mix
 * drift changes which requests arrive; the drift in effect travels with each request, so cached
 * answers from before a change differ from those after it; bad drift settings are refused by path.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { isKaizenError } from '../../core/errors.js'
import { renderMessages } from '../../core/prompt.js'
import { cacheKeyOf } from '../../providers/client.js'
import { SimulationProvider } from '../../providers/simulation.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { parseScenario, loadScenarioFile, type Scenario } from '../../sim/scenario.js'
import { createSimApp } from '../../sim/serve/server.js'
import { SimService } from '../../sim/serve/service.js'

const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
const prompt = scenario.task.prompt

async function answer(p: SimulationProvider, key: string) {
  const { example, ref } = p.caseFor(scenario.task.id, key)
  const request = {
    model: prompt.model,
    messages: renderMessages(prompt, example.input),
    params: prompt.params,
    simulation: ref,
  }
  const result = await p.complete(request).catch(() => null)
  return { example, ref, result, cacheKey: cacheKeyOf(p.id, request) }
}

test('a silent model update lowers the production prompt’s success on the same requests, from its start', async () => {
  const p = new SimulationProvider([scenario])
  const keys = Array.from({ length: 400 }, (_, i) => `drift-${i}`)
  const before = await Promise.all(keys.map((k) => answer(p, k)))
  assert.ok(before.every((a) => a.ref.drift === undefined))
  const started = p.startDrift(scenario.id, 'provider-update')
  assert.ok(started.startedAt instanceof Date)
  assert.equal(p.drifts(scenario.id).find((d) => d.id === 'slow-provider')!.startedAt, null)
  const afterwards = await Promise.all(keys.map((k) => answer(p, k)))
  assert.ok(afterwards.every((a) => a.ref.drift?.join() === 'provider-update'))
  const rate = (xs: typeof before) => xs.filter((a) => a.result?.simulation?.success).length / xs.length
  assert.ok(rate(before) - rate(afterwards) > 0.15, `${rate(before)} → ${rate(afterwards)}`)
  // Every answer's probability is exactly lower (the format penalty); the cache keys differ.
  before.forEach((b, i) => {
    const a = afterwards[i]!
    if (b.result && a.result) assert.ok(a.result.simulation!.probability < b.result.simulation!.probability)
    assert.notEqual(a.cacheKey, b.cacheKey)
  })
  // The failures say why: the updated model answers in prose.
  assert.ok(afterwards.some((a) => a.result?.simulation?.failureMode === 'malformed'))
  // A request made before the drift still answers as then (a replay is the same).
  const replay = await p.complete({
    model: prompt.model,
    messages: renderMessages(prompt, before[0]!.example.input),
    params: prompt.params,
    simulation: before[0]!.ref,
  })
  assert.deepEqual(replay.simulation, before[0]!.result?.simulation)
})

test('a latency drift slows the model; a traffic-mix drift changes which requests arrive', async () => {
  const p = new SimulationProvider([scenario])
  const keys = Array.from({ length: 200 }, (_, i) => `lat-${i}`)
  const median = async () => {
    const ls = (await Promise.all(keys.map((k) => answer(p, k)))).flatMap((a) => (a.result ? [a.result.latencyMs] : []))
    return ls.sort((a, b) => a - b)[Math.floor(ls.length / 2)]!
  }
  const slowBefore = await median()
  p.startDrift(scenario.id, 'slow-provider')
  const slowAfter = await median()
  assert.ok(slowAfter > 3.5 * slowBefore && slowAfter < 4.5 * slowBefore, `${slowBefore} → ${slowAfter}`)

  const share = () => {
    const ks = Array.from({ length: 600 }, (_, i) => p.liveKey(scenario.id, `mix-${i}`))
    return { ks, cert: ks.filter((k) => p.caseFor(scenario.task.id, k).example.cluster === 'cert-expiry').length / 600 }
  }
  const normal = share()
  assert.ok(normal.ks.every((k) => !k.includes('@')))
  p.startDrift(scenario.id, 'certificate-wave')
  const waved = share()
  assert.ok(waved.ks.every((k) => k.endsWith('@certificate-wave')))
  assert.ok(normal.cert < 0.2 && waved.cert > 0.55, `${normal.cert} → ${waved.cert}`)
  // The key alone regenerates the example, in a provider where the drift never started.
  const fresh = new SimulationProvider([scenario])
  assert.deepEqual(
    fresh.caseFor(scenario.task.id, waved.ks[0]!).example,
    p.caseFor(scenario.task.id, waved.ks[0]!).example,
  )
})

test('drift on a schedule starts after the simulation starts; unknown drifts are refused', async () => {
  const scheduled: Scenario = {
    ...scenario,
    drift: scenario.drift.map((d) => (d.id === 'provider-update' ? { ...d, after: '10m' } : d)),
  }
  const t0 = Date.now() - 11 * 60_000
  const p = new SimulationProvider([scheduled], { startedAt: t0 })
  assert.deepEqual(p.refFor(scenario.task.id, 'k', t0 + 9 * 60_000)?.drift, undefined)
  assert.deepEqual(p.refFor(scenario.task.id, 'k', t0 + 10 * 60_000)?.drift, ['provider-update'])
  assert.equal(p.drifts(scenario.id).find((d) => d.id === 'provider-update')!.afterMs, 600_000)
  assert.throws(
    () => p.startDrift(scenario.id, 'nope'),
    (e) =>
      isKaizenError(e) && e.code === 'NOT_FOUND' && /provider-update, slow-provider, certificate-wave/.test(e.message),
  )
  await assert.rejects(
    p.complete({
      model: prompt.model,
      messages: [{ role: 'user', content: 'x' }],
      params: prompt.params,
      simulation: { scenario: scenario.id, exampleKey: 'k', drift: ['certificate-wave'] },
    }),
    (e) => isKaizenError(e) && e.code === 'INVALID_INPUT' && /no model drift "certificate-wave"/.test(e.message),
  )
})

test('bad drift settings are refused with the path of the field', () => {
  const bad = (drift: unknown[]) => () => parseScenario({ ...scenario, drift }, 'scenario x')
  assert.throws(
    bad([{ id: 'a', kind: 'latency', model: 'sim-nope', factor: 2 }]),
    /drift\[0\]\.model.*unknown model "sim-nope"/s,
  )
  assert.throws(
    bad([{ id: 'a', kind: 'traffic-mix', weights: { nowhere: 2 } }]),
    /drift\[0\]\.weights\.nowhere.*unknown cluster/s,
  )
  assert.throws(
    bad([
      { id: 'a', kind: 'model-update', model: 'sim-standard', ignores: [{ clause: 'json-only', phrasing: 'JSON!' }] },
    ]),
    /drift\[0\]\.ignores\[0\]\.phrasing.*not a paraphrase/s,
  )
  assert.throws(
    bad([{ id: 'a', kind: 'latency', model: 'sim-standard', factor: 2, after: 'soon' }]),
    /drift\[0\]\.after.*not a duration/s,
  )
  assert.throws(
    bad([
      { id: 'a', kind: 'latency', model: 'sim-standard', factor: 2 },
      { id: 'a', kind: 'latency', model: 'sim-standard', factor: 3 },
    ]),
    /drift\[1\]\.id.*duplicate drift id "a"/s,
  )
})

test('over the OpenAI wire (sim serve): a model drift started by POST /sim/v1/drift/{id} changes answers', async () => {
  const app = createSimApp(new SimService({ scenarios: [scenario] }))
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    })
    return { status: res.status, json: (await res.json()) as any }
  }
  const { json: page } = await call('GET', `/sim/v1/examples?scenario=${scenario.id}&count=300`)
  const json = async () => {
    let parsed = 0
    for (const e of page.examples as Array<{ input: Record<string, string> }>) {
      const { json: c } = await call('POST', '/v1/chat/completions', {
        model: 'sim-standard',
        messages: renderMessages(prompt, e.input),
      })
      try {
        JSON.parse(c.choices[0].message.content)
        parsed++
      } catch {
        // prose: the updated model's answer without a plain JSON-only instruction
      }
    }
    return parsed / page.examples.length
  }
  const before = await json()
  const listed = await call('GET', `/sim/v1/drift?scenario=${scenario.id}`)
  assert.deepEqual(
    listed.json.drifts.map((d: { id: string; startedAt: string | null }) => [d.id, d.startedAt]),
    [
      ['provider-update', null],
      ['slow-provider', null],
      ['certificate-wave', null],
    ],
  )
  const started = await call('POST', `/sim/v1/drift/provider-update?scenario=${scenario.id}`)
  assert.equal(started.status, 200)
  assert.ok(started.json.startedAt)
  const after = await json()
  assert.ok(before - after > 0.2, `JSON answers ${before} → ${after}`)
  const mix = await call('POST', `/sim/v1/drift/certificate-wave?scenario=${scenario.id}`)
  assert.equal(mix.status, 400)
  assert.match(mix.json.error.message, /traffic-mix drift: over the wire your application chooses its inputs/)
  const unknown = await call('POST', `/sim/v1/drift/nope?scenario=${scenario.id}`)
  assert.equal(unknown.status, 404)
  assert.match(unknown.json.error.message, /its drifts: provider-update, slow-provider, certificate-wave/)
})
