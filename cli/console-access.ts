/**
 * @module cli/console-access
 * The console for `kaizen up`: the API server with the console on KAIZEN_API_PORT (any free port
 * when that one is taken), and a sign-in link for the person running it — a token with the read
 * and approve scopes under their identity, revoked when `kaizen up` stops (with the embedded
 * database no other process can create one while it runs). Like Jupyter's, the link carries the
 * token: it is for the person at this machine.
 */
import { userInfo } from 'node:os'
import { isKaizenError } from '../core/errors.js'
import { createToken, revokeToken } from '../db/queries/tokens.js'
import type { KaizenRuntime } from '../runtime/app.js'
import { startApiServer, type ApiServer } from './api-server.js'

export interface ConsoleAccess {
  url: string
  /** Opens a session as the operator. */
  signInUrl: string
  operator: string
  close(): Promise<void>
}

/** Who approves from this machine's console: KAIZEN_OPERATOR, else the login name at this host. */
export const defaultOperator = (env: { KAIZEN_OPERATOR?: string | undefined }) =>
  env.KAIZEN_OPERATOR ?? `${userInfo().username}@localhost`

/** A sign-in token for `operator` on a server that already serves the console. */
export async function operatorSignIn(
  rt: KaizenRuntime,
  baseUrl: string,
  operator: string,
): Promise<{ signInUrl: string; revoke(): Promise<void> }> {
  const { token, secret } = await createToken(rt.db, {
    name: `console-${operator}`,
    scopes: ['read', 'approve'],
    person: operator,
    createdBy: 'kaizen-up',
  })
  return {
    signInUrl: `${baseUrl}/login?token=${encodeURIComponent(secret)}`,
    revoke: async () => void (await revokeToken(rt.db, token.id, 'kaizen-up').catch(() => undefined)),
  }
}

export async function openConsole(rt: KaizenRuntime, operator: string): Promise<ConsoleAccess> {
  const options = {
    host: rt.env.KAIZEN_API_HOST,
    temporal: { taskQueue: rt.env.TEMPORAL_TASK_QUEUE, client: async () => rt.client },
    consoleSecret: rt.env.KAIZEN_CONSOLE_SECRET,
  }
  let server: ApiServer
  try {
    server = await startApiServer(rt.deps, { ...options, port: rt.env.KAIZEN_API_PORT })
  } catch (err) {
    if (!(isKaizenError(err) && err.code === 'CONFIG_ERROR')) throw err
    server = await startApiServer(rt.deps, { ...options, port: 0 }) // the configured port is taken
  }
  const access = await operatorSignIn(rt, server.url, operator)
  return {
    url: server.url,
    signInUrl: access.signInUrl,
    operator,
    async close() {
      await access.revoke()
      await server.close()
    },
  }
}
