/**
 * @module cli/commands/up
 * `kaizen up`: everything in one process on embedded defaults (Temporal dev server, database,
 * worker, simulated live traffic), one campaign, then keep serving until Ctrl-C.
 * `kaizen demo --once`: one campaign to a canary decision, then exit.
 * `kaizen worker`: only a worker.
 */
import { join } from 'node:path'
import type { Command } from 'commander'
import { z } from 'zod'
import { parseCampaignConfig } from '../../core/config.js'
import { openRuntime, type KaizenRuntime } from '../../runtime/app.js'
import { REPO_ROOT, loadEnv } from '../../runtime/env.js'
import { KaizenError } from '../../core/errors.js'
import { isTemporalUnavailable, outageReason } from '../../runtime/outage.js'
import type { TrafficSimulator } from '../../serving/traffic-simulator.js'
import { upsertRetentionSchedule } from '../../runtime/schedules.js'
import { SimulationProvider } from '../../providers/simulation.js'
import { canaryStatusQuery, type CanaryStatus } from '../../workflows/messages.js'
import { runWorker } from '../worker.js'
import { defaultOperator, openConsole, operatorSignIn, type ConsoleAccess } from '../console-access.js'
import {
  EXAMPLE_TASK_FILE,
  openTaskFileDemo,
  runTaskFileDemo,
  type TaskFileDemo,
  type TaskFileDemoRun,
} from '../task-file-demo.js'
import { DEMO_CONFIG, runDemo, simulateTraffic, tellDemo } from '../demo.js'
import { requireDrift, runMonitorDemo } from '../monitor-demo.js'
import { onShutdownSignal, runtimeOperations } from '../context.js'
import { numberFlag } from '../flags.js'
import { printJson, say, SIM_LABEL } from '../output.js'

/** Simulated production requests per second. */
const rateFlag = numberFlag('--rate', z.number().gt(0).max(1_000))

const TASK_FILE_HELP =
  'drive a task defined by a task file through the OpenAI provider, against the simulated world served ' +
  `behind the OpenAI wire (as \`kaizen sim serve\`); default file: ${EXAMPLE_TASK_FILE}`
const taskFilePath = (flag: string | true) => (flag === true ? join(REPO_ROOT, EXAMPLE_TASK_FILE) : flag)

/** `kaizen demo --task-file`: one campaign on the task file's task to a canary decision, then exit. */
async function demoTaskFile(opts: {
  json?: boolean
  scenario: string
  rate: number
  headless?: boolean
  taskFile: string
  operator?: string | undefined
}) {
  let demo: TaskFileDemo | null = null
  onShutdownSignal(async (signal) => {
    say(`\n${signal}: stopping.`)
    await demo?.close()
  })
  demo = await openTaskFileDemo({ taskFile: opts.taskFile, log: say, ...(opts.headless ? { headless: true } : {}) })
  try {
    await demo.rt.startWorker()
    const run = await runTaskFileDemo(demo, { scenario: opts.scenario, rate: opts.rate, log: say })
    await run.close()
    for (const line of tellDemo(demo.rt, run.summary)) say(line)
    if (opts.json) printJson(run.summary)
  } finally {
    await demo.close()
  }
}

/** `kaizen up --task-file`: the same, then keep the worker, the API and live traffic running until Ctrl-C. */
async function upTaskFile(opts: {
  scenario: string
  rate: number
  campaign: boolean
  headless?: boolean
  taskFile: string
  operator?: string | undefined
}) {
  let demo: TaskFileDemo | null = null
  let run: TaskFileDemoRun | null = null
  let signIn: Awaited<ReturnType<typeof operatorSignIn>> | null = null
  onShutdownSignal(async (signal) => {
    say(`\n${signal}: stopping traffic, API, worker and servers.`)
    await signIn?.revoke()
    await run?.close()
    await demo?.close()
  })
  if (!opts.campaign)
    throw new KaizenError('INVALID_INPUT', '--no-campaign: only for the scenario demo, not with --task-file', {
      details: { fields: ['--no-campaign'] },
    })
  demo = await openTaskFileDemo({ taskFile: opts.taskFile, log: say, ...(opts.headless ? { headless: true } : {}) })
  const rt = demo.rt
  say(
    `Kaizen is starting: database ${rt.database.kind} (${rt.database.location}); Temporal ` +
      `${rt.temporal.address}${rt.temporal.embedded ? ' (embedded dev server)' : ''}.`,
  )
  if (rt.temporal.uiUrl) say(`Temporal Web UI: ${rt.temporal.uiUrl}`)
  await rt.startWorker()
  run = await runTaskFileDemo(demo, { scenario: opts.scenario, rate: opts.rate, log: say })
  for (const line of tellDemo(rt, run.summary)) say(line)
  const operator = opts.operator ?? defaultOperator(rt.env)
  signIn = await operatorSignIn(rt, run.api.url, operator)
  say('')
  say(consoleLine({ url: run.api.url, signInUrl: signIn.signInUrl, operator }))
  say(
    `Kaizen is running ${SIM_LABEL}: worker, the API at ${run.api.url} and live gateway traffic (about ` +
      `${opts.rate} requests/s) on task "${run.summary.task}". Your own calls can use the API with ` +
      `KAIZEN_URL=${run.api.url} KAIZEN_TOKEN=${run.token} (ingest and read, this task only; revoked on ` +
      'exit). Press Ctrl-C to stop.',
  )
  await new Promise<never>(() => undefined) // serve until a signal stops the process
}

/** Where the console is, and the sign-in link of the person running `kaizen up`. */
const consoleLine = (c: { url: string; signInUrl: string; operator: string }) =>
  `Console: ${c.url}/ — open ${c.signInUrl} to sign in as ${c.operator} (read and approve; the token is ` +
  'revoked when kaizen up stops).'

/** Refuse an unknown --scenario (or --drift) before anything starts (servers, worker, traffic). */
async function requireScenarioFlag(id: string, drift?: string): Promise<void> {
  const env = loadEnv()
  const simulation = await SimulationProvider.fromDirectory(env.KAIZEN_SCENARIOS_DIR)
  simulation.scenario(id)
  if (drift) requireDrift({ simulation }, id, drift)
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'run everything on embedded defaults: Temporal dev server, database, worker, simulated traffic, and one campaign',
    )
    .option('--scenario <id>', 'scenario whose task to improve', 'incident-triage')
    .option('--rate <n>', 'simulated production requests per second', rateFlag, 40)
    .option('--no-campaign', 'serve traffic and run the worker, but start no campaign')
    .option('--task-file [file]', TASK_FILE_HELP)
    .option(
      '--drift [id]',
      'show the quality monitor instead of the first campaign: once it has learned its reference, the ' +
        "scenario's drift starts (default provider-update, a silent model update) → alert → a campaign the " +
        'monitor starts → a canary awaiting approval',
    )
    .option('--operator <identity>', 'who approves from the console (default KAIZEN_OPERATOR or <user>@localhost)')
    .option('--headless', 'do not start the Temporal Web UI')
    .action(
      async (opts: {
        scenario: string
        rate: number
        campaign: boolean
        headless?: boolean
        taskFile?: string | true
        drift?: string | true
        operator?: string
      }) => {
        const drift = opts.drift === true ? 'provider-update' : opts.drift
        await requireScenarioFlag(opts.scenario, drift)
        if (opts.taskFile && drift)
          throw new KaizenError('INVALID_INPUT', '--drift: only for the scenario demo, not with --task-file', {
            details: { fields: ['--drift'] },
          })
        if (drift && !opts.campaign)
          throw new KaizenError('INVALID_INPUT', '--drift shows a campaign the monitor starts: drop --no-campaign', {
            details: { fields: ['--drift'] },
          })
        if (opts.taskFile) return upTaskFile({ ...opts, taskFile: taskFilePath(opts.taskFile) })
        let rt: KaizenRuntime | null = null
        let traffic: TrafficSimulator | null = null
        let follow: NodeJS.Timeout | undefined
        let access: ConsoleAccess | null = null
        onShutdownSignal(async (signal) => {
          clearInterval(follow)
          say(
            `\n${signal}: stopping traffic, console, worker and ` +
              `servers${rt ? ` (state is kept in ${rt.env.KAIZEN_DATA_DIR})` : ''}.`,
          )
          await traffic?.stop()
          await access?.close()
          await rt?.close()
        })
        rt = await openRuntime({
          temporal: 'embedded-or-configured',
          waitForServices: true,
          log: say,
          ...(opts.headless ? { headless: true } : {}),
        })
        try {
          say(
            `Kaizen is starting: database ${rt.database.kind} (${rt.database.location}); Temporal ` +
              `${rt.temporal.address}${rt.temporal.embedded ? ' (embedded dev server)' : ''}.`,
          )
          if (rt.temporal.uiUrl) say(`Temporal Web UI: ${rt.temporal.uiUrl}`)
          await rt.startWorker()
          access = await openConsole(rt, opts.operator ?? defaultOperator(rt.env))
          say(consoleLine(access))
          const tasks = await rt.registerScenarioTasks()
          const ops = runtimeOperations(rt)
          for (const t of tasks) {
            // The tasks were just registered; their traffic comes next (warnings about it are not shown).
            const { scheduleId, created } = await ops.createSchedule({
              taskId: t.taskId,
              cron: '0 2 * * *',
              timezone: 'UTC',
              catchupWindow: '1 hour',
              config: parseCampaignConfig({}),
              keepExisting: true,
            })
            say(`Nightly schedule ${scheduleId} ${created ? 'created (02:00 UTC)' : 'in place'}.`)
          }
          const retention = await upsertRetentionSchedule(rt.client, {
            taskQueue: rt.env.TEMPORAL_TASK_QUEUE,
            keepExisting: true,
          })
          say(
            `Traffic retention schedule ${retention.scheduleId} ` +
              `${retention.created ? 'created (03:30 UTC daily)' : 'in place'}.`,
          )
          let canaryId: string | null = null
          if (drift) {
            const run = await runMonitorDemo(rt, { scenario: opts.scenario, drift, rate: opts.rate, log: say })
            if (run.summary) for (const line of tellDemo(rt, run.summary)) say(line)
            canaryId = run.summary?.canary?.id ?? null
            traffic = run.traffic
          } else if (opts.campaign) {
            const run = await runDemo(rt, { scenario: opts.scenario, rate: opts.rate })
            for (const line of tellDemo(rt, run.summary)) say(line)
            canaryId = run.summary.canary?.id ?? null
            traffic = run.traffic
          } else {
            traffic = simulateTraffic(rt, opts.scenario)
            traffic.start(opts.rate)
          }
          say('')
          say(
            `Kaizen is running ${SIM_LABEL}: worker, console and live traffic (about ${opts.rate} requests/s). ` +
              'Press Ctrl-C to stop.',
          )
          say(consoleLine(access))
          let lastState: CanaryStatus['state'] | null = null
          const client = rt.client
          follow = setInterval(() => {
            if (!canaryId) return
            void client.workflow
              .getHandle(canaryId)
              .query(canaryStatusQuery)
              .then((s) => {
                rt?.temporalOutage.ok()
                if (s.state !== lastState) {
                  if (lastState !== null) say(`Canary ${canaryId} is now ${s.state}${s.reason ? `: ${s.reason}` : ''}`)
                  lastState = s.state
                }
              })
              // Temporal unreachable: one outage line (runtime/outage.ts); anything else is retried on the next tick.
              .catch((err: unknown) => {
                if (isTemporalUnavailable(err)) rt?.temporalOutage.failed(outageReason(err))
              })
          }, 3_000)
        } catch (err) {
          clearInterval(follow)
          await traffic?.stop()
          await access?.close()
          await rt.close()
          throw err
        }
        await new Promise<never>(() => undefined) // serve until a signal stops the process
      },
    )

  program
    .command('demo')
    .description('run one campaign on embedded defaults to a canary decision, then exit')
    .option('--once', 'exit after the canary decision (the only mode; kept for clarity)', true)
    .option('--json', 'print the result as one JSON object')
    .option('--scenario <id>', 'scenario whose task to improve', 'incident-triage')
    .option('--rate <n>', 'simulated production requests per second', rateFlag, 40)
    .option('--fail-canary', 'fault injection: every request served by the canary fails')
    .option('--task-file [file]', TASK_FILE_HELP)
    .option('--headless', 'do not start the Temporal Web UI')
    .action(
      async (opts: {
        json?: boolean
        scenario: string
        rate: number
        failCanary?: boolean
        headless?: boolean
        taskFile?: string | true
      }) => {
        await requireScenarioFlag(opts.scenario)
        if (opts.taskFile) {
          if (opts.failCanary)
            throw new KaizenError('INVALID_INPUT', '--fail-canary: only for the scenario demo, not with --task-file', {
              details: { fields: ['--fail-canary'] },
            })
          return demoTaskFile({ ...opts, taskFile: taskFilePath(opts.taskFile) })
        }
        let rt: KaizenRuntime | null = null
        onShutdownSignal(async (signal) => {
          say(`\n${signal}: stopping.`)
          await rt?.close()
        })
        rt = await openRuntime({
          temporal: 'embedded-or-configured',
          waitForServices: true,
          log: say,
          ...(opts.headless ? { headless: true } : {}),
        })
        try {
          await rt.startWorker()
          const run = await runDemo(rt, {
            scenario: opts.scenario,
            rate: opts.rate,
            failCanary: opts.failCanary ?? false,
            config: DEMO_CONFIG,
          })
          await run.traffic.stop()
          for (const line of tellDemo(rt, run.summary)) say(line)
          if (opts.json) printJson(run.summary)
        } finally {
          await rt.close()
        }
      },
    )

  program
    .command('worker')
    .description('run a Kaizen worker (for deployments with DATABASE_URL and TEMPORAL_ADDRESS)')
    .action(() => runWorker())
}
