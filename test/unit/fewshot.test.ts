import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { renderMessages, renderTemplate, type PromptContent } from '../../core/prompt.js'
import { Rng } from '../../core/rng.js'
import { editDemonstrations } from '../../core/search/fewshot.js'
import { STRATEGIES, runRound } from '../../core/search/strategies.js'
import { DEFAULT_STRATEGY_SETTINGS, incumbent, meanOf } from '../../core/search/types.js'
import { promptContentHash } from '../../lib/hash.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'
import { memoryPorts } from '../helpers/memory-search.js'

const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
const world = new SimWorld(scenario)
const seed = scenario.task.prompt

test(`demonstrations are sent as user/assistant turns before the input; they change the \
content hash only when present`, () => {
  const demo = {
    input: { incident_id: 'INC-1', service: 'auth', summary: 'TLS fails' },
    output: '{"diagnosis":"expired certificate"}',
  }
  const content: PromptContent = {
    system: 'Triage.',
    user: '{{incident_id}} {{service}}: {{summary}}',
    model: 'sim-standard',
    params: { temperature: 0, maxTokens: 512 },
    examples: [demo],
  }
  const msgs = renderMessages(content, { incident_id: 'INC-2', service: 'api', summary: 'slow' })
  assert.deepEqual(
    msgs.map((m) => m.role),
    ['system', 'user', 'assistant', 'user'],
  )
  assert.equal(msgs[1]?.content, 'INC-1 auth: TLS fails')
  assert.equal(msgs[3]?.content, 'INC-2 api: slow')
  const { examples: _, ...plain } = content
  assert.equal(promptContentHash('t', plain), promptContentHash('t', { ...plain, examples: [] }))
  assert.notEqual(promptContentHash('t', plain), promptContentHash('t', content))
})

test('simulated model: a demonstration of the example’s own cluster helps, another cluster’s only costs', () => {
  const keys = Array.from({ length: 60 }, (_, i) => `demo-test:${i}`)
  const ex = keys.map((k) => world.example(k))
  const a = ex[0]!
  const same = ex.find((e) => e !== a && e.cluster === a.cluster)!
  const other = ex.find((e) => e.cluster !== a.cluster)!
  const shown = (e: typeof a) => renderTemplate(seed.user, e.input)
  assert.equal(world.clusterOf(shown(same)), a.cluster)
  assert.equal(world.clusterOf(shown(other)), other.cluster)
  assert.equal(world.clusterOf('nothing like any incident'), null)
  const clauses = world.parseClauses(seed.system)
  const base = world.probability(a, clauses, seed.model)
  assert.ok(world.probability(a, clauses, seed.model, [world.clusterOf(shown(same))]) > base)
  assert.ok(world.probability(a, clauses, seed.model, [world.clusterOf(shown(other))]) < base)
  // Through the provider's path: the same prompt text with demonstrations named gets the higher probability.
  const r = world.respond(`${seed.system}\n${shown(same)}`, a, seed.model, 0, [shown(same)])
  assert.ok(Math.abs(r.probability - world.probability(a, clauses, seed.model, [a.cluster])) < 1e-12)
})

test(`editDemonstrations: adds, swaps or removes one demonstration, never past the cap, \
recording the traffic record`, () => {
  const rng = Rng.fromSeed('fewshot-edits')
  const sources = Array.from({ length: 5 }, (_, i) => ({
    itemId: `t${i}`,
    demonstration: { input: { x: String(i) }, output: `answer ${i}` },
    score: 0.9,
  }))
  let content: PromptContent = seed
  const seen = new Set<string>()
  for (let i = 0; i < 60; i++) {
    const p = editDemonstrations(content, sources, rng, 3)
    assert.ok(p)
    seen.add(p.operator)
    const n = p.content.examples?.length ?? 0
    assert.ok(n <= 3)
    assert.ok(Math.abs(n - (content.examples?.length ?? 0)) <= 1)
    if (p.operator !== 'fewshot-remove') assert.match(p.feedbackUsed[0] ?? '', /traffic t\d/)
    assert.equal(p.content.system, seed.system)
    content = p.content
  }
  assert.deepEqual([...seen].sort(), ['fewshot-add', 'fewshot-remove', 'fewshot-swap'])
})

test(`few-shot selection finds demonstrations that raise exact accuracy, and never scores a \
prompt on an example it shows`, async () => {
  const ports = memoryPorts(world, { seed: 'fewshot-search', budget: 1_500, train: 80, validation: 40 })
  const sources = await ports.demonstrations!()
  assert.ok(sources.length > 5, 'some training items have high-DQ production answers')
  assert.ok(
    sources.every((s) => ports.trainIds.includes(s.itemId)),
    'demonstrations come from the training split only',
  )
  const inner = ports.evaluate.bind(ports)
  ports.evaluate = async (content, ids) => {
    const shownItems = sources
      .filter((s) => content.examples?.some((d) => d.output === s.demonstration.output))
      .map((s) => s.itemId)
    for (const id of ids) assert.ok(!shownItems.includes(id), `scored a prompt on ${id}, which it shows`)
    return inner(content, ids)
  }
  const v = await ports.evaluate(seed, ports.validationIds)
  ports.pool.push({
    id: 'seed',
    content: seed,
    parentIds: [],
    operator: 'seed',
    status: 'seed',
    validationMean: meanOf(v),
  })
  for (let r = 0; r < 40; r++) {
    const o = await runRound(STRATEGIES.fewshot, ports.pool, { ...DEFAULT_STRATEGY_SETTINGS, minibatchSize: 6 }, ports)
    if (o.exhausted) break
  }
  const best = incumbent(ports.pool)!
  assert.ok((best.content.examples?.length ?? 0) > 0, 'the incumbent carries demonstrations')
  const fresh = Array.from({ length: 400 }, (_, i) => world.example(`fresh:${i}`))
  const clauses = world.parseClauses(seed.system)
  const acc = (c: PromptContent) => {
    const clusters = (c.examples ?? []).map((d) => world.clusterOf(renderTemplate(c.user, d.input)))
    return fresh.reduce((s, e) => s + world.probability(e, clauses, c.model, clusters), 0) / fresh.length
  }
  assert.ok(
    acc(best.content) > acc(seed) + 0.02,
    `exact accuracy ${acc(best.content).toFixed(3)} vs seed ${acc(seed).toFixed(3)}`,
  )
})
