/**
 * @module sim/serve/task
 * Task answers: the simulated model of a scenario tier answering a chat-completions request, exactly
 * as the in-process simulation provider (providers/simulation.ts) answers the same messages: the
 * example is recognised from the last user message, the instructions are parsed into the scenario's
 * clauses, earlier user turns are few-shot demonstrations, and the answer, its token counts and its
 * latency are the world's. A simulated model error is a 422 (definitive: the same request fails
 * again, so Kaizen does not retry it).
 */
import { approxTokens } from '../../core/prompt.js'
import { normalHash } from '../../lib/hash.js'
import type { SimExample } from '../generator.js'
import type { SimWorld } from '../world.js'
import type { ExampleIndex } from './examples.js'
import { promptTextOf, WireError, type ChatRequest } from './wire.js'

export interface TaskAnswer {
  text: string
  usage: { inputTokens: number; outputTokens: number }
  /** The tier's simulated latency (the server waits it only when asked to: `latencyScale`). */
  latencyMs: number
  scenario: string
  exampleKey: string
  success: boolean
}

/** The example a message is about, in the first index that knows it. */
export function recognise(
  indexes: readonly ExampleIndex[],
  find: (index: ExampleIndex) => SimExample | null,
): { index: ExampleIndex; example: SimExample } | null {
  for (const index of indexes) {
    const example = find(index)
    if (example) return { index, example }
  }
  return null
}

/** The 400 for an input the simulation did not generate, naming where its inputs come from. */
export function unknownInput(indexes: readonly ExampleIndex[], what: string): WireError {
  const where = indexes.map((i) => `${i.world.scenario.id} (${i.size} handed out)`).join(', ')
  const scenario = indexes[0]?.world.scenario.id ?? 'SCENARIO'
  return new WireError(
    400,
    `${what} matches no input the simulation generated. The Kaizen simulation answers only inputs it generated: ` +
      `get them from GET /sim/v1/examples?scenario=${scenario}&count=100 (scenarios: ${where})`,
    'unknown_simulation_input',
    'messages',
  )
}

/**
 * The answer of a tier to a task request. `drifted` gives the world as the model answers now (a
 * scenario's model drifts in effect, sim/drift.ts); by default the scenario's own.
 */
export function answerTask(
  indexes: readonly ExampleIndex[],
  tier: string,
  request: ChatRequest,
  drifted: (world: SimWorld) => SimWorld = (w) => w,
): TaskAnswer {
  const users = request.messages.filter((m) => m.role === 'user')
  const last = users.at(-1)?.content ?? ''
  const found = recognise(indexes, (index) => index.findInText(last))
  if (!found) throw unknownInput(indexes, 'The last user message')
  const { index, example } = found
  const world = drifted(index.world)
  const promptText = promptTextOf(request.messages)
  const demos = users.slice(0, -1).map((m) => m.content)
  const answer = world.respond(promptText, example, tier, request.replicate, demos)
  if (answer.error)
    throw new WireError(
      422,
      `[simulation] ${tier} failed this request (a simulated model error; the same request fails again)`,
      'simulated_model_error',
    )
  const usage = world.usage(tier, promptText, answer.text)
  const model = world.model(tier)
  const z = normalHash(world.scenario.seed, tier, promptText, example.key, request.replicate, 'latency')
  const latencyMs = Math.round(
    model.latencyMs.median * Math.exp(model.latencyMs.spread * z) * (0.75 + usage.outputTokens / 800),
  )
  return {
    text: answer.text,
    usage,
    latencyMs,
    scenario: world.scenario.id,
    exampleKey: example.key,
    success: answer.success,
  }
}
