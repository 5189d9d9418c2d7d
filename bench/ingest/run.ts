/**
 * bench:ingest — the traffic plane under load, over loopback HTTP against `kaizen serve` running
 * in its own process on a fresh Postgres database:
 *   1. prompt resolution latency at a fixed arrival rate (open loop: requests are sent on
 *      schedule whether or not earlier ones have returned), p50 / p99, from a load generator in
 *      its own process: on the freshly started server (in `details`) and, the headline figure,
 *      again after phase 2, once the server has been up and serving;
 *   2. sustained ingestion: batches of 500 records, a few in flight, for --seconds;
 *   3. sampling 1,000 rows out of 1,000,000 (`sampleTraffic`: seeded, time window, near-duplicates removed).
 *
 *   npm run bench:ingest [-- --json] [--seconds 20] [--batch 500] [--in-flight 4] [--rate 1000] [--resolve-seconds 10]
 *     [--rows 1000000]
 */
import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { openDatabase } from '../../db/client.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { sampleTraffic } from '../../db/queries/sampling.js'
import { createToken } from '../../db/queries/tokens.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { createTestDatabase, freePort } from '../../scripts/lib/test-infra.js'
import { loadScenarioFile } from '../../sim/scenario.js'

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '20' },
    batch: { type: 'string', default: '500' },
    'in-flight': { type: 'string', default: '4' },
    rate: { type: 'string', default: '1000' },
    'resolve-seconds': { type: 'string', default: '10' },
    rows: { type: 'string', default: '1000000' },
  },
})
const num = (name: string, v: string | undefined, min: number) => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`bench:ingest: --${name}: use a number ≥ ${min} (got "${v}")\n`)
    process.exit(2)
  }
  return n
}
const seconds = num('seconds', values.seconds, 1)
const batchSize = num('batch', values.batch, 1)
const inFlight = num('in-flight', values['in-flight'], 1)
const rate = num('rate', values.rate, 1)
const resolveSeconds = num('resolve-seconds', values['resolve-seconds'], 1)
const totalRows = num('rows', values.rows, 1000)
const log = (line: string) => process.stderr.write(`${line}\n`)
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
}

const database = await createTestDatabase(log, 'kaizen_bench_ingest')
let server: ReturnType<typeof spawn> | null = null
try {
  const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
  const conn = await openDatabase({ url: database.url, dataDir: tmpdir(), migrate: false })
  const db = conn.db
  const task = await registerSimulatedTask(db, taskOfScenario(scenario))
  const { secret } = await createToken(db, { name: 'bench', scopes: ['ingest', 'read'], createdBy: 'bench' })

  const port = await freePort()
  server = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kaizen.js'), 'serve', '--port', String(port)], {
    env: { ...process.env, DATABASE_URL: database.url },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  await new Promise<void>((resolve, reject) => {
    let err = ''
    server?.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
      if (err.includes('listening')) resolve()
    })
    server?.once('exit', (code) => reject(new Error(`kaizen serve exited (${code}): ${err}`)))
  })
  const base = `http://127.0.0.1:${port}`
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${secret}` }
  log(`kaizen serve at ${base} on ${database.url.replace(/\/\/[^@]*@/, '//')}`)

  // 1. Resolve latency at a fixed arrival rate, from a load generator in its own process (after a
  // 2 s warm-up at the same rate, not counted). Measured on the freshly started server (reported in
  // `details`: its first seconds show start-up pauses), and again once it has been up and serving,
  // after the ingestion phase: that is the headline figure.
  const resolvePhase = async (label: string) => {
    const load = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO_ROOT, 'bench', 'ingest', 'resolve-load.ts'),
        '--url',
        `${base}/v1/tasks/${scenario.task.id}/prompt`,
        '--token',
        secret,
        '--rate',
        String(rate),
        '--seconds',
        String(resolveSeconds),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    load.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    await new Promise((r) => load.once('exit', r))
    const r = JSON.parse(out) as {
      requests: number
      rate: number
      errors: number
      p50: number
      p99: number
      max: number
    }
    log(
      `resolve (${label}): ${r.requests} requests at ${r.rate.toFixed(0)}/s: p50 ${r.p50.toFixed(2)} ms, p99 ` +
        `${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms (${r.errors} errors)`,
    )
    return r
  }
  const fresh = await resolvePhase('fresh server')

  // 2. Sustained ingestion.
  const body = (n: number) =>
    JSON.stringify({
      records: Array.from({ length: batchSize }, (_, i) => ({
        id: `b${n}-${i}`,
        task: scenario.task.id,
        promptVersion: task.seedVersion.id,
        routingKey: `user-${(n * batchSize + i) % 5000}`,
        input: {
          incident_id: `INC-${n}-${i}`,
          service: 'payments-api',
          summary: `5xx rate at ${i % 40}% after deploy ${n % 97}`,
        },
        output:
          '{"diagnosis":"bad deploy","actions":[{"command":"kubectl rollout undo ' +
          'deployment/payments-api","target":"payments-api"}],"risk":"low"}',
        model: 'gpt-4.1-mini',
        inputTokens: 350,
        outputTokens: 90,
        latencyMs: 900 + (i % 300),
        costUsd: 0.0004,
      })),
    })
  // Warm-up (JIT, connection pool), not counted.
  for (let w = 0; w < 4; w++) await fetch(`${base}/v1/traffic`, { method: 'POST', headers, body: body(-1 - w) })
  let next = 0
  let stored = 0
  let failed = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const b = body(next++)
        const r = await fetch(`${base}/v1/traffic`, { method: 'POST', headers, body: b })
        if (r.status === 202) stored += ((await r.json()) as { stored: number }).stored
        else {
          failed++
          await r.text()
        }
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  const ingestRecordsPerSec = stored / elapsed
  log(
    `ingestion: ${stored} records in ${elapsed.toFixed(1)} s = ${ingestRecordsPerSec.toFixed(0)} records/s ` +
      `(${failed} failed batches)`,
  )

  await db.execute(sql`vacuum analyze traffic`)
  const afterIngest = await resolvePhase('right after ingestion')
  // The server's own view (its latency histogram, both phases): how much of the time is spent inside it.
  const metricsText = await (await fetch(`${base}/metrics`, { headers })).text()
  const bucket = (le: string) =>
    Number(
      new RegExp(
        `kaizen_http_request_duration_seconds_bucket\\{le="${le.replace('+', '\\+')}",method="GET",route="/v1` +
          `/tasks/:task/prompt"\\} (\\d+)`,
      ).exec(metricsText)?.[1] ?? NaN,
    )
  const serverCount = bucket('+Inf')
  const serverOver5ms = serverCount - bucket('0.005')
  log(`resolve, server side: ${serverOver5ms} of ${serverCount} requests took over 5 ms inside the server`)

  // 3. Sampling 1,000 of 1,000,000 rows (db/queries/sampling.ts: seeded, window, near-duplicates removed).
  const counted = (await db.execute(sql`select count(*)::int as n from traffic`)) as unknown as {
    rows: Array<{ n: number }>
  }
  const have = Number(counted.rows[0]?.n ?? 0)
  const missing = Math.max(0, totalRows - have)
  const fillStart = performance.now()
  for (let done = 0; done < missing; done += 200_000) {
    const n = Math.min(200_000, missing - done)
    await db.execute(sql`
      insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, reference, provider, model,
                           simulated, created_at)
      select 'fill_' || ${done} || '_' || g, ${scenario.task.id}, ${task.seedVersion.id}, 'user-' || (g % 5000),
             jsonb_build_object('incident_id', 'INC-' || g, 'summary', 'case ' || md5(g::text)), '{}',
             '{"diagnosis":"x","keywords":[],"actions":[],"risk":"low"}'::jsonb,
             'external', 'gpt-4.1-mini', false, now() - (g % 604800) * interval '1 second'
      from generate_series(1, ${n}) g`)
  }
  await db.execute(sql`analyze traffic`)
  log(`filled traffic to ${totalRows} rows in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`)
  const sampleOnce = async (seed: string) => {
    const until = new Date()
    const since = new Date(until.getTime() - 7 * 24 * 3600_000)
    const t = performance.now()
    const ids = await sampleTraffic(db, { taskId: scenario.task.id, seed, size: 1_000, since, until })
    return { ms: performance.now() - t, n: ids.length }
  }
  await sampleOnce('warm')
  const runs = [await sampleOnce('s1'), await sampleOnce('s2'), await sampleOnce('s3')]
  const sample1kFrom1mMs = quantile(
    runs.map((r) => r.ms),
    0.5,
  )
  log(
    `sampling: 1,000 of ${totalRows} rows in ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms (median ` +
      `${sample1kFrom1mMs.toFixed(0)} ms; ${runs[0]?.n} rows)`,
  )
  await conn.close()

  const out = {
    ingestRecordsPerSec: Math.round(ingestRecordsPerSec),
    resolveP99Ms: +afterIngest.p99.toFixed(2),
    sample1kFrom1mMs: Math.round(sample1kFrom1mMs),
    details: {
      batchSize,
      inFlight,
      seconds: +elapsed.toFixed(1),
      failedBatches: failed,
      resolve: {
        rate: Math.round(afterIngest.rate),
        requests: afterIngest.requests,
        errors: afterIngest.errors,
        p50Ms: +afterIngest.p50.toFixed(2),
        p99Ms: +afterIngest.p99.toFixed(2),
        maxMs: +afterIngest.max.toFixed(1),
      },
      resolveFreshServer: {
        rate: Math.round(fresh.rate),
        errors: fresh.errors,
        p50Ms: +fresh.p50.toFixed(2),
        p99Ms: +fresh.p99.toFixed(2),
        maxMs: +fresh.max.toFixed(1),
      },
      resolveOver5msInsideServer: serverOver5ms,
      rows: totalRows,
    },
  }
  if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
} finally {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r))
    server.kill('SIGTERM')
    await exited
  }
  await database.drop()
}
