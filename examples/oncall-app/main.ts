/**
 * @module examples/oncall-app/main
 * An on-call assistant whose prompt Kaizen serves and improves (docs/your-own-prompt.md). It
 * answers incident reports and tells Kaizen about each call in one of three ways:
 *
 * - `--via client` (default): `kaizen/client` resolves the prompt (canary routing, sticky per
 *   incident), the app renders it, calls its model with the `openai` SDK and records the call;
 * - `--via gateway`: Kaizen makes the call (`complete`) and records it;
 * - `--via otlp`: the app calls its model and exports an OpenTelemetry GenAI span (OTLP/HTTP JSON).
 *
 * Calls are recorded under `<run>:<case>:<pass>` (`--run`, default a new UUID), so sending the same
 * cases again with the same `--run` stores nothing twice.
 *
 * With `--outcomes`, a case's known resolution is sent as feedback (the record's reference). Cases
 * come from a JSON or JSONL file, or a URL (e.g. the examples `kaizen sim serve` hands out):
 * `{ "key", "input": {…}, "reference"?: {…} }` per case.
 *
 *   KAIZEN_TOKEN=kz_… OPENAI_BASE_URL=http://127.0.0.1:8788/v1 npx tsx examples/oncall-app/main.ts \
 *     --cases 'http://127.0.0.1:8788/sim/v1/examples?scenario=incident-triage&count=100' --via gateway --outcomes
 */
import { createHash, randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import OpenAI from 'openai'
import { KaizenClient, KaizenClientError } from 'kaizen/client'

interface Case {
  key: string
  input: Record<string, string>
  reference?: Record<string, unknown>
}

const { values: opts } = parseArgs({
  options: {
    cases: { type: 'string' },
    via: { type: 'string', default: 'client' },
    outcomes: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    rate: { type: 'string', default: '0' },
    task: { type: 'string', default: process.env.KAIZEN_TASK ?? 'oncall-triage' },
    run: { type: 'string', default: randomUUID() },
  },
})
const fail = (message: string): never => {
  console.error(message)
  process.exit(2)
}
const via = ['client', 'gateway', 'otlp'].includes(opts.via) ? opts.via : fail('--via: client, gateway or otlp')
const repeat = Number(opts.repeat)
const rate = Number(opts.rate)
if (!(Number.isInteger(repeat) && repeat >= 0)) fail('--repeat: a whole number of passes (0: until Ctrl-C)')
if (!(rate >= 0)) fail('--rate: requests per second (0: as fast as possible)')
const token = process.env.KAIZEN_TOKEN ?? fail('Set KAIZEN_TOKEN (kaizen token create --scopes ingest,read)')
const baseUrl = process.env.KAIZEN_URL ?? 'http://127.0.0.1:8787'
const task = opts.task

const kaizen = new KaizenClient({
  baseUrl,
  token,
  onError: (err, records) => console.error(`kaizen: ${records.length} call(s) not recorded: ${err.message}`),
})
const openai = new OpenAI({
  apiKey: process.env.OPENAI_API_KEY ?? 'unused',
  ...(process.env.OPENAI_BASE_URL ? { baseURL: process.env.OPENAI_BASE_URL } : {}),
})

/** The cases: a URL answering `{ examples: [...] }` or a list, or a JSON / JSONL file. */
async function loadCases(source: string): Promise<Case[]> {
  let text: string
  if (/^https?:/.test(source)) {
    const res = await fetch(source)
    text = await res.text()
    if (!res.ok) return fail(`--cases ${source}: ${res.status} ${text}`)
  } else text = await readFile(source, 'utf8')
  const trimmed = text.trim()
  const data: unknown =
    trimmed.startsWith('{') && !trimmed.includes('\n{')
      ? JSON.parse(trimmed)
      : trimmed.startsWith('[')
        ? JSON.parse(trimmed)
        : trimmed.split('\n').map((line) => JSON.parse(line) as unknown)
  const list = Array.isArray(data) ? data : (data as { examples?: unknown[] }).examples
  if (!Array.isArray(list) || list.length === 0) return fail(`--cases ${source}: no cases (expected key and input)`)
  return list as Case[]
}

/** How a recorded call is named for feedback: Kaizen's record id, or the task and the call's own id. */
type Recorded = { trafficId: string } | { task: string; id: string }

/** The app's own model call, with the prompt Kaizen resolved. */
async function callModel(
  content: { model: string; params: { temperature: number; maxTokens: number } },
  messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }>,
) {
  const started = performance.now()
  const res = await openai.chat.completions.create({
    model: content.model.replace(/^openai:/, ''),
    messages,
    temperature: content.params.temperature,
    max_completion_tokens: content.params.maxTokens,
  })
  return {
    output: res.choices[0]?.message.content ?? '',
    latencyMs: performance.now() - started,
    inputTokens: res.usage?.prompt_tokens ?? 0,
    outputTokens: res.usage?.completion_tokens ?? 0,
    // `kaizen sim serve` says its answers are simulated; Kaizen keeps the label on the record.
    simulated: res.system_fingerprint === 'kaizen-simulation',
  }
}

/**
 * The id a call is recorded under: the run, the case and the pass. Sending the same cases again with
 * the same `--run` stores nothing twice (Kaizen keeps one record per task and id).
 */
let pass = 0
const callId = (c: Case) => `${opts.run}:${c.key}:${pass}`
const hex = (text: string, chars: number) => createHash('sha256').update(text).digest('hex').slice(0, chars)

/** One case through the client: resolve, render, call, record. Returns the record's id. */
async function viaClient(c: Case): Promise<Recorded> {
  const prompt = await kaizen.resolve(task, c.key)
  const messages = kaizen.render(prompt.version, c.input)
  const call = await callModel(prompt.version.content, messages)
  const id = kaizen.record({ prompt, input: c.input, provider: 'openai', id: callId(c), ...call })
  return { task, id }
}

/** One case through the gateway: Kaizen resolves, renders, calls and records. */
async function viaGateway(c: Case): Promise<Recorded> {
  const r = await kaizen.complete({ task, key: c.key, input: c.input, id: callId(c) })
  return { trafficId: r.trafficId }
}

const attr = (key: string, value: string | number | boolean) => ({
  key,
  value:
    typeof value === 'number'
      ? { intValue: String(value) }
      : typeof value === 'boolean'
        ? { boolValue: value }
        : { stringValue: value },
})

/** One case as an instrumented app reports it: its own call, then a GenAI span over OTLP/HTTP JSON. */
async function viaOtlp(c: Case): Promise<Recorded> {
  const prompt = await kaizen.resolve(task, c.key)
  const messages = kaizen.render(prompt.version, c.input)
  const start = BigInt(Date.now()) * 1_000_000n
  const call = await callModel(prompt.version.content, messages)
  const [traceId, spanId] = [hex(`trace:${callId(c)}`, 32), hex(`span:${callId(c)}`, 16)]
  const span = {
    traceId,
    spanId,
    name: `chat ${prompt.version.content.model}`,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + BigInt(Math.round(call.latencyMs * 1e6))),
    attributes: [
      attr('gen_ai.operation.name', 'chat'),
      attr('gen_ai.provider.name', 'openai'),
      attr('gen_ai.request.model', prompt.version.content.model),
      attr('gen_ai.usage.input_tokens', call.inputTokens),
      attr('gen_ai.usage.output_tokens', call.outputTokens),
      attr('kaizen.task', task),
      attr('kaizen.prompt_version', prompt.version.id),
      attr('kaizen.routing_key', c.key),
      attr('kaizen.output', call.output),
      attr('kaizen.simulated', call.simulated),
      ...Object.entries(c.input).map(([k, v]) => attr(`kaizen.input.${k}`, v)),
      ...(prompt.canaryId ? [attr('kaizen.canary_id', prompt.canaryId), attr('kaizen.arm', prompt.arm ?? '')] : []),
    ],
  }
  const res = await fetch(`${baseUrl}/otlp/v1/traces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }),
  })
  if (!res.ok) throw new Error(`OTLP export refused: ${res.status} ${await res.text()}`)
  return { task, id: `${traceId}:${spanId}` }
}

const send = { client: viaClient, gateway: viaGateway, otlp: viaOtlp }[via as 'client' | 'gateway' | 'otlp']
let stopping = false
process.on('SIGINT', () => (stopping = true))
process.on('SIGTERM', () => (stopping = true))

try {
  const cases = await loadCases(opts.cases ?? fail('--cases: a file or URL of cases ({ key, input, reference? })'))
  let sent = 0
  let failed = 0
  let outcomes = 0
  for (pass = 0; (repeat === 0 || pass < repeat) && !stopping; pass++) {
    for (const c of cases) {
      if (stopping) break
      const started = Date.now()
      try {
        const record = await send(c)
        sent++
        if (opts.outcomes && c.reference) {
          await kaizen.feedback({ ...record, outcome: c.reference })
          outcomes++
        }
      } catch (err) {
        failed++
        if (failed <= 5) console.error(`case ${c.key}: ${err instanceof Error ? err.message : String(err)}`)
      }
      if (rate > 0) await new Promise((r) => setTimeout(r, Math.max(0, 1000 / rate - (Date.now() - started))))
    }
  }
  await kaizen.close()
  const flushed = kaizen.recorded
  console.log(
    `Sent ${sent} case(s) via ${via} (${failed} failed), ${outcomes} outcome(s); recorded by the client: ` +
      `${flushed.stored} stored, ${flushed.duplicates} already stored, ${flushed.failed} not stored.`,
  )
  if (failed > 0) process.exitCode = 1
} catch (err) {
  if (err instanceof KaizenClientError) console.error(`kaizen: ${err.message} (${err.code})`)
  else console.error(err instanceof Error ? err.message : String(err))
  process.exitCode = 1
}
