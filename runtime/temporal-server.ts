/**
 * @module runtime/temporal-server
 * The embedded Temporal dev server: `temporal server start-dev` as a child process, persisting to
 * a SQLite file in the data folder (so a second run finds its workflows again), stopped cleanly
 * on exit. If a Temporal server already answers on the port (another `kaizen up`), it is reused.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { join, resolve } from 'node:path'
import { Connection } from '@temporalio/client'
import { KaizenError } from '../core/errors.js'
import { INSTALL_HELP, type TemporalCli } from './temporal-cli.js'

export interface EmbeddedServer {
  address: string
  namespace: string
  uiUrl: string | null
  /** True when an already-running server was found and used. */
  reused: boolean
  stop(): Promise<void>
}

export interface EmbeddedServerOptions {
  /** The CLI, or how to find it (called only when a server must be started). */
  cli: TemporalCli | (() => Promise<TemporalCli>)
  dataDir: string
  port: number
  uiPort: number
  headless?: boolean
  log?: (line: string) => void
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = netConnect({ host: '127.0.0.1', port })
    const done = (open: boolean) => {
      socket.destroy()
      resolveOpen(open)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * The arguments of `temporal server start-dev` for Kaizen: on 127.0.0.1, persisting to `dbFile`,
 * with workflow Updates enabled (approvals use them). `uiPort: null` runs it headless.
 */
export function devServerArgs(options: {
  port: number
  dbFile: string
  uiPort: number | null
  logLevel: 'warn' | 'error'
}): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--db-filename',
    options.dbFile,
    '--log-level',
    options.logLevel,
    ...(options.uiPort === null ? ['--headless'] : ['--ui-port', String(options.uiPort)]),
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
  ]
}

/** Does a Temporal frontend answer at this address? */
export async function temporalAnswers(address: string, timeoutMs = 3_000): Promise<boolean> {
  let connection: Connection | null = null
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs })
    await connection.workflowService.getSystemInfo({})
    return true
  } catch {
    return false
  } finally {
    await connection?.close().catch(() => undefined)
  }
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const log = options.log ?? (() => undefined)
  const dataDir = resolve(options.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const address = `127.0.0.1:${options.port}`
  const statePath = join(dataDir, 'temporal-server.json')
  const uiUrlFor = (uiPort: number | null) => (uiPort === null ? null : `http://127.0.0.1:${uiPort}`)

  if (await portOpen(options.port)) {
    if (!(await temporalAnswers(address))) {
      throw new KaizenError(
        'INFRA_UNAVAILABLE',
        `port ${options.port} is taken by something that is not a Temporal server; set KAIZEN_TEMPORAL_PORT ` +
          `to a free port`,
      )
    }
    let uiPort: number | null = options.headless ? null : options.uiPort
    try {
      uiPort = (JSON.parse(readFileSync(statePath, 'utf8')) as { uiPort: number | null }).uiPort
    } catch {
      // not started by Kaizen, or headless: keep the default guess
    }
    log(`Using the Temporal server already running at ${address}.`)
    return { address, namespace: 'default', uiUrl: uiUrlFor(uiPort), reused: true, stop: async () => undefined }
  }

  const dbFile = join(dataDir, 'temporal.db')
  const uiPort = options.headless ? null : options.uiPort
  const cli = typeof options.cli === 'function' ? await options.cli() : options.cli
  if (cli.kind === 'sdk-download') {
    // Last resort: let the SDK download a dev server (needs internet).
    const { TestWorkflowEnvironment } = await import('@temporalio/testing')
    try {
      const env = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'cached-download' },
          dbFilename: dbFile,
          ip: '127.0.0.1',
          port: options.port,
          ui: uiPort !== null,
          ...(uiPort ? { uiPort } : {}),
        },
      })
      return {
        address: env.address,
        namespace: 'default',
        uiUrl: uiUrlFor(uiPort),
        reused: false,
        stop: () => env.teardown(),
      }
    } catch (err) {
      throw new KaizenError(
        'INFRA_UNAVAILABLE',
        `no Temporal CLI was found and the SDK could not download one ` +
          `(${(err as Error).message.split('\n')[0]}).\n${INSTALL_HELP}`,
        { cause: err },
      )
    }
  }

  const args = devServerArgs({ port: options.port, dbFile, uiPort, logLevel: 'warn' })
  const logPath = join(dataDir, 'temporal-server.log')
  log(`Starting the Temporal dev server (${cli.path}) on ${address}, data in ${dbFile}…`)
  let child: ChildProcess
  let exited: number | null = null
  let stopping: Promise<void> | null = null
  const launch = () => {
    const logFd = openSync(logPath, 'a')
    const current = spawn(cli.path, args, { stdio: ['ignore', logFd, logFd] })
    closeSync(logFd)
    child = current
    exited = null
    current.once('exit', (code, signal) => {
      if (child !== current) return
      exited = code ?? -1
      if (ready && !stopping) restart(code === null ? `signal ${signal}` : `code ${code}`)
    })
  }
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  // The server is Kaizen's own: if it dies while Kaizen runs (killed, crashed), it is started again
  // on the same port and file (its state survives), and the worker and clients reconnect.
  let ready = false
  let restarts: number[] = []
  const restart = (why: string) => {
    restarts = [...restarts.filter((t) => Date.now() - t < 60_000), Date.now()]
    if (restarts.length > 5) {
      log(
        `The embedded Temporal dev server exited (${why}) for the sixth time within a minute; not starting ` +
          `it again. Last lines of ${logPath}:\n${tail(logPath)}`,
      )
      return
    }
    log(`The embedded Temporal dev server exited (${why}); starting it again on ${address}.`)
    setTimeout(() => {
      if (!stopping) launch()
    }, 1_000).unref()
  }
  launch()

  const deadline = Date.now() + 60_000
  while (!(await temporalAnswers(address, 1_000))) {
    if (exited !== null) {
      process.removeListener('exit', killOnExit)
      throw new KaizenError(
        'INFRA_UNAVAILABLE',
        `the Temporal dev server exited (code ${exited}) before it was ready. Last lines of ` +
          `${logPath}:\n${tail(logPath)}`,
      )
    }
    if (Date.now() > deadline) {
      child!.kill('SIGKILL')
      process.removeListener('exit', killOnExit)
      throw new KaizenError(
        'INFRA_UNAVAILABLE',
        `the Temporal dev server did not answer on ${address} within 60 s. Last lines of ${logPath}:\n${tail(logPath)}`,
      )
    }
    await sleep(250)
  }
  ready = true
  writeFileSync(statePath, JSON.stringify({ pid: child!.pid, port: options.port, uiPort }))

  const stop = () =>
    (stopping ??= (async () => {
      process.removeListener('exit', killOnExit)
      rmSync(statePath, { force: true })
      if (exited !== null) return
      const gone = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const clean = await Promise.race([gone.then(() => true), sleep(10_000).then(() => false)])
      if (!clean) {
        child.kill('SIGKILL')
        await gone
      }
    })())
  return { address, namespace: 'default', uiUrl: uiUrlFor(uiPort), reused: false, stop }
}
