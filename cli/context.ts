/**
 * @module cli/context
 * Open what a command needs, and close it whatever happens.
 */
import { Client, Connection } from '@temporalio/client'
import { createOperations, type Operations } from '../client/operations.js'
import { KaizenError } from '../core/errors.js'
import { campaignPreflight, pricingOf } from '../db/queries/preflight.js'
import { openRuntime, type KaizenRuntime, type OpenRuntimeOptions } from '../runtime/app.js'
import { loadEnv, type Env } from '../runtime/env.js'
import { connectClient, resolveTemporal, type TemporalTarget } from '../runtime/temporal.js'
import { say } from './output.js'

/** Full runtime: database, Temporal (embedded allowed), providers. */
export async function withRuntime<T>(
  options: Partial<OpenRuntimeOptions>,
  fn: (rt: KaizenRuntime) => Promise<T>,
): Promise<T> {
  const runtime = await openRuntime({ temporal: 'embedded-or-configured', log: say, ...options })
  try {
    return await fn(runtime)
  } finally {
    await runtime.close()
  }
}

/** Only a Temporal client, to a server that must already run (no database needed). */
export async function withClient<T>(
  fn: (client: Client, ctx: { env: Env; target: TemporalTarget }) => Promise<T>,
): Promise<T> {
  const env = loadEnv()
  const target = await resolveTemporal(env, { startEmbedded: false })
  const { client, connection } = await connectClient(target)
  try {
    return await fn(client, { env, target })
  } finally {
    await (connection as Connection).close()
  }
}

/**
 * Kaizen's operations for a process that holds the runtime (`kaizen up`, the demos): the campaign
 * checks run here, on its database, with its providers' prices for the spend budget.
 */
export function runtimeOperations(rt: KaizenRuntime): Operations {
  return createOperations({
    client: rt.client,
    taskQueue: rt.env.TEMPORAL_TASK_QUEUE,
    check: (input) => campaignPreflight(rt.db, input, { pricing: pricingOf(rt.deps) }),
  })
}

/**
 * Kaizen's operations (client/operations.ts) over a Temporal client. The CLI has no database here
 * (it may have no credentials, or `kaizen up` may hold the embedded one): campaign checks run on a
 * worker.
 */
export async function withOperations<T>(
  fn: (ops: Operations, ctx: { client: Client; env: Env; target: TemporalTarget }) => Promise<T>,
): Promise<T> {
  return withClient((client, ctx) =>
    fn(createOperations({ client, taskQueue: ctx.env.TEMPORAL_TASK_QUEUE }), { client, ...ctx }),
  )
}

export function requireOption<T>(value: T | undefined, flag: string, hint: string): T {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
    throw new KaizenError('INVALID_INPUT', `missing ${flag}: ${hint}`)
  }
  return value
}

/**
 * Stop cleanly on Ctrl-C / SIGTERM, at any moment (even during start-up): run `stop`, then exit.
 * `process.exit` also fires the embedded server's exit hook, so no dev server is left behind.
 */
export function onShutdownSignal(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    stop(signal)
      .catch((err: Error) => say(`kaizen: while stopping: ${err.message}`))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', handler)
  process.once('SIGTERM', handler)
}
