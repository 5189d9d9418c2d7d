/**
 * @module sim/serve/server
 * `kaizen sim serve`: the simulated world behind the OpenAI chat-completions wire, so the code a
 * real user runs (the OpenAI provider, the LLM judge, the LLM proposer, the gateway, the client)
 * runs offline end to end. Every response is labelled simulation: the `x-kaizen-simulation: true`
 * header, `system_fingerprint: "kaizen-simulation"`, models `owned_by: "kaizen-simulation"`.
 *
 *   POST /v1/chat/completions   task answers (tiers), judge verdicts (sim-judge), rewrites (sim-proposer)
 *   POST /v1/messages           the same, on the Anthropic Messages wire (ANTHROPIC_BASE_URL = the url)
 *   GET  /v1/models             the model names served
 *   GET  /sim/v1/examples       inputs the simulation answers, with the outcome to post as feedback
 *   GET  /sim/v1/task-file      a task file for a scenario on this server (YAML)
 *   GET  /sim/v1/drift          the scenario's drifts and when each started (sim/drift.ts)
 *   POST /sim/v1/drift/{id}     start a model drift now: a silent model update, slower answers
 *
 * ```ts
 * const sim = await startSimServer({ port: 0, scenarios, judgeAgreement: 0.9 })
 * new OpenAIProvider({ apiKey: 'none', baseURL: sim.baseUrl, prices }) // …
 * await sim.close()
 * ```
 */
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { serve } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { SimService, type SimServiceOptions } from './service.js'
import { anthropicErrorBody, SIM_HEADER, WireError } from './wire.js'

export interface SimServer {
  /** http://host:port */
  url: string
  /** url + '/v1': what OPENAI_BASE_URL (or the openai SDK's baseURL) is set to. */
  baseUrl: string
  port: number
  service: SimService
  close(): Promise<void>
}

const ROUTES =
  'POST /v1/chat/completions, POST /v1/messages, GET /v1/models, GET /sim/v1/examples, POST /sim/v1/labels, ' +
  'GET /sim/v1/task-file, GET /sim/v1/drift, POST /sim/v1/drift/{id}'

function fail(c: Context, err: unknown) {
  const wire =
    err instanceof WireError
      ? err
      : new WireError(500, `the simulation server failed: ${err instanceof Error ? err.message : String(err)}`)
  // Each wire's error body: Anthropic's on its Messages route, OpenAI's everywhere else.
  return c.json(c.req.path === '/v1/messages' ? anthropicErrorBody(wire) : wire.body(), wire.status as 400)
}

export function createSimApp(service: SimService): Hono {
  const app = new Hono()
  app.use('*', async (c, next) => {
    await next()
    c.header(SIM_HEADER, 'true')
  })
  // A model call on either wire: the JSON body in, the simulated latency waited, the answer out.
  const answering = (answer: (body: unknown) => { body: object; waitMs: number }) => async (c: Context) => {
    const request: unknown = await c.req.json().catch(() => {
      throw new WireError(400, 'the request body is not JSON')
    })
    const { body, waitMs } = answer(request)
    if (waitMs > 0) await sleep(waitMs, undefined, { signal: c.req.raw.signal }).catch(() => undefined)
    return c.json(body)
  }
  app.post('/v1/chat/completions', answering(service.complete.bind(service)))
  app.post('/v1/messages', answering(service.message.bind(service)))
  app.get('/v1/models', (c) => c.json(service.models()))
  app.get('/sim/v1/examples', (c) => c.json(service.examples(c.req.query())))
  app.post('/sim/v1/labels', async (c) =>
    c.body(service.labels(await c.req.text(), c.req.query()), 200, { 'content-type': 'application/x-ndjson' }),
  )
  app.get('/sim/v1/task-file', (c) =>
    c.body(service.taskFile(c.req.query()), 200, { 'content-type': 'application/yaml' }),
  )
  app.get('/sim/v1/drift', (c) => c.json(service.drifts(c.req.query())))
  app.post('/sim/v1/drift/:id', (c) => c.json(service.startDrift(c.req.param('id'), c.req.query())))
  app.notFound((c) =>
    fail(c, new WireError(404, `no route ${c.req.method} ${c.req.path}; the simulation server serves ${ROUTES}`)),
  )
  app.onError((err, c) => fail(c, err))
  return app
}

/** Start the server (port 0: any free port); `close()` stops it and drops open connections. */
export async function startSimServer(
  options: SimServiceOptions & { port?: number; host?: string },
): Promise<SimServer> {
  const service = new SimService(options)
  const app = createSimApp(service)
  const host = options.host ?? '127.0.0.1'
  const server = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8788 })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve())
    server.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  return {
    url,
    baseUrl: `${url}/v1`,
    port,
    service,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        if ('closeAllConnections' in server) server.closeAllConnections()
      }),
  }
}

/** The start-up lines: it is a simulation, what it serves, and the base URL to use. */
export function banner(sim: SimServer): string[] {
  const s = sim.service
  return [
    `[simulation] Kaizen simulation server (OpenAI chat completions, Anthropic messages) at ${sim.url}: every ` +
      'answer, verdict and ' +
      'rewrite it serves is simulated, not a real model.',
    `  scenarios: ${s.scenarios.map((x) => x.id).join(', ')}; models: ${s
      .models()
      .data.map((m) => m.id)
      .join(', ')}`,
    `  judge agreement with the truth: ${s.judgeAgreement}; inputs it answers: ${sim.url}/sim/v1/examples`,
    `  use it: OPENAI_BASE_URL=${sim.baseUrl} kaizen …   (task models openai:<tier>, judge openai:sim-judge, ` +
      'proposer openai:sim-proposer)',
    `  or for task models on the Anthropic wire: ANTHROPIC_BASE_URL=${sim.url} ANTHROPIC_API_KEY=any kaizen …   ` +
      '(task models anthropic:<tier>)',
  ]
}
