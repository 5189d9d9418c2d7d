/**
 * bench:grading — how fast Kaizen grades, against the ideal and against promptfoo.
 *
 * N items are graded by one LLM-judge dimension served by a local OpenAI-compatible server with a
 * fixed latency L, at a concurrency limit C (Kaizen: the provider limiter; promptfoo: -j C). The
 * ideal is C / L items per second. Kaizen runs the real thing: the gradeBatch workflow on a
 * Temporal dev server, chunk activities, Postgres for items, cache and scores. Also reported:
 * Temporal history events per 1,000 graded items.
 *
 *   npm run bench:grading [-- --items 2000 --latency-ms 100 --concurrency 16 --chunk-size 250 --json]
 *     [--skip-promptfoo]
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Client, Connection } from '@temporalio/client'
import { NativeConnection, Worker } from '@temporalio/worker'
import { createActivities } from '../../activities/index.js'
import { openDatabase } from '../../db/client.js'
import { activateGrader } from '../../db/queries/graders.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { traffic } from '../../db/schema.js'
import { GraderSpec } from '../../core/grader-spec.js'
import { ModelClient } from '../../providers/client.js'
import { OpenAIProvider } from '../../providers/openai.js'
import { Prices } from '../../providers/prices.js'
import { ProviderRegistry } from '../../providers/registry.js'
import { SimulationProvider } from '../../providers/simulation.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { installTemporalRuntime } from '../../runtime/temporal-runtime.js'
import { withTestInfra } from '../../scripts/lib/test-infra.js'
import { loadScenarioFile } from '../../sim/scenario.js'
import { workflowBundle } from '../../worker/create-worker.js'
import { gradeBatch } from '../../workflows/grading.js'
import { ensurePromptfoo, runPromptfoo } from './promptfoo.js'
import { startBenchServer } from './server-client.js'

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '2000' },
    'latency-ms': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '16' },
    'chunk-size': { type: 'string', default: '250' },
    json: { type: 'boolean', default: false },
    'skip-promptfoo': { type: 'boolean', default: false },
  },
})
const N = Number(values.items)
const L = Number(values['latency-ms'])
const C = Number(values.concurrency)
const chunkSize = Number(values['chunk-size'])
for (const [k, v] of Object.entries({ items: N, 'latency-ms': L, concurrency: C, 'chunk-size': chunkSize })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k}: use a positive whole number`)
}
const log = (line: string) => process.stderr.write(`${line}\n`)
const RUBRIC = 'Is the decision stated clearly enough for an on-call engineer to act on?'

// The local OpenAI-compatible server runs in its own process, like a real provider.
const server = await startBenchServer(L)
const outputs = Array.from({ length: N }, (_, i) =>
  JSON.stringify({
    diagnosis: `Faulty deploy v2.${i % 50}.0 of payments-api`,
    actions: [{ command: 'kubectl rollout undo deployment/payments-api', target: 'payments-api' }],
    risk: 'medium',
    n: i,
  }),
)

try {
  const kaizen = await withTestInfra(log, async (infra) => {
    installTemporalRuntime('ERROR')
    const scenario = await loadScenarioFile(join(REPO_ROOT, 'scenarios', 'incident-triage.yaml'))
    const database = await openDatabase({ url: infra.databaseUrl, dataDir: tmpdir(), migrate: false })
    const db = database.db
    const simulation = new SimulationProvider([scenario])
    const judge = new OpenAIProvider({
      apiKey: 'bench',
      baseURL: server.openaiBaseUrl,
      prices: new Prices({ 'bench-judge': { inputPerMTok: 0.15, outputPerMTok: 0.6 } }),
      serves: (m) => m === 'bench-judge',
    })
    const providers = new ProviderRegistry([simulation, judge], simulation, {
      defaultLimits: { concurrency: C, tokensPerMinute: null },
    })
    const task = await registerSimulatedTask(db, taskOfScenario(scenario))
    const spec = GraderSpec.parse({
      kind: 'grader',
      name: 'bench-judge',
      dimensions: [
        {
          name: 'clarity',
          weight: 1,
          check: {
            type: 'llm-judge',
            rubric: RUBRIC,
            levels: [
              { label: 'unclear', description: 'cannot tell what to do' },
              { label: 'clear', description: 'obvious what to do' },
            ],
          },
        },
      ],
      gates: { injection: false, pii: false, refusal: false },
      judge: { model: 'bench-judge' },
    })
    await activateGrader(db, { taskId: task.taskId, spec, actor: 'bench', source: 'bench' })
    const run = randomBytes(3).toString('hex')
    const rows = outputs.map((output, i) => ({
      id: `bench-${run}-${i}`,
      taskId: task.taskId,
      promptVersionId: task.productionVersionId,
      routingKey: `u${i}`,
      input: { incident_id: `INC-${i}`, service: 'payments-api', summary: `5xx after deploy (${i})` },
      output,
      provider: 'simulation',
      model: 'sim-standard',
      simulated: true,
    }))
    for (let i = 0; i < rows.length; i += 1_000) await db.insert(traffic).values(rows.slice(i, i + 1_000))

    const native = await NativeConnection.connect({ address: infra.temporalAddress })
    const connection = await Connection.connect({ address: infra.temporalAddress })
    const client = new Client({ connection })
    const taskQueue = `bench-grading-${run}`
    const models = new ModelClient(db, providers)
    const worker = await Worker.create({
      connection: native,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createActivities({
        db,
        providers,
        models,
        evalConcurrency: C,
      }),
      maxConcurrentActivityTaskExecutions: 64,
    })
    const running = worker.run()
    try {
      await server.resetStats()
      const workflowId = `bench-grading-${run}`
      const started = performance.now()
      const result = await client.workflow.execute(gradeBatch, {
        taskQueue,
        workflowId,
        args: [
          {
            taskId: task.taskId,
            limit: N,
            chunkSize,
            parallelChunks: Math.min(16, Math.ceil(N / chunkSize)),
            concurrency: C,
          },
        ],
      })
      const seconds = (performance.now() - started) / 1000
      const history = await client.workflow.getHandle(workflowId).fetchHistory()
      const events = history.events?.length ?? 0
      const stats = await server.stats()
      return { graded: result.graded, seconds, events, calls: stats.calls, maxInFlight: stats.maxInFlight }
    } finally {
      worker.shutdown()
      await running
      await native.close()
      await connection.close()
      await database.close()
    }
  })

  let promptfoo: {
    itemsPerSec: number
    version: string
    wallMs: number
    evalItemsPerSec: number | null
    calls: number
  } | null = null
  if (!values['skip-promptfoo']) {
    const toolsDir = resolve(REPO_ROOT, 'bench', 'grading', '.tools')
    await ensurePromptfoo(toolsDir, log)
    await server.resetStats()
    const r = await runPromptfoo({
      toolsDir,
      workDir: mkdtempSync(join(tmpdir(), 'kaizen-bench-promptfoo-')),
      openaiBaseUrl: server.openaiBaseUrl,
      model: 'bench-judge',
      items: outputs.map((output) => ({ output, rubric: RUBRIC })),
      concurrency: C,
      log,
    })
    const extra = r as unknown as { evalMs?: number }
    promptfoo = {
      itemsPerSec: r.itemsPerSec,
      version: r.version,
      wallMs: r.wallMs,
      evalItemsPerSec: extra.evalMs ? r.items / (extra.evalMs / 1000) : null,
      calls: (await server.stats()).calls,
    }
  }

  const idealItemsPerSec = C / (L / 1000)
  const itemsPerSec = kaizen.graded / kaizen.seconds
  const out = {
    items: N,
    latencyMs: L,
    concurrency: C,
    chunkSize,
    itemsPerSec: +itemsPerSec.toFixed(2),
    idealItemsPerSec,
    shareOfIdeal: +(itemsPerSec / idealItemsPerSec).toFixed(3),
    kaizenSeconds: +kaizen.seconds.toFixed(2),
    providerCalls: kaizen.calls,
    maxInFlight: kaizen.maxInFlight,
    historyEvents: kaizen.events,
    historyEventsPer1000: +((kaizen.events / kaizen.graded) * 1000).toFixed(1),
    promptfooItemsPerSec: promptfoo ? +promptfoo.itemsPerSec.toFixed(2) : null,
    promptfooEvalOnlyItemsPerSec: promptfoo?.evalItemsPerSec ? +promptfoo.evalItemsPerSec.toFixed(2) : null,
    promptfooVersion: promptfoo?.version ?? null,
    promptfooProviderCalls: promptfoo?.calls ?? null,
  }
  if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
  else {
    log(`Graded ${N} items (LLM judge, latency ${L} ms, concurrency ${C}):`)
    log(
      `  Kaizen     ${out.itemsPerSec} items/s = ${(out.shareOfIdeal * 100).toFixed(1)} % of the ideal ` +
        `${idealItemsPerSec} (C / L); ${out.providerCalls} calls, at most ${out.maxInFlight} in flight`,
    )
    log(
      `  promptfoo  ${out.promptfooItemsPerSec ?? 'skipped'} items/s (whole process; ` +
        `${out.promptfooEvalOnlyItemsPerSec ?? 'n/a'} items/s inside its eval loop), promptfoo ` +
        `${out.promptfooVersion ?? ''}`,
    )
    log(`  Temporal history: ${out.historyEvents} events = ${out.historyEventsPer1000} per 1,000 graded items`)
  }
} finally {
  await server.close()
}
