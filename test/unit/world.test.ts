import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { isKaizenError } from '../../core/errors.js'
import { renderMessages } from '../../core/prompt.js'
import { SimulationProvider } from '../../providers/simulation.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { generateExample } from '../../sim/generator.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { SimWorld } from '../../sim/world.js'

const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
const world = new SimWorld(scenario)
const seedPrompt = scenario.task.prompt
const clauseText = (id: string) => scenario.clauses.find((c) => c.id === id)!.paraphrases[0]!
const everyRequirement = [...new Set(scenario.clusters.flatMap((c) => c.requirements))]
const goodPrompt = { ...seedPrompt, system: `${seedPrompt.system} ${everyRequirement.map(clauseText).join(' ')}` }

test('examples are deterministic functions of their key and carry ground truth', () => {
  const a = generateExample(scenario, 'k-1')
  assert.deepEqual(a, generateExample(scenario, 'k-1'))
  assert.notDeepEqual(a.input, generateExample(scenario, 'k-2').input)
  assert.ok(a.reference.actions.length > 0 && a.reference.keywords.length > 0)
  assert.deepEqual(Object.keys(a.input).sort(), [...scenario.task.inputFields].sort())
  assert.ok(a.required.length >= 1 && a.required.length <= 2)
})

test('clauses are parsed from any paraphrase', () => {
  assert.deepEqual(world.parseClauses(seedPrompt.system), ['json-only'])
  for (const c of scenario.clauses)
    for (const p of c.paraphrases)
      assert.ok(world.parseClauses(`Intro. ${p.toUpperCase()} Outro.`).includes(c.id), `${c.id}: ${p}`)
})

test('requirements raise the exact success probability; conflicts lower it', () => {
  let seedP = 0
  let goodP = 0
  const n = 300
  for (let i = 0; i < n; i++) {
    const ex = world.example(`p-${i}`)
    seedP += world.probability(ex, world.parseClauses(seedPrompt.system), 'sim-standard')
    goodP += world.probability(ex, world.parseClauses(goodPrompt.system), 'sim-standard')
  }
  assert.ok(goodP / n > seedP / n + 0.25, `seed ${seedP / n}, good ${goodP / n}`)
  const deploy = Array.from({ length: 200 }, (_, i) => world.example(`c-${i}`)).find((e) => e.cluster === 'bad-deploy')!
  const base = world.parseClauses(goodPrompt.system)
  assert.ok(
    world.probability(deploy, [...base, 'restart-first'], 'sim-standard') <
      world.probability(deploy, base, 'sim-standard'),
  )
  assert.ok(world.probability(deploy, base, 'sim-large') > world.probability(deploy, base, 'sim-standard'))
})

test('answers replay exactly; a paraphrase is a different draw with the same probability', () => {
  const ex = world.example('replay-1')
  const text = renderMessages(goodPrompt, ex.input)
    .map((m) => m.content)
    .join('\n')
  assert.deepEqual(world.respond(text, ex, 'sim-standard', 0), world.respond(text, ex, 'sim-standard', 0))
  const reworded = text.replace(
    clauseText('state-risk'),
    scenario.clauses.find((c) => c.id === 'state-risk')!.paraphrases[1]!,
  )
  assert.equal(
    world.respond(reworded, ex, 'sim-standard', 0).probability,
    world.respond(text, ex, 'sim-standard', 0).probability,
  )
  // replicates are independent draws: over many, successes track the probability
  let wins = 0
  for (let r = 0; r < 400; r++) if (world.respond(text, ex, 'sim-standard', r).success) wins++
  const p = world.probability(ex, world.parseClauses(text), 'sim-standard')
  assert.ok(Math.abs(wins / 400 - p) < 0.08, `empirical ${wins / 400} vs exact ${p}`)
})

test('feedback names the true cause at fidelity 1 and carries no signal at fidelity 0', () => {
  const truthful = new SimWorld(scenario, { fidelity: 1 })
  const useless = new SimWorld(scenario, { fidelity: 0 })
  const hints = new Set(scenario.clauses.flatMap((c) => (c.feedback ? [c.feedback] : [])))
  let named = 0
  let failures = 0
  let correctAtZero = 0
  for (let i = 0; i < 300; i++) {
    const ex = truthful.example(`fb-${i}`)
    const text = `${seedPrompt.system}\n${ex.input.summary}`
    const r1 = truthful.respond(text, ex, 'sim-standard', 0)
    if (r1.success) continue
    failures++
    const missing = ex.required.map((id) => scenario.clauses.find((c) => c.id === id)!.feedback)
    if (r1.feedback && missing.includes(r1.feedback)) named++
    const r0 = useless.respond(text, ex, 'sim-standard', 0)
    if (r0.feedback && missing.includes(r0.feedback)) correctAtZero++
    assert.ok(r1.feedback && (hints.has(r1.feedback) || scenario.feedback.generic.includes(r1.feedback)))
  }
  assert.ok(named / failures > 0.95, `fidelity 1 named the cause in ${named}/${failures}`)
  assert.ok(correctAtZero / failures < 0.3, `fidelity 0 named it in ${correctAtZero}/${failures}`)
})

test('the provider labels everything as simulation and refuses requests without a scenario reference', async () => {
  const provider = new SimulationProvider([scenario])
  const ex = world.example('prov-1')
  const r = await provider.complete({
    model: 'sim-standard',
    messages: renderMessages(seedPrompt, ex.input),
    params: seedPrompt.params,
    simulation: { scenario: scenario.id, exampleKey: ex.key },
  })
  assert.equal(r.simulated, true)
  assert.equal(r.provider, 'simulation')
  assert.ok(r.usage.inputTokens > 0 && r.usage.outputTokens > 0 && r.latencyMs > 0 && r.costUsd > 0)
  await assert.rejects(
    provider.complete({
      model: 'sim-standard',
      messages: [{ role: 'user', content: 'hi' }],
      params: seedPrompt.params,
    }),
    /no simulation reference/,
  )
  const broken = new SimulationProvider([{ ...scenario, models: scenario.models.map((m) => ({ ...m, errorRate: 1 })) }])
  await assert.rejects(
    broken.complete({
      model: 'sim-standard',
      messages: renderMessages(seedPrompt, ex.input),
      params: seedPrompt.params,
      simulation: { scenario: scenario.id, exampleKey: ex.key },
    }),
    (e) => isKaizenError(e) && e.code === 'PROVIDER_REJECTED' && !e.retryable,
    'a simulated error repeats for the same request: retrying cannot help',
  )
  await assert.rejects(
    provider.complete({
      model: 'sim-nope',
      messages: [],
      params: seedPrompt.params,
      simulation: { scenario: scenario.id, exampleKey: 'x' },
    }),
    /simulated model "sim-nope"/,
  )
})

test('model tiers differ in more than ability: ignored wordings, own clause effects, a format instruction', () => {
  const small = scenario.models.find((m) => m.id === 'sim-small')!
  const ignoredJson = small.ignores.find((g) => g.clause === 'json-only')!.phrasing!
  const otherJson = scenario.clauses.find((c) => c.id === 'json-only')!.paraphrases.find((p) => p !== ignoredJson)!
  // The wording sim-small ignores is read as absent by it only; the other wording counts for every tier.
  assert.deepEqual(world.parseClauses(ignoredJson, 'sim-small'), [])
  assert.deepEqual(world.parseClauses(ignoredJson, 'sim-standard'), ['json-only'])
  assert.deepEqual(world.parseClauses(otherJson, 'sim-small'), ['json-only'])
  const ex = world.example('tier-1')
  // Without its format clause sim-small loses the format weight; a clause effect of its own is added on it only.
  const gain = (m: string, base: string[], add: string) => world.logit(ex, [...base, add], m) - world.logit(ex, base, m)
  assert.ok(Math.abs(gain('sim-small', [], 'json-only') - gain('sim-standard', [], 'json-only') - 1.2) < 1e-9)
  const brief = small.clauseEffects.find((e) => e.clause === 'be-brief')!.weight
  assert.ok(
    Math.abs(gain('sim-small', ['json-only'], 'be-brief') - gain('sim-standard', ['json-only'], 'be-brief') - brief) <
      1e-9,
  )
  // The production prompt answers worse on sim-small; its failures without the format clause are prose with the
  // format's feedback, which the simulation proposer acts on by rewording the instruction.
  const failures = Array.from({ length: 60 }, (_, i) => world.example(`fmt-${i}`))
    .map((e) => world.respond(seedPrompt.system, e, 'sim-small', 0))
    .filter((r) => !r.success && !r.error)
  assert.ok(failures.length > 40, `${failures.length} failures of 60`)
  // A missing format instruction is one cause among the missing requirements.
  const malformed = failures.filter((r) => r.failureMode === 'malformed').length
  assert.ok(malformed > failures.length / 4, `${malformed} malformed of ${failures.length}`)
  assert.ok(failures.some((r) => r.feedback === small.format!.feedback))
  // Tokens are the tier's own: sim-large writes longer answers for the same text.
  const large = world.usage('sim-large', 'x'.repeat(400), 'y'.repeat(400))
  assert.deepEqual(large, { inputTokens: 100, outputTokens: 130 })
})

test('the simulation proposer rewords an instruction the parent model ignores', async () => {
  const { SimulationProposer } = await import('../../sim/proposer.js')
  const { Rng } = await import('../../core/rng.js')
  const small = scenario.models.find((m) => m.id === 'sim-small')!
  const proposer = new SimulationProposer(world, { hallucination: 0 })
  const parent = { ...seedPrompt, model: 'sim-small' }
  const p = proposer.propose(parent, [{ itemId: 'x', score: 0, feedback: small.format!.feedback }], Rng.fromSeed('r'))
  assert.ok(p && p.operator === 'reflect', JSON.stringify(p))
  assert.deepEqual(world.parseClauses(p.content.system, 'sim-small'), ['json-only'])
  assert.ok(!p.content.system.includes(small.ignores[0]!.phrasing!))
})

test('a scenario tier naming an unknown clause or a wording that is not a paraphrase is refused by field', async () => {
  const { parseScenario } = await import('../../sim/scenario.js')
  const bad = structuredClone(scenario) as Record<string, unknown> & { models: Array<Record<string, unknown>> }
  bad.models[2] = {
    ...bad.models[2],
    ignores: [{ clause: 'json-only', phrasing: 'Reply in JSON.' }],
    clauseEffects: [{ clause: 'no-such', weight: 1 }],
  }
  assert.throws(
    () => parseScenario(bad, 'x'),
    (err: Error) =>
      /models\[2\]\.ignores\[0\]\.phrasing: not a paraphrase of clause "json-only"/.test(err.message) &&
      /models\[2\]\.clauseEffects\[0\]\.clause: unknown clause "no-such"/.test(err.message),
  )
})
