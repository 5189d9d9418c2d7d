/**
 * @module examples/support-app/main
 * A small support application whose prompt is served by Kaizen, through `kaizen/client`
 * (README.md beside this file has the commands). By default the app makes the model call itself:
 * it resolves the prompt for the customer (canary routing, sticky per customer), renders it, calls
 * its model with the `openai` SDK, and records the call. With `--gateway` Kaizen makes the call
 * (`complete`) and records it.
 *
 *   KAIZEN_TOKEN=kz_… OPENAI_BASE_URL=http://127.0.0.1:11434/v1 \
 *     npx tsx examples/support-app/main.ts "I was charged twice for March" [--gateway]
 */
import OpenAI from 'openai'
import { KaizenClient, KaizenClientError, type ResolvedPrompt } from 'kaizen/client'

const TASK = process.env.KAIZEN_TASK ?? 'support-reply'
const customer = process.env.CUSTOMER_ID ?? 'customer-42'
const tier = process.env.CUSTOMER_TIER ?? 'gold'
const args = process.argv.slice(2)
const gateway = args.includes('--gateway')
const ticket = args.filter((a) => !a.startsWith('--')).join(' ') || 'I was charged twice for my March invoice.'

const token = process.env.KAIZEN_TOKEN
if (!token) {
  console.error('Set KAIZEN_TOKEN: npx kaizen token create --name support-app --scopes read,ingest')
  process.exit(2)
}

const kaizen = new KaizenClient({
  baseUrl: process.env.KAIZEN_URL ?? 'http://127.0.0.1:8787',
  token,
  onError: (err, records) => console.error(`kaizen: ${records.length} call(s) not recorded: ${err.message}`),
})

const label = (p: { task: string; version: { id: string; number: number }; arm: string | null }) =>
  `${p.task}@${p.version.number} (${p.version.id}, ${p.arm ?? 'production'})`

/** The app calls its model itself, and tells Kaizen what happened. */
async function direct(): Promise<void> {
  const prompt: ResolvedPrompt = await kaizen.resolve(TASK, customer)
  if (prompt.stale) console.error(`kaizen unreachable, using the cached prompt: ${prompt.error?.message}`)
  const input = { ticket, tier }
  const messages = kaizen.render(prompt.version, input)
  const { model, params } = prompt.version.content
  const openai = new OpenAI({
    apiKey: process.env.OPENAI_API_KEY ?? 'unused',
    ...(process.env.OPENAI_BASE_URL ? { baseURL: process.env.OPENAI_BASE_URL } : {}),
  })
  const started = performance.now()
  try {
    const res = await openai.chat.completions.create({
      model: model.replace(/^openai:/, ''),
      messages,
      temperature: params.temperature,
      max_completion_tokens: params.maxTokens,
    })
    const output = res.choices[0]?.message.content ?? ''
    const id = kaizen.record({
      prompt,
      input,
      output,
      provider: 'openai',
      latencyMs: performance.now() - started,
      inputTokens: res.usage?.prompt_tokens ?? 0,
      outputTokens: res.usage?.completion_tokens ?? 0,
    })
    console.log(`${label(prompt)} for ${customer}`)
    console.log(`Reply: ${output}`)
    console.log(`Call ${id} queued for recording.`)
  } catch (err) {
    // A failed call is traffic too: the canary counts errors.
    const message = err instanceof Error ? err.message : String(err)
    kaizen.record({
      prompt,
      input,
      output: null,
      error: message,
      provider: 'openai',
      latencyMs: performance.now() - started,
    })
    throw err
  }
}

/** Kaizen makes the call (resolve, render, model, record) and answers. */
async function viaGateway(): Promise<void> {
  const r = await kaizen.complete({ task: TASK, key: customer, input: { ticket, tier } })
  console.log(`${label({ task: TASK, ...r })} for ${customer}, via the gateway`)
  console.log(`Reply: ${r.output}`)
  console.log(`Recorded by Kaizen as ${r.trafficId}${r.recorded ? '' : ' (not recorded: its database was away)'}.`)
}

try {
  await (gateway ? viaGateway() : direct())
} catch (err) {
  if (err instanceof KaizenClientError)
    console.error(`kaizen: ${err.message} (${err.code}${err.status === null ? '' : `, HTTP ${err.status}`})`)
  else console.error(err instanceof Error ? err.message : String(err))
  process.exitCode = 1
} finally {
  const sent = await kaizen.close()
  if (sent.stored + sent.duplicates + sent.failed > 0)
    console.log(`Recorded: ${sent.stored} stored, ${sent.duplicates} already stored, ${sent.failed} not stored.`)
}
