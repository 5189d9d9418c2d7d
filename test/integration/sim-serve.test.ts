/**
 * `kaizen sim serve` driven by Kaizen's real-provider code, offline: the providers built from
 * OPENAI_BASE_URL as the CLI builds them (runtime/providers.ts → providers/openai.ts), the model
 * client with its cache and ledger, the LLM judge through the grader engine, and the LLM proposer.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { createApi } from '../../api/app.js'
import { Feedback } from '../../api/routes/feedback.js'
import { parseDecision, type Reference } from '../../core/decision.js'
import { isKaizenError } from '../../core/errors.js'
import { GraderSpec } from '../../core/grader-spec.js'
import { renderMessages, type PromptContent } from '../../core/prompt.js'
import { Rng } from '../../core/rng.js'
import { cohenKappa } from '../../core/stats/agreement.js'
import { parseTaskFile } from '../../core/task-file.js'
import { openDatabase, type Database } from '../../db/client.js'
import { applyTaskFile } from '../../db/queries/task-file.js'
import { createToken } from '../../db/queries/tokens.js'
import { judgeCaller } from '../../evaluation/judge-caller.js'
import { grade } from '../../graders/engine.js'
import { LlmProposer } from '../../proposers/llm.js'
import { ModelClient } from '../../providers/client.js'
import { SimulationProvider } from '../../providers/simulation.js'
import type { ProviderRegistry } from '../../providers/registry.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { providersFromEnv } from '../../runtime/providers.js'
import { loadScenarioFile, type Scenario } from '../../sim/scenario.js'
import { startSimServer, type SimServer } from '../../sim/serve/server.js'
import { SimWorld } from '../../sim/world.js'
import { Gateway } from '../../serving/gateway.js'
import { PromptResolver } from '../../serving/resolver.js'
import { apiCaller, kaizen } from '../helpers/cli.js'
import { testInfra, uniqueSuffix } from '../helpers/infra.js'

const incident = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
const refund = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'refund-decision.yaml'))
const world = new SimWorld(incident)
const simulation = new SimulationProvider([incident])
const AGREEMENT = 0.9

type Served = { key: string; input: Record<string, string>; reference: Reference }

let sim: SimServer
let database: Database
let registry: ProviderRegistry
let models: ModelClient
let examples: Served[]

function registryFor(baseUrl: string): ProviderRegistry {
  return providersFromEnv(
    {
      OPENAI_BASE_URL: baseUrl,
      KAIZEN_MODEL_TIMEOUT_MS: 10_000,
      KAIZEN_OPENAI_CONCURRENCY: 8,
      KAIZEN_ANTHROPIC_CONCURRENCY: 8,
    },
    new SimulationProvider([]),
  )
}

before(async () => {
  sim = await startSimServer({
    port: 0,
    scenarios: [incident, refund],
    judgeAgreement: AGREEMENT,
    proposerHallucination: 0,
    preload: 50,
  })
  database = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent', migrate: false })
  registry = registryFor(sim.baseUrl)
  models = new ModelClient(database.db, registry, {
    retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20, maxRetryAfterMs: 100 },
  })
  const page = await fetch(`${sim.url}/sim/v1/examples?scenario=incident-triage&count=120&offset=1000`)
  examples = ((await page.json()) as { examples: Served[] }).examples
})
after(async () => {
  await sim?.close()
  await database?.close()
})

const post = (body: unknown) =>
  fetch(`${sim.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

const clauseText = (id: string) => incident.clauses.find((c) => c.id === id)!.paraphrases[0]!
const seedPrompt: PromptContent = { ...incident.task.prompt, model: 'openai:sim-standard' }
const everyRequirement = [...new Set(incident.clusters.flatMap((c) => c.requirements))]
const goodPrompt: PromptContent = {
  ...seedPrompt,
  system: `${seedPrompt.system} ${everyRequirement.map(clauseText).join(' ')}`,
}

/** Right when the answer is the reference decision (what resolved the case). */
function right(text: string, reference: Reference): boolean {
  const parsed = parseDecision(text)
  if (!parsed.ok) return false
  const d = parsed.decision
  return (
    d.diagnosis === reference.diagnosis &&
    d.risk === reference.risk &&
    JSON.stringify(d.actions) ===
      JSON.stringify(reference.actions.map((a) => ({ command: a.command, target: a.target })))
  )
}

async function answer(prompt: PromptContent, ex: Served): Promise<string> {
  const request = { model: prompt.model, messages: renderMessages(prompt, ex.input), params: prompt.params }
  const { record } = await models.complete(request, { campaignId: null, purpose: 'task' })
  assert.equal(record.error, null)
  assert.equal(record.simulated, true, 'answers of the simulation server are recorded as simulated')
  return record.output as string
}

test('examples come with a reference that POST /v1/feedback accepts as the outcome', async () => {
  assert.equal(examples.length, 120)
  assert.equal(examples[0]!.key, 'serve:001000')
  assert.equal(new Set(examples.map((e) => JSON.stringify(e.input))).size, 120)
  for (const e of examples) {
    assert.deepEqual(Object.keys(e.input).sort(), [...incident.task.inputFields].sort())
    assert.deepEqual(Feedback.parse({ task: 't', id: e.key, outcome: e.reference }).outcome, e.reference)
  }
  const bad = await fetch(`${sim.url}/sim/v1/examples?count=5`)
  assert.equal(bad.status, 400)
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /incident-triage, refund-decision/)
})

test('task answers through the OpenAI provider: the rewarded clauses raise the success rate', async () => {
  const sample = examples.slice(0, 100)
  let seed = 0
  let good = 0
  for (const ex of sample) {
    const text = await answer(seedPrompt, ex)
    if (right(text, ex.reference)) seed++
    if (right(await answer(goodPrompt, ex), ex.reference)) good++
    // The in-process simulation provider gives the same answer to the same messages about the same example.
    const inProcess = await simulation.complete({
      model: 'sim-standard',
      messages: renderMessages(seedPrompt, ex.input),
      params: seedPrompt.params,
      simulation: { scenario: incident.id, exampleKey: ex.key },
    })
    assert.equal(text, inProcess.text)
  }
  assert.ok(good >= seed + 15, `seed prompt ${seed}/100 right, with the rewarded clauses ${good}/100`)
})

test('the Anthropic wire: the same answers through the Anthropic provider, labelled simulation', async () => {
  const both = providersFromEnv(
    {
      OPENAI_BASE_URL: sim.baseUrl,
      ANTHROPIC_API_KEY: 'not-needed',
      ANTHROPIC_BASE_URL: sim.url,
      KAIZEN_MODEL_TIMEOUT_MS: 10_000,
      KAIZEN_OPENAI_CONCURRENCY: 8,
      KAIZEN_ANTHROPIC_CONCURRENCY: 8,
    },
    new SimulationProvider([]),
  )
  const client = new ModelClient(database.db, both, {
    retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20, maxRetryAfterMs: 100 },
  })
  const call = (model: string, ex: Served) =>
    client.complete(
      { model, messages: renderMessages(seedPrompt, ex.input), params: seedPrompt.params },
      { campaignId: null, purpose: 'task' },
    )
  for (const ex of examples.slice(0, 20)) {
    const [viaAnthropic, viaOpenAI] = [await call('anthropic:sim-small', ex), await call('openai:sim-small', ex)]
    assert.equal(viaAnthropic.record.error, null)
    assert.equal(viaAnthropic.record.output, viaOpenAI.record.output)
    assert.equal(viaAnthropic.record.simulated, true, 'answers on the Anthropic wire are recorded as simulated')
    assert.ok(viaAnthropic.record.outputTokens > 0)
  }
  // Structured output: with a forced tool, an answer that is a JSON object comes as that tool's input.
  const messages = (content: string) => ({
    model: 'sim-standard',
    max_tokens: 400,
    system: seedPrompt.system,
    messages: [{ role: 'user', content }],
  })
  const viaWire = (body: unknown) =>
    fetch(`${sim.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const objectIn = (text: string) => {
    try {
      const v: unknown = JSON.parse(text)
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null
    } catch {
      return null
    }
  }
  let tools = 0
  let user = ''
  for (const ex of examples.slice(0, 10)) {
    user = renderMessages(seedPrompt, ex.input).find((m) => m.role === 'user')!.content
    const plain = (await (await viaWire(messages(user))).json()) as { content: Array<{ text: string }> }
    const text = plain.content[0]!.text
    const forced = await viaWire({
      ...messages(user),
      tools: [{ name: 'decision', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 'decision' },
    })
    const body = (await forced.json()) as { content: Array<Record<string, unknown>>; stop_reason: string }
    const input = objectIn(text)
    if (input) {
      tools++
      assert.deepEqual({ ...body.content[0], id: 'x' }, { type: 'tool_use', id: 'x', name: 'decision', input })
      assert.equal(body.stop_reason, 'tool_use')
    } else assert.deepEqual(body.content[0], { type: 'text', text })
  }
  assert.ok(tools > 0, 'some answers are JSON objects, sent as the tool input')
  // Errors in the Anthropic format, naming what the server serves.
  const unknown = await viaWire({ ...messages(user), model: 'claude-nowhere' })
  assert.equal(unknown.status, 404)
  const err = (await unknown.json()) as { type: string; error: { type: string; message: string } }
  assert.equal(err.type, 'error')
  assert.equal(err.error.type, 'not_found_error')
  assert.match(err.error.message, /sim-judge/)
  const noMax = await viaWire({ model: 'sim-standard', messages: [{ role: 'user', content: user }] })
  assert.equal(noMax.status, 400)
  assert.match(((await noMax.json()) as { error: { message: string } }).error.message, /max_tokens/)
})

test('judge verdicts through the grader engine agree with the truth at about the configured rate', async () => {
  const spec = GraderSpec.parse({
    kind: 'grader',
    dimensions: [
      {
        name: 'resolution',
        check: {
          type: 'llm-judge',
          rubric: 'Would this decision resolve the case the way it was actually resolved?',
          levels: [
            { label: 'wrong', description: 'the cause, an action or the risk is wrong or missing' },
            { label: 'right', description: 'cause, actions with targets and risk as resolved' },
          ],
        },
      },
    ],
    gates: { injection: false, pii: false, refusal: false },
    judge: { model: 'openai:sim-judge' },
  })
  const judge = judgeCaller(models, { campaignId: null })
  const pairs: Array<[boolean, boolean]> = []
  let hinted = 0
  const hints = incident.clauses.flatMap((c) => (c.feedback ? [c.feedback] : []))
  for (const ex of examples) {
    const output = await answer(seedPrompt, ex)
    const result = await grade(spec, { output, input: ex.input, reference: ex.reference }, { judge })
    const verdict = result.dimensions.resolution!
    assert.notEqual(verdict.score, null, verdict.reason)
    const truth = right(output, ex.reference)
    pairs.push([truth, verdict.pass])
    if (!truth && !verdict.pass && hints.some((h) => result.reason.includes(h))) hinted++
  }
  const agree = pairs.filter(([t, v]) => t === v).length / pairs.length
  assert.ok(Math.abs(agree - AGREEMENT) < 0.07, `agreement ${agree}`)
  const { kappa } = cohenKappa(pairs)
  assert.ok(kappa !== null && kappa > 0.6 && kappa < 0.97, `kappa ${kappa}`)
  const failedWrong = pairs.filter(([t, v]) => !t && !v).length
  assert.ok(hinted >= failedWrong * 0.5, `${hinted} of ${failedWrong} failing verdicts name a clause's hint`)
})

test('the LLM proposer, given failures whose feedback names a missing clause, adds that clause', async () => {
  const clause = incident.clauses.find((c) => c.id === 'check-recent-deploys')!
  const parent = { ...seedPrompt }
  assert.ok(!world.parseClauses(parent.system).includes(clause.id))
  const inputs = new Map(examples.map((e) => [e.key, e.input]))
  const proposer = new LlmProposer(
    models,
    { model: 'openai:sim-proposer', maxSentences: 14, maxPromptTokens: 400 },
    { campaignId: null },
    undefined,
    (id) => inputs.get(id),
  )
  const failures = examples.slice(0, 4).map((e, i) => ({
    itemId: e.key,
    score: 0.3,
    feedback: i === 1 ? 'passes every dimension' : `resolution: wrong: ${clause.feedback} [simulated judge]`,
  }))
  const proposal = await proposer.propose(parent, failures, Rng.fromSeed('sim-serve-test'))
  assert.ok(proposal, 'a proposal')
  assert.equal(proposal.operator, 'llm-reflect')
  assert.ok(world.parseClauses(proposal.content.system).includes(clause.id), proposal.content.system)
  assert.ok(proposal.content.system.startsWith(parent.system))
})

test('the served task file, applied: the gateway answers as simulated; the reference is the feedback', async () => {
  const yaml = await (await fetch(`${sim.url}/sim/v1/task-file?scenario=incident-triage&model=sim-large`)).text()
  assert.match(yaml, /^# \[simulation\]/)
  const file = parseTaskFile({ ...(parseYaml(yaml) as object), id: uniqueSuffix('sim-serve') })
  await applyTaskFile(database.db, { task: file, grader: file.grader as GraderSpec, actor: 'test', source: 'sim' })
  const resolver = new PromptResolver(database.db, 200)
  const app = createApi({ db: database.db, resolver, gateway: new Gateway({ db: database.db, resolver, models }) })
  const secret = (await createToken(database.db, { name: 'app', scopes: ['ingest'], createdBy: 'test' })).secret
  const call = apiCaller(app)
  const ex = examples[110]!
  const res = await call('POST', `/v1/tasks/${file.id}/complete`, secret, {
    key: 'user-1',
    input: ex.input,
    id: ex.key,
  })
  const body = (await res.json()) as { output: string; simulated: boolean; provider: string; model: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  assert.deepEqual([body.simulated, body.provider, body.model], [true, 'openai', 'openai:sim-large'])
  const inProcess = await simulation.complete({
    model: 'sim-large',
    messages: renderMessages(incident.task.prompt, ex.input),
    params: incident.task.prompt.params,
    simulation: { scenario: incident.id, exampleKey: ex.key },
  })
  assert.equal(body.output, inProcess.text)
  const fb = await call('POST', '/v1/feedback', secret, { task: file.id, id: ex.key, outcome: ex.reference })
  assert.equal(fb.status, 201, await fb.clone().text())
})

test('everything is labelled simulation; errors say what is wrong', async () => {
  const list = await fetch(`${sim.baseUrl}/models`)
  assert.equal(list.headers.get('x-kaizen-simulation'), 'true')
  const ids = ((await list.json()) as { data: Array<{ id: string; owned_by: string }> }).data
  assert.ok(ids.every((m) => m.owned_by === 'kaizen-simulation'))
  for (const id of ['sim-standard', 'sim-large', 'sim-judge', 'sim-proposer', 'refund-decision/sim-standard'])
    assert.ok(
      ids.some((m) => m.id === id),
      id,
    )

  const messages = renderMessages(seedPrompt, examples[0]!.input)
  const ok = await post({ model: 'incident-triage/sim-standard', messages })
  assert.equal(ok.status, 200)
  assert.equal(ok.headers.get('x-kaizen-simulation'), 'true')
  assert.equal(((await ok.json()) as { system_fingerprint: string }).system_fingerprint, 'kaizen-simulation')

  const cases: Array<[unknown, number, RegExp]> = [
    [{ model: 'sim-standard', messages, stream: true }, 400, /does not stream/],
    [{ model: 'gpt-4.1', messages }, 404, /no model "gpt-4.1".*sim-judge/],
    [
      { model: 'sim-standard', messages: [{ role: 'user', content: 'Incident INC-1 on x: y' }] },
      400,
      /sim\/v1\/examples/,
    ],
    [{ model: 'sim-judge', messages }, 400, /LLM-judge requests/],
  ]
  for (const [body, status, message] of cases) {
    const res = await post(body)
    assert.equal(res.status, status)
    assert.equal(res.headers.get('x-kaizen-simulation'), 'true')
    const error = ((await res.json()) as { error: { message: string; type: string } }).error
    assert.match(error.message, message)
  }
  // Through Kaizen's provider, an input the simulation did not generate is a definitive rejection.
  const provider = registry.resolve('openai:sim-standard')
  await assert.rejects(
    provider.complete({
      model: 'openai:sim-standard',
      messages: [{ role: 'user', content: 'hello' }],
      params: seedPrompt.params,
    }),
    (e: unknown) => isKaizenError(e) && e.code === 'PROVIDER_REJECTED' && /sim\/v1\/examples/.test(e.message),
  )
})

test('a simulated model error is a definitive rejection: recorded once, not retried', async () => {
  const flaky: Scenario = { ...incident, models: incident.models.map((m) => ({ ...m, errorRate: 1 })) }
  const server = await startSimServer({ port: 0, scenarios: [flaky], preload: 5 })
  try {
    const client = new ModelClient(database.db, registryFor(server.baseUrl), {
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20, maxRetryAfterMs: 100 },
    })
    const ex = server.service.examples({ count: '1' }).examples[0]!
    const request = {
      model: 'openai:sim-standard',
      messages: renderMessages(seedPrompt, ex.input),
      params: { temperature: 0.3, maxTokens: 77 },
    }
    const { record } = await client.complete(request, { campaignId: null, purpose: 'task' })
    assert.match(record.error ?? '', /HTTP 422.*simulated model error/)
    assert.equal(client.attempts, 1)
  } finally {
    await server.close()
  }
})

test('kaizen sim serve: a banner saying it is a simulation, the base URL to use, Ctrl-C stops it', async () => {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kaizen.js'), 'sim', 'serve', '--port', '0'], {
    cwd: REPO_ROOT,
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'close')
  try {
    const deadline = Date.now() + 60_000
    while (!/OPENAI_BASE_URL=(\S+)\n/.test(stderr) && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 100))
    assert.match(stderr, /^\[simulation\] Kaizen simulation server .* simulated, not a real model/m)
    const baseUrl = /^OPENAI_BASE_URL=(\S+)$/m.exec(stderr)?.[1]
    assert.ok(baseUrl, stderr)
    const res = await fetch(`${baseUrl}/models`)
    assert.equal(res.headers.get('x-kaizen-simulation'), 'true')
  } finally {
    child.kill('SIGINT')
  }
  const [code] = await exited
  assert.equal(code, 0, stderr)
  assert.match(stderr, /SIGINT: stopping the simulation server/)
  const bad = await kaizen(['sim', 'serve', '--judge-agreement', '1.5'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--judge-agreement "1.5" is out of range: use a number from 0 to 1/)
})
