/**
 * bench:scale — do more workers make campaigns and grading faster?
 *
 * One campaign of a real-provider task (task model, LLM judge and LLM proposer behind a local
 * OpenAI-compatible server with a fixed latency: test/helpers/wire-world.ts), then one batch grading of
 * the task's traffic, with 1, 2 and 4 `kaizen worker` processes at the same per-worker
 * concurrency (KAIZEN_EVAL_CONCURRENCY). Every measurement gets a fresh database (so nothing is
 * answered from an earlier one's cache) and its own task queue on one Temporal dev server.
 * Worker counts are interleaved within each run, so the machine's drift hits them alike.
 *
 * Reported per worker count (medians over the runs, with each run's figures):
 * - campaign wall time and speed-up over one worker;
 * - grading items/s against the ideal workers × C / L (L: the judge's latency);
 * - how busy the machine's CPUs were meanwhile (all processes: workers, Temporal, PostgreSQL, the
 *   model server, and anything else running), to tell a CPU-bound measurement from a fair one.
 * The campaign must reach the same decision, winner and rollouts at every worker count.
 *
 *   npm run bench:scale [-- --json] [--workers 1,2,4] [--runs 3] [--latency-ms 300] [--concurrency 4]
 *                          [--grading-items 1200] [--strategy beam] [--rounds 3] [--proposals 6]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Client, Connection } from '@temporalio/client'
import { type CampaignConfigInput } from '../../core/config.js'
import { STRATEGY_NAMES } from '../../core/search/types.js'
import { openDatabase } from '../../db/client.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { locateTemporalCli } from '../../runtime/temporal-cli.js'
import { startEmbeddedServer } from '../../runtime/temporal-server.js'
import { createTestDatabase, freePort } from '../../scripts/lib/test-infra.js'
import { untilPolled } from '../../scripts/lib/pollers.js'
import { optimizationCampaign } from '../../workflows/campaign/index.js'
import { gradeBatch } from '../../workflows/grading.js'
import { type CampaignResult } from '../../workflows/messages.js'
import { startBenchServer } from '../grading/server-client.js'
import { MAX_RECORDS, PROPOSER_MODEL, seedWireTask } from '../../test/helpers/wire-world.js'

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    workers: { type: 'string', default: '1,2,4' },
    runs: { type: 'string', default: '3' },
    'latency-ms': { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '4' },
    'grading-items': { type: 'string', default: '1200' },
    strategy: { type: 'string', default: 'beam' },
    rounds: { type: 'string', default: '3' },
    proposals: { type: 'string', default: '6' },
  },
})
const fail = (message: string): never => {
  process.stderr.write(`bench:scale: ${message}\n`)
  process.exit(2)
}
const int = (name: string, min: number) => {
  const v = values[name as keyof typeof values] as string
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) fail(`--${name}: use a whole number ≥ ${min} (got "${v}")`)
  return n
}
const workerCounts = values.workers.split(',').map((w) => Number(w.trim()))
if (workerCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 16))
  fail(`--workers: use comma-separated whole numbers 1–16 (got "${values.workers}")`)
if (!(STRATEGY_NAMES as readonly string[]).includes(values.strategy) && values.strategy !== 'reflective')
  fail(`--strategy: use reflective or one of ${STRATEGY_NAMES.join(', ')} (got "${values.strategy}")`)
const runs = int('runs', 1)
const latencyMs = int('latency-ms', 1)
const concurrency = int('concurrency', 1)
const gradingItems = int('grading-items', 60)
const rounds = int('rounds', 1)
const proposals = int('proposals', 1)
const log = (line: string) => process.stderr.write(`${line}\n`)
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const round2 = (x: number) => Math.round(x * 100) / 100

const TASK = 'bench-triage'

const CONFIG: CampaignConfigInput = {
  seed: 'bench-scale',
  sample: { size: 300, windowHours: 48, minItems: 60 },
  search: {
    strategy: values.strategy as never,
    rounds,
    proposalsPerRound: proposals,
    minibatchSize: 8,
    beamWidth: 3,
    rolloutBudget: 10_000,
    proposerModel: PROPOSER_MODEL,
    maxSentences: 12,
  },
  // A canary, if the winner earns one, would wait an hour before its first analysis; it is ended at once.
  canary: { steps: [0.1], analysisIntervalSeconds: 3_600 },
}

function startWorkers(n: number, env: Record<string, string>, logDir: string): ChildProcess[] {
  return Array.from({ length: n }, (_, i) => {
    const out = openSync(join(logDir, `worker-${i}.log`), 'a')
    return spawn(
      process.execPath,
      [
        ...(process.env.KAIZEN_BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KAIZEN_BENCH_PROFILE}`]
          : []),
        join(REPO_ROOT, 'bin', 'kaizen.js'),
        'worker',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', out, out] },
    )
  })
}

/** Busy and total CPU time of the whole machine so far (Linux /proc/stat; zeros elsewhere). */
function machineCpu(): { busy: number; total: number } {
  try {
    const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/)
    const n = fields.map(Number)
    const idle = (n[3] ?? 0) + (n[4] ?? 0)
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busy: total - idle, total }
  } catch {
    return { busy: 0, total: 0 }
  }
}
/** CPU seconds a process has used (user + system), or 0 when it cannot be read. */
function processCpu(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}
const workersCpu = (procs: ChildProcess[]) => procs.reduce((a, p) => a + processCpu(p.pid), 0)
const busyShare = (from: { busy: number; total: number }, to: { busy: number; total: number }) =>
  to.total > from.total ? (to.busy - from.busy) / (to.total - from.total) : 0

/**
 * Where a campaign's time went: for each activity type, the wall time during which at least one
 * of its activities ran (intervals merged), from the workflow's history.
 */
async function timeline(
  client: Client,
  workflowId: string,
): Promise<Record<string, { seconds: number; count: number }>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory()
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : 0
  const scheduled = new Map<string, string>()
  const started = new Map<string, number>()
  const spans = new Map<string, Array<[number, number]>>()
  for (const e of history.events ?? []) {
    const id = String(e.eventId)
    if (e.activityTaskScheduledEventAttributes)
      scheduled.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '?')
    if (e.activityTaskStartedEventAttributes)
      started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), ms(e.eventTime))
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes
    if (done) {
      const of = String(done.scheduledEventId)
      const type = scheduled.get(of) ?? '?'
      const list = spans.get(type) ?? []
      list.push([started.get(of) ?? ms(e.eventTime), ms(e.eventTime)])
      spans.set(type, list)
    }
  }
  const out: Record<string, { seconds: number; count: number }> = {}
  for (const [type, list] of spans) {
    list.sort((a, b) => a[0] - b[0])
    let total = 0
    let [from, to] = list[0] as [number, number]
    for (const [a, b] of list.slice(1)) {
      if (a > to) {
        total += to - from
        ;[from, to] = [a, b]
      } else to = Math.max(to, b)
    }
    out[type] = { seconds: round2((total + to - from) / 1000), count: list.length }
  }
  return out
}

interface Measurement {
  run: number
  n: number
  campaignSeconds: number
  gradingSeconds: number
  gradingItems: number
  decision: string
  winner: string | null
  rollouts: number
  rounds: number
  /** Share of the machine's CPU time busy during the campaign and during the grading (all processes). */
  cpuBusy: { campaign: number; grading: number }
  /** CPU seconds the worker processes used per evaluation (campaign: per task rollout; grading: per item). */
  workerCpuPerItem: { campaign: number; grading: number }
  /** Seconds during which each kind of campaign step ran (evaluateChunk: chunks of any wave). */
  steps: Record<string, { seconds: number; count: number }>
}

const server = await startBenchServer(latencyMs, new URL('./server.ts', import.meta.url))
const cli = await locateTemporalCli({ build: true, log })
if (cli.kind !== 'binary') fail('no Temporal CLI binary found (see README: the Temporal CLI)')
const serverDir = mkdtempSync(join(tmpdir(), 'kaizen-bench-scale-'))
const port = await freePort()
const temporal = await startEmbeddedServer({
  cli: cli as Extract<typeof cli, { kind: 'binary' }>,
  dataDir: serverDir,
  port,
  uiPort: await freePort(),
  headless: true,
  log: () => undefined,
})
const connection = await Connection.connect({ address: temporal.address })
const client = new Client({ connection })
const logDir = mkdtempSync(join(tmpdir(), 'kaizen-bench-scale-logs-'))
log(
  `bench:scale: latency ${latencyMs} ms, C = ${concurrency} per worker, workers ${workerCounts.join('/')}, ` +
    `${runs} run(s), strategy ${values.strategy}; worker logs in ${logDir}`,
)

const measurements: Measurement[] = []
try {
  for (let run = 1; run <= runs; run++) {
    for (const n of workerCounts) {
      const database = await createTestDatabase(() => undefined, 'kaizen_bench_scale')
      const conn = await openDatabase({ url: database.url, dataDir: tmpdir(), migrate: false })
      const procs: ChildProcess[] = []
      try {
        await seedWireTask(conn.db, {
          taskId: TASK,
          records: Math.min(MAX_RECORDS, Math.max(gradingItems, 360)),
          latencyMs,
        })
        const taskQueue = `bench-scale-${run}-${n}-${process.pid}`
        procs.push(
          ...startWorkers(
            n,
            {
              DATABASE_URL: database.url,
              TEMPORAL_ADDRESS: temporal.address,
              TEMPORAL_TASK_QUEUE: taskQueue,
              OPENAI_BASE_URL: server.openaiBaseUrl,
              KAIZEN_EVAL_CONCURRENCY: String(concurrency),
              KAIZEN_OPENAI_CONCURRENCY: String(Math.max(64, concurrency * 4)),
              KAIZEN_LOG_LEVEL: 'ERROR',
            },
            logDir,
          ),
        )
        await untilPolled(client, taskQueue, n)
        const campaignId = `bench-scale-${run}-${n}`
        const w0 = workersCpu(procs)
        const c0 = machineCpu()
        const t0 = performance.now()
        const result: CampaignResult = await client.workflow.execute(optimizationCampaign, {
          workflowId: campaignId,
          taskQueue,
          args: [{ taskId: TASK, campaignId, trigger: 'test', config: CONFIG }],
        })
        const campaignSeconds = (performance.now() - t0) / 1000
        if (result.canary)
          await client.workflow.getHandle(result.canary.workflowId).terminate('benchmark: the canary is not measured')
        const c1 = machineCpu()
        const w1 = workersCpu(procs)
        const g0 = performance.now()
        const graded = await client.workflow.execute(gradeBatch, {
          workflowId: `bench-grade-${run}-${n}`,
          taskQueue,
          args: [{ taskId: TASK, limit: gradingItems }],
        })
        const gradingSeconds = (performance.now() - g0) / 1000
        const c2 = machineCpu()
        const w2 = workersCpu(procs)
        const workerCpuPerItem = {
          campaign: Math.round(((w1 - w0) / Math.max(1, result.rolloutsUsed)) * 1e4) / 1e4,
          grading: Math.round(((w2 - w1) / Math.max(1, graded.itemCount)) * 1e4) / 1e4,
        }
        const cpuBusy = { campaign: round2(busyShare(c0, c1)), grading: round2(busyShare(c1, c2)) }
        const m: Measurement = {
          run,
          n,
          campaignSeconds,
          gradingSeconds,
          gradingItems: graded.itemCount,
          decision: result.decision,
          winner: result.winnerVersion,
          rollouts: result.rolloutsUsed,
          rounds: result.rounds,
          cpuBusy,
          workerCpuPerItem,
          steps: await timeline(client, campaignId),
        }
        measurements.push(m)
        log(
          `  campaign steps: ${Object.entries(m.steps)
            .sort((a, b) => b[1].seconds - a[1].seconds)
            .map(([k, v]) => `${k} ${v.seconds} s (${v.count}×)`)
            .join(', ')}`,
        )
        log(
          `run ${run}, ${n} worker(s): campaign ${campaignSeconds.toFixed(1)} s (${result.decision}, ` +
            `${result.rounds} rounds, ${result.rolloutsUsed} rollouts; CPU ` +
            `${Math.round(cpuBusy.campaign * 100)} % busy, workers ` +
            `${(workerCpuPerItem.campaign * 1000).toFixed(1)} ms/rollout) · grading ${graded.itemCount} items ` +
            `in ${gradingSeconds.toFixed(1)} s = ${(graded.itemCount / gradingSeconds).toFixed(1)} items/s ` +
            `(ideal ${((n * concurrency) / (latencyMs / 1000)).toFixed(1)}; CPU ` +
            `${Math.round(cpuBusy.grading * 100)} % busy, workers ` +
            `${(workerCpuPerItem.grading * 1000).toFixed(1)} ms/item)`,
        )
      } finally {
        for (const p of procs) p.kill('SIGTERM')
        await Promise.all(
          procs.map((p) => (p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)))),
        )
        await conn.close()
        await database.drop()
      }
    }
  }
} finally {
  await connection.close()
  await temporal.stop()
  await server.close()
  rmSync(serverDir, { recursive: true, force: true })
}

/** Speed-up is over the first worker count (one worker by default). */
const base = median(measurements.filter((m) => m.n === workerCounts[0]).map((m) => m.campaignSeconds))
const rows = workerCounts.map((n) => {
  const ms = measurements.filter((m) => m.n === n)
  const campaignSeconds = median(ms.map((m) => m.campaignSeconds))
  const gradingItemsPerSec = median(ms.map((m) => m.gradingItems / m.gradingSeconds))
  const idealItemsPerSec = (n * concurrency) / (latencyMs / 1000)
  return {
    n,
    campaignSeconds: round2(campaignSeconds),
    speedup: round2(base / campaignSeconds),
    gradingItemsPerSec: round2(gradingItemsPerSec),
    idealItemsPerSec: round2(idealItemsPerSec),
    gradingShareOfIdeal: round2(gradingItemsPerSec / idealItemsPerSec),
    runs: ms.map((m) => ({
      campaignSeconds: round2(m.campaignSeconds),
      gradingItemsPerSec: round2(m.gradingItems / m.gradingSeconds),
      cpuBusy: m.cpuBusy,
      workerCpuPerItem: m.workerCpuPerItem,
      steps: m.steps,
    })),
  }
})
const outcomes = new Set(measurements.map((m) => `${m.decision}|${m.winner}|${m.rollouts}`))
const report = {
  workers: rows,
  settings: {
    latencyMs,
    concurrencyPerWorker: concurrency,
    runs,
    strategy: values.strategy,
    rounds,
    proposals,
    gradingItems,
  },
  campaign: { sameOutcomeEverywhere: outcomes.size === 1, outcomes: [...outcomes] },
}
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
else {
  log('')
  log('workers  campaign s  speed-up  grading items/s  ideal  share')
  for (const r of rows)
    log(
      `${String(r.n).padStart(7)}  ${r.campaignSeconds.toFixed(1).padStart(10)}  ` +
        `${r.speedup.toFixed(2).padStart(8)}  ${r.gradingItemsPerSec.toFixed(1).padStart(15)}  ` +
        `${r.idealItemsPerSec.toFixed(1).padStart(5)}  ${r.gradingShareOfIdeal.toFixed(2)}`,
    )
  log(
    `campaign outcome at every worker count: ` +
      `${report.campaign.outcomes.join(' / ')}` +
      `${report.campaign.sameOutcomeEverywhere ? ' (the same)' : ' (DIFFERENT)'}`,
  )
}
