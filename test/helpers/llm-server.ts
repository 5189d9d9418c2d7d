/**
 * A local LLM server for tests and benchmarks (node:http only). It speaks two real wire formats:
 *
 * - OpenAI chat completions: `POST /v1/chat/completions` (openai SDK: `baseURL: server.openaiBaseUrl`)
 * - Anthropic messages:      `POST /v1/messages`         (@anthropic-ai/sdk: `baseURL: server.anthropicBaseUrl`)
 *
 * Every request is recorded as an {@link LlmCall} and answered by a {@link LlmResponder}
 * (default: the text "ok"). Streaming is not supported (a `stream: true` request gets a 400).
 *
 * ```ts
 * const server = await startLlmServer({
 *   latencyMs: 50,
 *   responder: (call) => ({ kind: 'json', value: { label: 'p1' } }),
 * })
 * const openai = new OpenAI({ apiKey: 'test', baseURL: server.openaiBaseUrl, maxRetries: 0 })
 * const anthropic = new Anthropic({ apiKey: 'test', baseURL: server.anthropicBaseUrl, maxRetries: 0 })
 * …
 * await server.close()
 * ```
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface LlmCall {
  api: 'openai' | 'anthropic'
  model: string
  /** OpenAI: the system (and developer) messages joined with blank lines; Anthropic: top-level `system`. */
  system: string | null
  /** The conversation without system messages, content flattened to text. */
  messages: Array<{ role: string; content: string }>
  /** The parsed request body, as sent. */
  body: any
  headers: Record<string, string | string[] | undefined>
  /** 0-based arrival order (restarts at 0 after resetStats()). */
  index: number
}

export type LlmReply =
  | { kind: 'text'; text: string; inputTokens?: number; outputTokens?: number }
  /**
   * Structured output. OpenAI: message.content = JSON.stringify(value). Anthropic: one `tool_use`
   * block named after `body.tool_choice.name` (or `body.tools[0].name`) with `input: value`,
   * stop_reason 'tool_use'.
   */
  | { kind: 'json'; value: unknown; inputTokens?: number; outputTokens?: number }
  /** Structured output that is not valid JSON. OpenAI: content = text; Anthropic: a text block (no tool_use). */
  | { kind: 'malformed'; text: string }
  | { kind: 'error'; status: number; message?: string; headers?: Record<string, string> }
  /** Wait `ms` (abandoned quietly if the client disconnects), then reply with `then`. */
  | { kind: 'delay'; ms: number; then: LlmReply }

export type LlmResponder = (call: LlmCall) => LlmReply | Promise<LlmReply>

export interface LlmServer {
  /** http://127.0.0.1:<port> */
  url: string
  /** url + '/v1' (the openai SDK's baseURL) */
  openaiBaseUrl: string
  /** url (the Anthropic SDK's baseURL) */
  anthropicBaseUrl: string
  calls: LlmCall[]
  callCount(): number
  /** The largest number of requests handled at once since start (or the last resetStats()). */
  maxInFlight(): number
  /** Clears calls, restarts indexes at 0 and sets maxInFlight to the current in-flight count. */
  resetStats(): void
  setResponder(fn: LlmResponder): void
  close(): Promise<void>
}

const DEFAULT_RESPONDER: LlmResponder = () => ({ kind: 'text', text: 'ok' })

const estimateTokens = (chars: number) => Math.ceil(chars / 4)

/** A string, or an array of content parts: the text parts joined (tool results included). */
function flattenContent(content: unknown): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) {
    const out: string[] = []
    for (const part of content) {
      if (typeof part === 'string') out.push(part)
      else if (part && typeof part === 'object') {
        const p = part as Record<string, unknown>
        if (typeof p.text === 'string') out.push(p.text)
        else if (p.type === 'tool_result' && p.content !== undefined) out.push(flattenContent(p.content))
        else if (p.type === 'tool_use' && p.input !== undefined) out.push(JSON.stringify(p.input))
      }
    }
    return out.join('')
  }
  if (content == null) return ''
  return typeof content === 'object' ? JSON.stringify(content) : String(content)
}

function openaiCall(body: any): Omit<LlmCall, 'headers' | 'index'> {
  const systems: string[] = []
  const messages: Array<{ role: string; content: string }> = []
  for (const m of Array.isArray(body?.messages) ? body.messages : []) {
    const role = String(m?.role ?? 'user')
    const content = flattenContent(m?.content)
    if (role === 'system' || role === 'developer') systems.push(content)
    else messages.push({ role, content })
  }
  return {
    api: 'openai',
    model: String(body?.model ?? ''),
    system: systems.length ? systems.join('\n\n') : null,
    messages,
    body,
  }
}

function anthropicCall(body: any): Omit<LlmCall, 'headers' | 'index'> {
  const messages = (Array.isArray(body?.messages) ? body.messages : []).map((m: any) => ({
    role: String(m?.role ?? 'user'),
    content: flattenContent(m?.content),
  }))
  const system = body?.system == null ? null : flattenContent(body.system)
  return { api: 'anthropic', model: String(body?.model ?? ''), system, messages, body }
}

const promptChars = (call: LlmCall) =>
  (call.system?.length ?? 0) + call.messages.reduce((n, m) => n + m.content.length, 0)

const OPENAI_ERROR_TYPES: Record<number, [type: string, code: string | null]> = {
  400: ['invalid_request_error', null],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['permission_error', null],
  404: ['invalid_request_error', 'model_not_found'],
  408: ['timeout', null],
  409: ['invalid_request_error', null],
  413: ['invalid_request_error', 'request_too_large'],
  422: ['invalid_request_error', null],
  429: ['rate_limit_error', 'rate_limit_exceeded'],
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
}

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`

interface Wire {
  status: number
  body: unknown
  headers?: Record<string, string>
}

function errorWire(
  api: 'openai' | 'anthropic',
  status: number,
  message: string,
  headers?: Record<string, string>,
): Wire {
  if (api === 'openai') {
    const [type, code] =
      OPENAI_ERROR_TYPES[status] ?? (status >= 500 ? ['server_error', null] : ['invalid_request_error', null])
    return { status, headers, body: { error: { message, type, param: null, code } } }
  }
  const type = ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error')
  return { status, headers, body: { type: 'error', error: { type, message } } }
}

function replyWire(call: LlmCall, reply: Exclude<LlmReply, { kind: 'delay' }>): Wire {
  if (reply.kind === 'error') {
    return errorWire(call.api, reply.status, reply.message ?? `simulated error ${reply.status}`, reply.headers)
  }
  const text = reply.kind === 'json' ? (JSON.stringify(reply.value) ?? 'null') : reply.text
  const inputTokens = (reply.kind !== 'malformed' ? reply.inputTokens : undefined) ?? estimateTokens(promptChars(call))
  const outputTokens = (reply.kind !== 'malformed' ? reply.outputTokens : undefined) ?? estimateTokens(text.length)
  if (call.api === 'openai') {
    return {
      status: 200,
      body: {
        id: newId('chatcmpl-'),
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: call.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: inputTokens,
          completion_tokens: outputTokens,
          total_tokens: inputTokens + outputTokens,
        },
      },
    }
  }
  const body = call.body ?? {}
  const content =
    reply.kind === 'json'
      ? [
          {
            type: 'tool_use',
            id: newId('toolu_'),
            name: String(body.tool_choice?.name ?? body.tools?.[0]?.name ?? 'output'),
            input: reply.value,
          },
        ]
      : [{ type: 'text', text }]
  return {
    status: 200,
    body: {
      id: newId('msg_'),
      type: 'message',
      role: 'assistant',
      model: call.model,
      content,
      stop_reason: reply.kind === 'json' ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: outputTokens },
    },
  }
}

/** Resolves true after ms, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  if (ms <= 0) return Promise.resolve(true)
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
    // A client that disconnects mid-body: no 'end'; settle anyway (a no-op after 'end').
    req.on('close', () => reject(new Error('client disconnected before the request body ended')))
  })
}

export async function startLlmServer(
  options: { latencyMs?: number; responder?: LlmResponder; port?: number } = {},
): Promise<LlmServer> {
  const latencyMs = options.latencyMs ?? 0
  let responder: LlmResponder = options.responder ?? DEFAULT_RESPONDER
  const calls: LlmCall[] = []
  let nextIndex = 0
  let inFlight = 0
  let maxInFlight = 0
  /** One per request being handled; all aborted when the server closes, so pending delays end at once. */
  const pending = new Set<AbortController>()

  const send = (res: ServerResponse, wire: Wire, api: 'openai' | 'anthropic' | null) => {
    if (res.destroyed || res.writableEnded) return
    const payload = JSON.stringify(wire.body)
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      ...(api === 'openai'
        ? { 'x-request-id': newId('req_') }
        : api === 'anthropic'
          ? { 'request-id': newId('req_') }
          : {}),
      ...(wire.headers ?? {}),
    }
    res.writeHead(wire.status, headers)
    res.end(payload)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '')
    const api =
      req.method === 'POST' && path === '/v1/chat/completions'
        ? 'openai'
        : req.method === 'POST' && path === '/v1/messages'
          ? 'anthropic'
          : null
    const raw = await readBody(req)
    if (api === null) {
      send(
        res,
        {
          status: 404,
          body: { error: { message: `no route for ${req.method} ${req.url}`, type: 'not_found_error', code: null } },
        },
        null,
      )
      return
    }
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      send(res, errorWire(api, 400, 'request body is not valid JSON'), api)
      return
    }
    const call: LlmCall = {
      ...(api === 'openai' ? openaiCall(body) : anthropicCall(body)),
      headers: { ...req.headers },
      index: nextIndex++,
    }
    calls.push(call)
    if (body?.stream === true) {
      send(res, errorWire(api, 400, 'streaming is not supported by the test LLM server'), api)
      return
    }
    let reply: LlmReply
    try {
      reply = await responder(call)
    } catch (err) {
      reply = {
        kind: 'error',
        status: 500,
        message: `responder failed: ${err instanceof Error ? err.message : String(err)}`,
      }
    }
    if (!(await sleep(latencyMs, signal))) return
    while (reply.kind === 'delay') {
      if (!(await sleep(reply.ms, signal))) return
      reply = reply.then
    }
    send(res, replyWire(call, reply), api)
  }

  const server = createServer((req, res) => {
    inFlight++
    if (inFlight > maxInFlight) maxInFlight = inFlight
    const abort = new AbortController()
    pending.add(abort)
    let done = false
    // 'close' fires both when the response has been sent and when the client disconnects first.
    res.once('close', () => {
      if (done) return
      done = true
      inFlight--
      pending.delete(abort)
      if (!res.writableFinished) abort.abort()
    })
    handle(req, res, abort.signal).catch((err) => {
      if (!res.headersSent && !res.destroyed) {
        send(res, { status: 500, body: { error: { message: String(err), type: 'server_error', code: null } } }, null)
      } else res.destroy()
    })
  })
  // Clients (the SDKs' keep-alive agents, benchmarks) reuse sockets; keep idle ones open a while.
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 66_000
  server.requestTimeout = 0
  server.maxRequestsPerSocket = 0

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`

  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: url,
    calls,
    callCount: () => calls.length,
    maxInFlight: () => maxInFlight,
    resetStats() {
      calls.length = 0
      nextIndex = 0
      maxInFlight = inFlight
    },
    setResponder(fn) {
      responder = fn
    },
    close() {
      for (const abort of pending) abort.abort()
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      })
    },
  }
}
