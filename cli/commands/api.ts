/**
 * @module cli/commands/api
 * `kaizen serve`: the HTTP API (ingestion, prompt resolution, OpenAPI, metrics).
 * `kaizen token create|list|revoke`: scoped API tokens (the secret is printed once).
 */
import type { Command } from 'commander'
import { SCOPES, createToken, listTokens, revokeToken } from '../../db/queries/tokens.js'
import { withDeps } from '../../runtime/deps.js'
import { loadEnv, type Env } from '../../runtime/env.js'
import { KaizenError } from '../../core/errors.js'
import type { Client } from '@temporalio/client'
import { connectClient, resolveTemporal } from '../../runtime/temporal.js'
import { startApiServer } from '../api-server.js'
import { requireOption } from '../context.js'
import { choiceListFlag, intFlag } from '../flags.js'
import { printJson, say } from '../output.js'

/** The SSO proxy's identity header, with the addresses it is trusted from (both or neither). */
function trustedHeaderOf(env: Env): { name: string; proxies: string[] } | undefined {
  const name = env.KAIZEN_CONSOLE_TRUSTED_HEADER
  const proxies = env.KAIZEN_CONSOLE_TRUSTED_PROXIES
  if (!name && !proxies) return undefined
  if (!name || !proxies)
    throw new KaizenError(
      'CONFIG_ERROR',
      'KAIZEN_CONSOLE_TRUSTED_HEADER and KAIZEN_CONSOLE_TRUSTED_PROXIES go together: the header names the ' +
        'person, and is believed only from those proxy addresses; set both, or neither',
    )
  return { name, proxies }
}

export function registerApi(program: Command): void {
  program
    .command('serve')
    .description(
      'run the HTTP API: POST /v1/traffic, GET /v1/tasks/{task}/prompt, POST /v1/tasks/{task}/complete ' +
        '(gateway), /openapi.json, /metrics',
    )
    .option('--host <host>', 'address to listen on (default KAIZEN_API_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default KAIZEN_API_PORT or 8787; 0: any free port)', intFlag('--port', 0, 65_535))
    .action(async (opts: { host?: string; port?: number }) => {
      await withDeps(
        async (deps, env) => {
          // Temporal (campaign and canary routes) is connected on first use and reconnected after a failure.
          let connecting: Promise<Client> | null = null
          const temporal = {
            taskQueue: env.TEMPORAL_TASK_QUEUE,
            client: () =>
              (connecting ??= resolveTemporal(env, { startEmbedded: false })
                .then(connectClient)
                .then((c) => c.client)
                .catch((err: unknown) => {
                  connecting = null
                  throw err
                })),
          }
          const server = await startApiServer(deps, {
            host: opts.host ?? env.KAIZEN_API_HOST,
            port: opts.port ?? env.KAIZEN_API_PORT,
            temporal,
            consoleSecret: env.KAIZEN_CONSOLE_SECRET,
            trustedHeader: trustedHeaderOf(env),
          })
          const where = server.url
          say(
            `Kaizen API listening on ${where} (OpenAPI: ${where}/openapi.json); the console at ${where}/. ` +
              'Requests and sign-in need a token: kaizen token create --name NAME --scopes ingest,read',
          )
          await new Promise<void>((resolve) => {
            const stop = () => void server.close().then(resolve)
            process.once('SIGINT', stop)
            process.once('SIGTERM', stop)
          })
        },
        loadEnv(),
        { waitForDatabase: true, log: say },
      )
    })

  const token = program.command('token').description('API tokens with scopes (ingest, read, operate, approve)')
  token
    .command('create')
    .description('create a token; its secret is printed once and stored only as a hash')
    .option('--name <name>', 'who or what uses it')
    .option('--scopes <scopes>', `comma-separated: ${SCOPES.join(', ')}`, choiceListFlag('--scopes', SCOPES))
    .option(
      '--person <identity>',
      'the person the token belongs to (required with the approve scope: approvals are recorded under this name)',
    )
    .option('--role <role>', "the person's approver role (checked against a canary's approverRoles)")
    .option('--tasks <patterns>', "limit it to these tasks, comma-separated, * allowed (e.g. 'support-*,billing')")
    .option('--actor <name>', 'who creates it (recorded)', process.env.USER ?? 'cli')
    .action(
      async (opts: {
        name?: string
        scopes?: Array<(typeof SCOPES)[number]>
        person?: string
        role?: string
        tasks?: string
        actor: string
      }) => {
        const tasks = opts.tasks
          ?.split(',')
          .map((t) => t.trim())
          .filter(Boolean)
        const name = requireOption(opts.name, '--name', 'say who or what uses the token, e.g. --name otel-collector')
        const scopes = requireOption(
          opts.scopes,
          '--scopes',
          `give scopes, e.g. --scopes ingest,read (any of ${SCOPES.join(', ')})`,
        )
        const { token: row, secret } = await withDeps((deps) =>
          createToken(deps.db, {
            name,
            scopes,
            ...(opts.person ? { person: opts.person } : {}),
            ...(opts.role ? { role: opts.role } : {}),
            ...(tasks ? { tasks } : {}),
            createdBy: `user:${opts.actor}`,
          }),
        )
        say(
          `Created token ${row.id} ("${row.name}", scopes ` +
            `${row.scopes.join(', ')}${row.person ? `, person ${row.person}` : ''}` +
            `${row.tasks ? `, tasks ${row.tasks.join(', ')}` : ', every task'}). Its secret is shown only ` +
            `now; send it as Authorization: Bearer <secret>.`,
        )
        printJson({
          id: row.id,
          name: row.name,
          scopes: row.scopes,
          person: row.person,
          role: row.role,
          tasks: row.tasks,
          secret,
        })
      },
    )
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .action(async () => {
      const rows = await withDeps((deps) => listTokens(deps.db))
      say(`${rows.length} token(s).`)
      printJson(
        rows.map((r) => ({
          id: r.id,
          name: r.name,
          scopes: r.scopes,
          person: r.person,
          role: r.role,
          tasks: r.tasks,
          createdBy: r.createdBy,
          createdAt: r.createdAt,
          revokedAt: r.revokedAt,
        })),
      )
    })
  token
    .command('revoke <id>')
    .description('revoke a token (API servers stop accepting it within 10 s)')
    .option('--actor <name>', 'who revokes it (recorded)', process.env.USER ?? 'cli')
    .action(async (id: string, opts: { actor: string }) => {
      const row = await withDeps((deps) => revokeToken(deps.db, id, `user:${opts.actor}`))
      say(`Revoked token ${row.id} ("${row.name}").`)
      printJson({ id: row.id, revokedAt: row.revokedAt })
    })
}
