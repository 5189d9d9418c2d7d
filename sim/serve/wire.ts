/**
 * @module sim/serve/wire
 * The OpenAI chat-completions wire as `kaizen sim serve` speaks it: the request fields it reads,
 * the completion and error bodies it writes. Everything it writes is labelled simulation
 * (`system_fingerprint: "kaizen-simulation"`, the `x-kaizen-simulation: true` header).
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'

import { SIM_FINGERPRINT } from '../../core/simulation-label.js'

export { SIM_FINGERPRINT, SIM_HEADER } from '../../core/simulation-label.js'

export interface WireMessage {
  role: string
  content: string
}

export interface ChatRequest {
  model: string
  messages: WireMessage[]
  /** The request's `seed`, used as the simulated answer's replicate (absent: 0). */
  replicate: number
}

/** An OpenAI-style error: the status, and the body's `error.type` and `error.code`. */
export class WireError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message)
  }

  get type(): string {
    if (this.status === 404) return 'not_found_error'
    return this.status >= 500 ? 'server_error' : 'invalid_request_error'
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

const Part = z.looseObject({ type: z.string().optional(), text: z.string().optional() })
const Body = z.looseObject({
  model: z.string().min(1),
  messages: z
    .array(z.looseObject({ role: z.string().min(1), content: z.union([z.string(), z.array(Part), z.null()]) }))
    .min(1),
  stream: z.boolean().nullish(),
  seed: z.number().int().nullish(),
})

/** Text content: a string, or the text parts joined. */
const flatten = (content: string | Array<z.infer<typeof Part>> | null): string =>
  typeof content === 'string' ? content : (content ?? []).map((p) => p.text ?? '').join('')

/** A request body read by its wire's schema: a malformed one, or `stream: true`, is a 400 saying why. */
function readRequest<T extends { stream?: boolean | null | undefined }>(
  schema: z.ZodType<T>,
  body: unknown,
  wire: string,
): T {
  const parsed = schema.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path.join('.') || '(body)'
    throw new WireError(400, `invalid ${wire} request: ${path}: ${issue?.message ?? 'invalid'}`, null, path)
  }
  if (parsed.data.stream)
    throw new WireError(
      400,
      'the Kaizen simulation server does not stream: send the request without "stream": true',
      'stream_not_supported',
      'stream',
    )
  return parsed.data
}

/** Read a chat-completions request; a malformed one or `stream: true` is a 400 saying why. */
export function parseChatRequest(body: unknown): ChatRequest {
  const data = readRequest(Body, body, 'chat-completions')
  return {
    model: data.model,
    messages: data.messages.map((m) => ({ role: m.role, content: flatten(m.content) })),
    replicate: data.seed ?? 0,
  }
}

/** The messages as the simulation provider shows them to the simulated model: `role: content` lines. */
export const promptTextOf = (messages: readonly WireMessage[]): string =>
  messages.map((m) => `${m.role}: ${m.content}`).join('\n')

/** A non-streaming chat completion with one choice, labelled simulation. */
export function completionBody(model: string, text: string, usage: { inputTokens: number; outputTokens: number }) {
  const { inputTokens, outputTokens } = usage
  return {
    id: `chatcmpl-sim-${randomBytes(9).toString('hex')}`,
    object: 'chat.completion' as const,
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: SIM_FINGERPRINT,
    choices: [
      { index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null },
    ],
    usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens },
  }
}

/**
 * The Anthropic Messages wire (`POST /v1/messages`), for a task model reached through the Anthropic
 * provider (ANTHROPIC_BASE_URL): the same simulated answers as the chat-completions wire. With a
 * forced tool (`tool_choice: { type: "tool" }`, structured output) an answer that is a JSON object is
 * that tool's input, as a model that calls the tool would send it; any other answer stays text.
 */
const Block = z.looseObject({ type: z.string(), text: z.string().optional() })
const MessagesBody = z.looseObject({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  system: z.union([z.string(), z.array(Block)]).optional(),
  messages: z
    .array(z.looseObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(Block)]) }))
    .min(1),
  stream: z.boolean().nullish(),
  tool_choice: z.looseObject({ type: z.string(), name: z.string().optional() }).optional(),
})

/** Read a Messages request as the chat request it amounts to (the system prompt first), and its forced tool. */
export function parseMessagesRequest(body: unknown): ChatRequest & { tool: string | null } {
  const data = readRequest(MessagesBody, body, 'messages')
  const system = data.system === undefined ? '' : flatten(data.system)
  return {
    model: data.model,
    messages: [
      ...(system ? [{ role: 'system', content: system }] : []),
      ...data.messages.map((m) => ({ role: m.role, content: flatten(m.content) })),
    ],
    replicate: 0,
    tool: data.tool_choice?.type === 'tool' ? (data.tool_choice.name ?? null) : null,
  }
}

/** A Messages response, labelled simulation by its id and the `x-kaizen-simulation` header. */
export function messageBody(
  model: string,
  text: string,
  usage: { inputTokens: number; outputTokens: number },
  tool: string | null,
) {
  const id = randomBytes(9).toString('hex')
  let input: unknown = null
  if (tool)
    try {
      input = JSON.parse(text)
    } catch {
      input = null
    }
  const asTool = tool !== null && typeof input === 'object' && input !== null && !Array.isArray(input)
  return {
    id: `msg_${SIM_FINGERPRINT}_${id}`,
    type: 'message' as const,
    role: 'assistant' as const,
    model,
    content: asTool
      ? [{ type: 'tool_use' as const, id: `toolu_sim_${id}`, name: tool, input }]
      : [{ type: 'text' as const, text }],
    stop_reason: asTool ? ('tool_use' as const) : ('end_turn' as const),
    stop_sequence: null,
    usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
  }
}

/** An error as the Anthropic API writes it. */
export const anthropicErrorBody = (err: WireError) => ({
  type: 'error' as const,
  error: { type: err.type, message: err.message },
})
