/**
 * @module api/app
 * The HTTP API (Hono + zod-openapi): every body and parameter validated by zod, every failure the
 * typed JSON error of `api/errors.ts`, the OpenAPI description served at `/openapi.json`,
 * Prometheus metrics at `/metrics` (the API's own, plus grading, campaign and canary metrics read
 * from the database: api/store-metrics.ts). Routes live in `api/routes/`, one file per resource.
 *
 *   const app = createApi({ db, resolver: new PromptResolver(db) })
 *   serve({ fetch: app.fetch, port: 8787 })
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { routePath } from 'hono/route'
import { KaizenError, fromZodError } from '../core/errors.js'
import type { Db } from '../db/client.js'
import type { Gateway } from '../serving/gateway.js'
import type { ProviderRegistry } from '../providers/registry.js'
import type { PromptResolver } from '../serving/resolver.js'
import { Redactor } from '../privacy/redact.js'
import { TokenCache, requireScope, type AuthEnv } from './auth.js'
import { errorBody, HTTP_STATUS, onError } from './errors.js'
import { createMetrics, type ApiMetrics } from './metrics.js'
import { StoreMetrics } from './store-metrics.js'
import { registerComplete } from './routes/complete.js'
import { registerEstimate } from './routes/estimate.js'
import { EnvSchema } from '../runtime/env.js'
import { registerFeedback } from './routes/feedback.js'
import { registerMonitor } from './routes/monitor.js'
import { pricingOf } from '../db/queries/preflight.js'
import { registerOperations, type TemporalAccess } from './routes/operations.js'
import { registerOtlp } from './routes/otlp.js'
import { registerPrompt } from './routes/prompt.js'
import { registerTasks } from './routes/tasks.js'
import { registerTraffic } from './routes/traffic.js'

export interface ApiDeps {
  db: Db
  resolver: PromptResolver
  /** Gateway mode (POST /v1/tasks/{task}/complete); without it the route is not served. */
  gateway?: Gateway
  /** Campaign and canary routes (operate, approve); without it they are not served. */
  temporal?: TemporalAccess
  metrics?: ApiMetrics
  tokens?: TokenCache
  /** Redacts personal data and secrets before storage (default: the built-in settings). */
  redactor?: Redactor
  /**
   * Checks that a task's models have a provider when a task is applied (absent: not checked), and
   * prices campaign estimates (absent: POST /v1/tasks/{task}/estimate is not served).
   */
  providers?: ProviderRegistry
  /** Calls a worker has in flight at once, for estimates (default: KAIZEN_EVAL_CONCURRENCY's). */
  evalConcurrency?: number
  /** Largest request body accepted, in bytes (default 10 MiB): larger ones get 413. */
  maxBodyBytes?: number
}

export function createApi(deps: ApiDeps) {
  const metrics = deps.metrics ?? createMetrics()
  // Grading, campaign and canary metrics come from the database (every worker's work), read at scrape time.
  if (!metrics.registry.getSingleMetric('kaizen_campaigns')) new StoreMetrics(deps.db).register(metrics.registry)
  const tokens = deps.tokens ?? new TokenCache(deps.db)
  const maxBodyBytes = deps.maxBodyBytes ?? 10 * 1024 * 1024
  const app = new OpenAPIHono<AuthEnv>({
    // A body or parameter that fails its schema: 400 naming every JSON path at fault.
    defaultHook: (result, c) => {
      if (!result.success) {
        const where = result.target === 'json' ? 'request body' : `request ${result.target}`
        const err = fromZodError(result.error, where)
        return c.json(errorBody(err), HTTP_STATUS[err.code])
      }
      return undefined
    },
  })
  app.onError(onError)
  app.notFound((c) =>
    c.json(
      errorBody(new KaizenError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}; /openapi.json lists the API`)),
      404,
    ),
  )

  app.use('*', async (c, next) => {
    const started = performance.now()
    await next()
    const route = routePath(c)
    metrics.requests.inc({ method: c.req.method, route, status: String(c.res.status) })
    metrics.requestSeconds.observe({ method: c.req.method, route }, (performance.now() - started) / 1000)
  })
  const limitBody = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw new KaizenError(
        'PAYLOAD_TOO_LARGE',
        `the request body is larger than ${maxBodyBytes} bytes; send smaller batches`,
      )
    },
  })
  // Touching the raw body makes the Node adapter build a full fetch Request (with an
  // AbortController) per call, garbage that lived long enough to be promoted and showed up as GC
  // pauses in resolve's p99. So: GET and HEAD have no body; a declared Content-Length (which Node's
  // parser enforces: a body never runs past it) is compared directly; only chunked bodies go
  // through the streaming limiter. The shortcut relies on serving through @hono/node-server
  // (`kaizen serve`); another runtime would need the streaming limiter for every body.
  app.use('*', (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const declared = c.req.header('content-length')
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined && /^\d+$/.test(declared)) {
      if (Number(declared) > maxBodyBytes)
        throw new KaizenError(
          'PAYLOAD_TOO_LARGE',
          `the request body is larger than ${maxBodyBytes} bytes; send smaller batches`,
        )
      return next()
    }
    return limitBody(c, next)
  })

  app.get('/healthz', (c) => c.json({ ok: true }))
  app.use('/metrics', requireScope(tokens, 'read'))
  app.get('/metrics', async (c) =>
    c.text(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  )

  const redactor = deps.redactor ?? new Redactor()
  // Records sent without a cost are priced at their time by the providers' price table.
  const providers = deps.providers
  const cost = providers ? { cost: providers.cost.bind(providers) } : {}
  registerTraffic(app, { db: deps.db, tokens, metrics, redactor, ...cost })
  registerOtlp(app, { db: deps.db, tokens, metrics, redactor, ...cost })
  registerFeedback(app, { db: deps.db, tokens, metrics, redactor })
  registerPrompt(app, { resolver: deps.resolver, tokens, metrics })
  registerTasks(app, { db: deps.db, tokens, ...(deps.providers ? { providers: deps.providers } : {}) })
  // Starts and schedules check a spend budget against the providers' prices, when this server has them.
  const evalConcurrency = deps.evalConcurrency ?? EnvSchema.shape.KAIZEN_EVAL_CONCURRENCY.parse(undefined)
  const pricing = providers ? { pricing: pricingOf({ providers, evalConcurrency }) } : {}
  if (providers) registerEstimate(app, { db: deps.db, providers, evalConcurrency, tokens })
  if (deps.gateway) registerComplete(app, { gateway: deps.gateway, tokens, metrics })
  if (deps.temporal) {
    registerOperations(app, { db: deps.db, temporal: deps.temporal, tokens, ...pricing })
    registerMonitor(app, { db: deps.db, temporal: deps.temporal, tokens, ...pricing })
  }

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token from `kaizen token create`',
  })
  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'Kaizen API', version: '1' } })
  return app
}

export type KaizenApi = ReturnType<typeof createApi>
