/**
 * @module cli/api-server
 * The HTTP API (api/app.ts) listening on a port, with its prompt resolver and gateway: for
 * `kaizen serve` and the task-file demo of `kaizen up` / `kaizen demo`.
 */
import { serve } from '@hono/node-server'
import { createApi, type ApiDeps } from '../api/app.js'
import { TokenCache } from '../api/auth.js'
import { createConsole } from '../console/app.js'
import { Sessions } from '../console/session.js'
import type { ActivityDeps } from '../activities/index.js'
import { KaizenError } from '../core/errors.js'
import { Gateway } from '../serving/gateway.js'
import { PromptResolver } from '../serving/resolver.js'

export interface ApiServer {
  /** http://host:port */
  url: string
  close(): Promise<void>
}

export async function startApiServer(
  deps: Pick<ActivityDeps, 'db' | 'models' | 'providers' | 'redactor' | 'evalConcurrency'>,
  options: {
    host: string
    port: number
    temporal?: ApiDeps['temporal']
    consoleSecret?: string | undefined
    /** Identity from an SSO proxy's header (KAIZEN_CONSOLE_TRUSTED_HEADER, KAIZEN_CONSOLE_TRUSTED_PROXIES). */
    trustedHeader?: { name: string; proxies: string[] } | undefined
  },
): Promise<ApiServer> {
  const resolver = new PromptResolver(deps.db)
  const tokens = new TokenCache(deps.db)
  const redactor = deps.redactor ? { redactor: deps.redactor } : {}
  const gateway = new Gateway({ db: deps.db, resolver, models: deps.models, ...redactor })
  const app = createApi({
    db: deps.db,
    resolver,
    gateway,
    providers: deps.providers,
    evalConcurrency: deps.evalConcurrency,
    tokens,
    ...(options.temporal ? { temporal: options.temporal } : {}),
    ...redactor,
  })
  // The operator console at / (console/app.tsx), beside the API.
  app.route(
    '/',
    createConsole({
      db: deps.db,
      tokens,
      sessions: new Sessions(options.consoleSecret),
      ...(options.trustedHeader ? { trustedHeader: options.trustedHeader } : {}),
      ...(options.temporal ? { temporal: options.temporal } : {}),
    }),
  )
  const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve())
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL'
          ? new KaizenError(
              'CONFIG_ERROR',
              `cannot listen on ${options.host}:${options.port} (${err.code}); choose another --port ` +
                '(or KAIZEN_API_PORT; 0: any free port) or --host',
              { cause: err },
            )
          : err,
      ),
    )
  })
  const address = server.address()
  const url = typeof address === 'object' && address ? `http://${address.address}:${address.port}` : String(address)
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}
