/**
 * Run the real `kaizen` binary (bin/kaizen.js) as a child process. The test's own database and
 * Temporal settings are removed from its environment unless given in `env`: by default it runs on
 * embedded defaults; pass TEMPORAL_ADDRESS / TEMPORAL_TASK_QUEUE / DATABASE_URL to point it at the
 * test infrastructure, and a variable as undefined to remove it.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { REPO_ROOT } from '../../runtime/env.js'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * The child's environment: the parent's without the test's database and Temporal settings, then
 * `env` on top (a variable given as undefined is removed, so the parent's value cannot leak in).
 */
function envFor(env: Record<string, string | undefined>): Record<string, string> {
  const childEnv: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) childEnv[k] = v
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_NAMESPACE']) delete childEnv[k]
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k]
    else childEnv[k] = v
  }
  return childEnv
}

export function kaizen(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 240_000,
): Promise<CliRun> {
  const childEnv = envFor(env)
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kaizen.js'), ...args], {
      cwd: REPO_ROOT,
      env: childEnv,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** A client for the HTTP API app (`createApi`) with bearer tokens, and its error body. */
export function apiCaller(app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }) {
  return (method: string, path: string, secret: string, body?: unknown) =>
    app.request(path, {
      method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
}
export const errorOf = async (r: Response) =>
  ((await r.json()) as { error: { code: string; message: string; fields?: string[] } }).error

/** A long-running `kaizen` process (serve, worker, sim serve) and what it printed. */
export interface KaizenProcess {
  output(): string
  /** Wait until the output matches; the match (or a failure naming what was printed). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit code once the process has ended by itself. */
  exited(): Promise<number | null>
  /** SIGINT, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>
}

/** Start `kaizen <args>` (or another script under the repository with `script`) in the background. */
export function startKaizen(
  args: string[],
  env: Record<string, string | undefined> = {},
  script: string[] = [join(REPO_ROOT, 'bin', 'kaizen.js')],
): KaizenProcess {
  const childEnv = envFor(env)
  const child = spawn(process.execPath, [...script, ...args], { cwd: REPO_ROOT, env: childEnv })
  let text = ''
  let exited: number | null | undefined
  const waiters = new Set<() => void>()
  const wake = () => waiters.forEach((w) => w())
  child.stdout.on('data', (d) => ((text += d), wake()))
  child.stderr.on('data', (d) => ((text += d), wake()))
  const closed = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      exited = code
      wake()
      resolve(code)
    }),
  )
  return {
    output: () => text,
    exited: () => closed,
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(text)
          if (m) return done(() => resolve(m))
          if (exited !== undefined)
            done(() => reject(new Error(`kaizen ${args.join(' ')} exited (${exited}) before ${pattern}:\n${text}`)))
        }
        const timer = setTimeout(
          () =>
            done(() => reject(new Error(`timed out waiting for ${pattern} from kaizen ${args.join(' ')}:\n${text}`))),
          timeoutMs,
        )
        const done = (fn: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          fn()
        }
        waiters.add(check)
        check()
      })
    },
    async stop(graceMs = 15_000) {
      if (exited !== undefined) return exited
      child.kill('SIGINT')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const code = await closed
      clearTimeout(timer)
      return code
    },
  }
}
