/**
 * The chaos suite (`npm run chaos`): does Kaizen end a campaign and its canary as an uninterrupted
 * run does when Temporal, PostgreSQL and workers die at random points?
 *
 * Everything is real and of the suite's own: a Temporal dev server (SIGKILLed and started again on
 * its port and file), a PostgreSQL cluster (crashed with `pg_ctl stop -m immediate` and started
 * again: crash recovery), two `kaizen worker` processes (SIGKILLed; a new one starts a few seconds
 * later), `kaizen api` serving the gateway, and an OpenAI-compatible model server with a fixed
 * latency behind a real-provider task (test/helpers/wire-world.ts: task model, LLM judge, proposer).
 *
 * A run: a fresh database, the task seeded, a campaign (search → holdout → canary), then live
 * traffic through the gateway while the canary ramps; when it waits for a human it is approved,
 * then it bakes and ends. Run 0 is the reference, uninterrupted. Each later run (a round) injects
 * every fault once during the campaign and once during the canary, at random times (seeded) within
 * the span the reference took, one fault at a time.
 *
 * Checked after every round (any failure: exit 1):
 * - the campaign's decision, winner, rounds and rollouts equal the reference's, and so do the rows
 *   it wrote (prompt versions, candidates, search rounds, evaluations, datasets);
 * - nothing is duplicated: no audit event, label move, approval or canary written twice under
 *   different keys, no request stored twice;
 * - nothing is lost: every request the gateway said it recorded is in the database;
 * - the canary ended, and its row, the labels, the approvals and the audit trail agree on how.
 *
 *   npm run chaos [-- --rounds 3] [--faults temporal,postgres,worker] [--seed S] [--json]
 *                    [--latency-ms 100] [--rate 20] [--keep-logs]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Client, Connection } from '@temporalio/client'
import pg from 'pg'
import type { CampaignConfigInput } from '../../core/config.js'
import { Rng } from '../../core/rng.js'
import { overrideGraderTrust } from '../../evaluation/calibration.js'
import type { ActivityDeps } from '../../activities/deps.js'
import { openDatabase } from '../../db/client.js'
import { createToken } from '../../db/queries/tokens.js'
import { createOperations } from '../../client/operations.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { isTemporalUnavailable } from '../../runtime/outage.js'
import { locateTemporalCli } from '../../runtime/temporal-cli.js'
import { devServerArgs, temporalAnswers } from '../../runtime/temporal-server.js'
import { freePort } from '../lib/test-infra.js'
import { untilPolled } from '../lib/pollers.js'
import { optimizationCampaign } from '../../workflows/campaign/index.js'
import { type CampaignResult, type CanaryStatus } from '../../workflows/messages.js'
import { startBenchServer } from '../../bench/grading/server-client.js'
import { PROPOSER_MODEL, seedWireTask } from '../../test/helpers/wire-world.js'
import { campaignRows, checkRun, type RunFacts } from './checks.js'
import { startCluster } from './postgres.js'
import { driveTraffic } from './traffic.js'

const FAULTS = ['temporal', 'postgres', 'worker'] as const
type Fault = (typeof FAULTS)[number]
type Phase = 'campaign' | 'canary'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    faults: { type: 'string', default: FAULTS.join(',') },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    'latency-ms': { type: 'string', default: '100' },
    rate: { type: 'string', default: '20' },
    'keep-logs': { type: 'boolean', default: false },
  },
})
const fail = (message: string): never => {
  process.stderr.write(`chaos: ${message}\n`)
  process.exit(2)
}
const int = (name: 'rounds' | 'latency-ms' | 'rate', min: number): number => {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n < min) fail(`--${name}: use a whole number ≥ ${min} (got "${values[name]}")`)
  return n
}
const rounds = int('rounds', 1)
const latencyMs = int('latency-ms', 1)
const rate = int('rate', 1)
const faults = values.faults.split(',').map((f) => f.trim()) as Fault[]
for (const f of faults)
  if (!(FAULTS as readonly string[]).includes(f))
    fail(`--faults: use some of ${FAULTS.join(', ')}, comma-separated (got "${f}")`)
const seed = values.seed ?? `chaos-${Date.now()}`
const log = (line: string) => process.stderr.write(`[chaos] ${line}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null
const ended = (p: ChildProcess) => (exited(p) ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r())))

const TASK = 'chaos-triage'
const CAMPAIGN = 'chaos-campaign'
const WORKERS = 2
const APPROVER = 'chaos@kaizen.test'

const CONFIG: CampaignConfigInput = {
  seed: 'chaos',
  sample: { size: 300, windowHours: 48, minItems: 60 },
  search: {
    strategy: 'beam',
    rounds: 3,
    proposalsPerRound: 6,
    minibatchSize: 8,
    beamWidth: 3,
    rolloutBudget: 10_000,
    proposerModel: PROPOSER_MODEL,
    maxSentences: 12,
  },
  canary: {
    steps: [0.2, 0.5],
    minSamplesPerStep: 30,
    analysisIntervalSeconds: 3,
    bake: { seconds: 30, holdbackWeight: 0.2 },
    analysis: { blockMs: 1_000, minCanarySamples: 60 },
  },
}

const logDir = mkdtempSync(join(tmpdir(), 'kaizen-chaos-logs-'))
const cli = await locateTemporalCli({ build: true, log })
if (cli.kind !== 'binary') fail('no Temporal CLI binary found (see README: the Temporal CLI)')
const temporalCli = (cli as { path: string }).path
const model = await startBenchServer(latencyMs, new URL('../../bench/scale/server.ts', import.meta.url))
const cluster = await startCluster(await freePort())
log(
  `seed ${seed}; ${rounds} round(s) of ${faults.join(', ')}; model latency ${latencyMs} ms; gateway traffic ` +
    `${rate}/s; PostgreSQL of its own on ${cluster.port}; logs in ${logDir}`,
)

/**
 * Retry a call while Temporal (or the connection to it, or a worker to answer) is unavailable;
 * with `anyError`, retry any failure for up to two minutes (status polls, which a killed worker's
 * sticky queue can leave unanswered until Temporal gives the query to another worker).
 */
async function persist<T>(call: () => Promise<T>, what: string, anyError = false): Promise<T> {
  const deadline = Date.now() + 120_000
  for (let delay = 500; ; delay = Math.min(5_000, delay * 2)) {
    try {
      return await call()
    } catch (err) {
      const transient = isTemporalUnavailable(err) || (err as { code?: string }).code === 'INFRA_UNAVAILABLE'
      if (!transient && !(anyError && Date.now() < deadline)) throw err
      log(`  (${what}: ${(err as Error).message.split('\n')[0]}; retrying)`)
      await sleep(delay)
    }
  }
}

interface Injected {
  fault: Fault
  phase: Phase
  atSeconds: number
  downSeconds: number
  note: string
}

interface Stack {
  temporalPort: number
  temporalDir: string
  temporal: ChildProcess
  workers: ChildProcess[]
  api: ChildProcess
  env: Record<string, string>
  /** Processes that exited without being killed by the suite. */
  deaths: string[]
}

function spawnLogged(
  name: string,
  args: string[],
  env: Record<string, string>,
  stack: Pick<Stack, 'deaths'> | null,
): ChildProcess {
  const out = openSync(join(logDir, `${name}.log`), 'a')
  const child = spawn(args[0] as string, args.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  })
  ;(child as ChildProcess & { killedBySuite?: boolean }).killedBySuite = false
  child.once('exit', (code, signal) => {
    if (!(child as ChildProcess & { killedBySuite?: boolean }).killedBySuite && stack)
      stack.deaths.push(`${name} exited by itself (${code ?? signal})`)
  })
  return child
}
function kill(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  ;(p as ChildProcess & { killedBySuite?: boolean }).killedBySuite = true
  if (!exited(p)) p.kill(signal)
  return ended(p)
}

async function startTemporal(
  stack: Pick<Stack, 'temporalPort' | 'temporalDir' | 'deaths'>,
  run: number,
): Promise<ChildProcess> {
  const args = [
    temporalCli,
    ...devServerArgs({
      port: stack.temporalPort,
      dbFile: join(stack.temporalDir, 'temporal.db'),
      uiPort: null,
      logLevel: 'error',
    }),
  ]
  const child = spawnLogged(`run${run}-temporal`, args, {}, stack)
  for (let i = 0; !(await temporalAnswers(`127.0.0.1:${stack.temporalPort}`, 1_000)); i++) {
    if (i > 120 || exited(child)) throw new Error('the Temporal dev server did not start')
    await sleep(500)
  }
  return child
}

const kaizen = (...args: string[]) => [process.execPath, join(REPO_ROOT, 'bin', 'kaizen.js'), ...args]

/** The faults of one phase, at random times within [10 %, 70 %] of the reference's span, one slot each. */
function plan(
  rng: Rng,
  phase: Phase,
  spanSeconds: number,
): Array<{ fault: Fault; phase: Phase; atSeconds: number; downSeconds: number }> {
  const order = [...faults]
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.float() * (i + 1))
    ;[order[i], order[j]] = [order[j] as Fault, order[i] as Fault]
  }
  const slot = (0.6 * spanSeconds) / order.length
  return order.map((fault, i) => ({
    fault,
    phase,
    atSeconds: Math.round((0.1 * spanSeconds + slot * (i + rng.float() * 0.8)) * 10) / 10,
    downSeconds:
      fault === 'temporal'
        ? 10 + Math.round(rng.float() * 20)
        : fault === 'postgres'
          ? 3 + Math.round(rng.float() * 7)
          : 1 + Math.round(rng.float() * 3),
  }))
}

/** Inject a phase's faults in order at their times (from `t0`), until `stop()` says the phase ended. */
function inject(stack: Stack, run: number, rng: Rng, planned: ReturnType<typeof plan>, t0: number) {
  const done: Injected[] = []
  let stopped = false
  let wake: () => void = () => undefined
  const stopping = new Promise<void>((r) => (wake = r))
  const task = (async () => {
    for (const f of planned) {
      const wait = t0 + f.atSeconds * 1000 - Date.now()
      if (wait > 0) await Promise.race([sleep(wait), stopping])
      if (stopped) return
      const at = Math.round((Date.now() - t0) / 100) / 10
      log(`  ${f.phase} +${at} s: ${f.fault} fault, down ${f.downSeconds} s`)
      let note = ''
      if (f.fault === 'temporal') {
        await kill(stack.temporal, 'SIGKILL')
        await sleep(f.downSeconds * 1000)
        stack.temporal = await startTemporal(stack, run)
      } else if (f.fault === 'postgres') {
        await cluster.crash(f.downSeconds * 1000)
      } else {
        const i = Math.floor(rng.float() * stack.workers.length)
        await kill(stack.workers[i] as ChildProcess, 'SIGKILL')
        note = `worker ${i}`
        await sleep(f.downSeconds * 1000)
        stack.workers[i] = spawnLogged(`run${run}-worker${i}`, kaizen('worker'), stack.env, stack)
      }
      done.push({ ...f, atSeconds: at, note })
    }
  })()
  return {
    done,
    /** The phase ended: inject nothing more, and wait for a fault under way to be undone. */
    async stop(): Promise<Injected[]> {
      stopped = true
      wake()
      await task
      return done
    },
  }
}

async function createDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: cluster.url })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = cluster.url.replace(/\/postgres$/, `/${name}`)
  const migrated = await openDatabase({ url, dataDir: tmpdir() })
  await migrated.close()
  return url
}

interface Spans {
  campaignSeconds: number
  canarySeconds: number
}

async function runOnce(
  run: number,
  reference: Spans | null,
): Promise<{ facts: RunFacts; spans: Spans; injected: Injected[]; deaths: string[] }> {
  const rng = Rng.fromSeed(seed, run)
  const url = await createDatabase(`kaizen_chaos_${run}`)
  const seeded = await openDatabase({ url, dataDir: tmpdir(), migrate: false })
  const { graderVersionId } = await seedWireTask(seeded.db, { taskId: TASK, records: 360, latencyMs })
  // The world's judge is right by construction (test/helpers/wire-world.ts); an operator's override lets it gate the
  // canary.
  await overrideGraderTrust({ db: seeded.db } as ActivityDeps, {
    graderVersionId,
    operator: 'chaos-suite',
    reason: 'the chaos world judge grades by construction',
  })
  const { secret } = await createToken(seeded.db, { name: 'chaos traffic', scopes: ['ingest'], createdBy: 'chaos' })
  await seeded.close()

  const temporalDir = mkdtempSync(join(tmpdir(), 'kaizen-chaos-temporal-'))
  const apiPort = await freePort()
  const partial = { temporalPort: await freePort(), temporalDir, deaths: [] as string[] }
  const temporal = await startTemporal(partial, run)
  const taskQueue = `chaos-${run}`
  const env = {
    DATABASE_URL: url,
    TEMPORAL_ADDRESS: `127.0.0.1:${partial.temporalPort}`,
    TEMPORAL_TASK_QUEUE: taskQueue,
    OPENAI_BASE_URL: model.openaiBaseUrl,
    OPENAI_API_KEY: 'chaos',
    KAIZEN_EVAL_CONCURRENCY: '4',
    KAIZEN_LOG_LEVEL: 'WARN',
    KAIZEN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kaizen-chaos-data-')),
  }
  const stack: Stack = { ...partial, temporal, env, workers: [], api: null as unknown as ChildProcess }
  stack.workers = Array.from({ length: WORKERS }, (_, i) =>
    spawnLogged(`run${run}-worker${i}`, kaizen('worker'), env, stack),
  )
  stack.api = spawnLogged(`run${run}-serve`, kaizen('serve', '--port', String(apiPort)), env, stack)
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS })
  const client = new Client({ connection })
  const ops = createOperations({ client, taskQueue })
  const injected: Injected[] = []
  let traffic: ReturnType<typeof driveTraffic> | null = null
  try {
    await untilPolled(client, taskQueue, WORKERS)
    for (
      let i = 0;
      (await fetch(`http://127.0.0.1:${apiPort}/healthz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200;
      i++
    ) {
      if (i > 120) throw new Error('kaizen api did not answer /healthz')
      await sleep(500)
    }
    await model.resetStats()

    // The campaign.
    const t0 = Date.now()
    const campaignFaults = reference
      ? inject(stack, run, rng, plan(rng, 'campaign', reference.campaignSeconds), t0)
      : null
    const handle = await persist(
      () =>
        client.workflow.start(optimizationCampaign, {
          workflowId: CAMPAIGN,
          taskQueue,
          args: [{ taskId: TASK, campaignId: CAMPAIGN, trigger: 'test', config: CONFIG }],
        }),
      'start the campaign',
    )
    const result: CampaignResult = await persist(() => handle.result(), 'wait for the campaign')
    const campaignSeconds = (Date.now() - t0) / 1000
    injected.push(...((await campaignFaults?.stop()) ?? []))
    const campaignCalls = (await model.stats()).calls
    const rows = await campaignRows(url, TASK, CAMPAIGN)
    log(
      `  campaign: ${result.decision}, winner ${result.winnerVersion}, ${result.rounds} rounds, ` +
        `${result.rolloutsUsed} rollouts, ${campaignSeconds.toFixed(1)} s, ${campaignCalls} model calls`,
    )

    // The canary, with live traffic through the gateway.
    let canary: CanaryStatus | null = null
    const t1 = Date.now()
    if (result.canary) {
      const canaryFaults = reference ? inject(stack, run, rng, plan(rng, 'canary', reference.canarySeconds), t1) : null
      traffic = driveTraffic({
        baseUrl: `http://127.0.0.1:${apiPort}`,
        task: TASK,
        token: secret,
        ratePerSec: rate,
        idPrefix: `chaos-${run}`,
      })
      const canaryId = result.canary.id
      let approved = false
      for (;;) {
        const view = await persist(() => ops.describeCanary(canaryId), 'canary status', true)
        if (view.state === 'promoted' || view.state === 'rolled_back') break
        if (view.state === 'awaiting_approval' && !approved) {
          const decided = await persist(
            () =>
              ops.decideCanary(canaryId, 'approve', { approver: APPROVER, comment: 'chaos suite: approve when ready' }),
            'approve',
          )
          log(`  canary +${((Date.now() - t1) / 1000).toFixed(1)} s: ${decided.message}`)
          approved = true
        }
        await sleep(2_000)
      }
      canary = await persist(
        () => client.workflow.getHandle(result.canary?.workflowId as string).result() as Promise<CanaryStatus>,
        'wait for the canary',
      )
      injected.push(...((await canaryFaults?.stop()) ?? []))
      await traffic.stop()
      log(
        `  canary: ${canary.state}${canary.reason ? ` (${canary.reason})` : ''}, ` +
          `${((Date.now() - t1) / 1000).toFixed(1)} s, ${traffic.sent.length} requests`,
      )
    }
    const spans = { campaignSeconds, canarySeconds: (Date.now() - t1) / 1000 }
    const facts: RunFacts = {
      url,
      task: TASK,
      campaignId: CAMPAIGN,
      result,
      canary,
      approver: APPROVER,
      sent: traffic?.sent ?? [],
      modelCalls: campaignCalls,
      campaignRows: rows,
    }
    return { facts, spans, injected, deaths: [...stack.deaths] }
  } finally {
    await traffic?.stop()
    await Promise.all([...stack.workers, stack.api].map((p) => kill(p, 'SIGTERM')))
    await connection.close()
    await kill(stack.temporal, 'SIGKILL')
    rmSync(temporalDir, { recursive: true, force: true })
    rmSync(env.KAIZEN_DATA_DIR, { recursive: true, force: true })
  }
}

interface RoundReport {
  run: number
  injected: Injected[]
  checks: Array<{ name: string; ok: boolean; detail: string }>
  campaign: { decision: string; winner: string | null; rollouts: number; seconds: number; modelCalls: number }
  canary: { state: string | null; seconds: number }
  traffic: { sent: number; recorded: number; unrecorded: number; failed: number }
  deaths: string[]
}

const reports: RoundReport[] = []
let exitCode = 0
try {
  log('run 0: the reference, uninterrupted')
  const ref = await runOnce(0, null)
  const refSummary = await checkRun(ref.facts, null)
  if (ref.deaths.length > 0 || refSummary.checks.some((c) => !c.ok)) {
    for (const c of refSummary.checks.filter((c) => !c.ok)) log(`  reference check failed: ${c.name}: ${c.detail}`)
    fail(
      `the reference run itself is not clean${ref.deaths.length ? ` (${ref.deaths.join('; ')})` : ''}; see ${logDir}`,
    )
  }
  const summarize = (run: number, r: typeof ref, checks: RoundReport['checks']): RoundReport => ({
    run,
    injected: r.injected,
    checks,
    campaign: {
      decision: r.facts.result.decision,
      winner: r.facts.result.winnerVersion,
      rollouts: r.facts.result.rolloutsUsed,
      seconds: Math.round(r.spans.campaignSeconds * 10) / 10,
      modelCalls: r.facts.modelCalls,
    },
    canary: { state: r.facts.canary?.state ?? null, seconds: Math.round(r.spans.canarySeconds * 10) / 10 },
    traffic: {
      sent: r.facts.sent.length,
      recorded: r.facts.sent.filter((s) => s.outcome === 'recorded').length,
      unrecorded: r.facts.sent.filter((s) => s.outcome === 'unrecorded').length,
      failed: r.facts.sent.filter((s) => s.outcome === 'failed').length,
    },
    deaths: r.deaths,
  })
  reports.push(summarize(0, ref, refSummary.checks))
  for (let run = 1; run <= rounds; run++) {
    log(`run ${run}: ${faults.join(', ')} during the campaign and during the canary`)
    const got = await runOnce(run, ref.spans)
    const { checks } = await checkRun(got.facts, refSummary.snapshot)
    if (got.deaths.length > 0)
      checks.push({ name: 'no process died by itself', ok: false, detail: got.deaths.join('; ') })
    const report = summarize(run, got, checks)
    reports.push(report)
    for (const c of checks) log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`)
    if (checks.some((c) => !c.ok)) exitCode = 1
  }
} finally {
  await model.close()
  await cluster.destroy()
  if (!values['keep-logs'] && exitCode === 0) rmSync(logDir, { recursive: true, force: true })
}

const injectedCount = (f: Fault) => reports.reduce((n, r) => n + r.injected.filter((i) => i.fault === f).length, 0)
const summary = {
  seed,
  rounds,
  settings: { latencyMs, ratePerSec: rate, workers: WORKERS, faults },
  faultsInjected: Object.fromEntries(faults.map((f) => [f, injectedCount(f)])),
  passed: exitCode === 0,
  runs: reports,
}
if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
log('')
log('run  faults  campaign (decision, rollouts, s)  canary (state, s)  requests sent/recorded/lost  checks')
for (const r of reports) {
  const failed = r.checks.filter((c) => !c.ok)
  log(
    `${String(r.run).padStart(3)}  ${String(r.injected.length).padStart(6)}  ` +
      `${`${r.campaign.decision}, ${r.campaign.rollouts}, ${r.campaign.seconds}`.padEnd(32)}  ` +
      `${`${r.canary.state}, ${r.canary.seconds}`.padEnd(17)}  ` +
      `${`${r.traffic.sent}/${r.traffic.recorded}/${r.traffic.unrecorded + r.traffic.failed}`.padEnd(27)}  ` +
      (failed.length === 0
        ? `all ${r.checks.length} pass`
        : `${failed.length} FAILED: ${failed.map((c) => c.name).join('; ')}`),
  )
}
log(
  `faults injected: ${faults.map((f) => `${f} ${injectedCount(f)}`).join(', ')}; ` +
    `${exitCode === 0 ? 'every check passed' : `checks failed (logs kept in ${logDir})`}`,
)
process.exit(exitCode)
