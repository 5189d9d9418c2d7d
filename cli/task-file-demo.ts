/**
 * @module cli/task-file-demo
 * The second demo of `kaizen up` / `kaizen demo` (`--task-file`): a task defined by a task file,
 * driven the way a team runs its own prompt (docs/your-own-prompt.md), offline. The simulated world
 * plays the model provider behind the OpenAI wire (`kaizen sim serve`, in this process), so the
 * task's model, its LLM judge and the LLM proposer are reached through Kaizen's OpenAI provider.
 * The app's side goes through the HTTP API with `kaizen/client`: gateway calls, outcomes as
 * feedback. Then the grader is calibrated on labelled answers, a campaign runs (the task file's
 * search and canary settings under the campaign file's), and its canary is followed on live
 * gateway traffic. Everything it serves and records is labelled simulation.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseCampaignConfig, withTaskDefaults, type CampaignConfig } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { modelsOf } from '../core/task-file.js'
import { calibrateGrader, currentGraderVersion, graderTrustCheck } from '../evaluation/calibration.js'
import { LabelRecord } from '../graders/calibration.js'
import { recentAnswers } from '../db/queries/export.js'
import { campaignPreflight } from '../db/queries/preflight.js'
import { createToken, revokeToken } from '../db/queries/tokens.js'
import { readDataFile } from '../lib/data-file.js'
import { describeError } from '../lib/safe-log.js'
import { openRuntime, type KaizenRuntime } from '../runtime/app.js'
import { loadEnv } from '../runtime/env.js'
import { KaizenClient } from '../sdk/client.js'
import { startApiServer, type ApiServer } from './api-server.js'
import { DEMO_CONFIG, followCampaign, usableTraffic, type DemoSummary, type DemoTraffic } from './demo.js'
import { SIM_LABEL } from './output.js'
import { startSimWorld, type SimServer } from './sim-world.js'
import { applyReadTaskFile, readTaskFile, type ReadTaskFile } from './task-file.js'

/** The task file the demo runs when `--task-file` names none: the on-call example of the quick start. */
export const EXAMPLE_TASK_FILE = 'examples/oncall-app/task.yaml'
/** Labelled answers the grader is calibrated on, when it is not trusted yet. */
const CALIBRATION_ANSWERS = 120

export interface TaskFileDemo {
  rt: KaizenRuntime
  sim: SimServer
  file: ReadTaskFile
  /** Settings of the campaign file (beside the task file, `campaign.yaml`), if any. */
  campaignFile: string | null
  close(): Promise<void>
}

/**
 * Start the simulated world on a free port and open a runtime whose OpenAI provider talks to it.
 * The task file is read first, and every model it names must be one the simulated world serves.
 */
export async function openTaskFileDemo(options: {
  taskFile: string
  headless?: boolean
  log: (line: string) => void
}): Promise<TaskFileDemo> {
  const file = await readTaskFile(options.taskFile, '--task-file')
  const env = loadEnv()
  const sim = await startSimWorld({
    port: 0,
    host: '127.0.0.1',
    scenariosDir: env.KAIZEN_SCENARIOS_DIR,
    judgeAgreement: 0.95,
    latencyScale: 0,
  })
  try {
    const served = new Set(
      ((await (await fetch(`${sim.baseUrl}/models`)).json()) as { data: Array<{ id: string }> }).data.map(
        (m) => `openai:${m.id}`,
      ),
    )
    const foreign = modelsOf(file.definition, file.grader).filter((m) => !served.has(m.model))
    if (foreign.length > 0)
      throw new KaizenError(
        'INVALID_INPUT',
        `--task-file ${options.taskFile}: the demo plays every model with the simulated world, which serves ` +
          `${[...served].join(', ')}; not ${foreign.map((m) => `${m.path} (${m.model})`).join(', ')}. Name ` +
          'those models in the task file, or run the task on real models as docs/your-own-prompt.md shows.',
        { details: { fields: foreign.map((m) => m.path) } },
      )
    // The simulated models have no list price: a prices file beside the task file gives them one.
    const prices = join(dirname(options.taskFile), 'prices.yaml')
    const campaign = join(dirname(options.taskFile), 'campaign.yaml')
    const rt = await openRuntime({
      env: {
        ...env,
        OPENAI_BASE_URL: sim.baseUrl,
        OPENAI_API_KEY: undefined,
        ...(existsSync(prices) ? { KAIZEN_PRICES_FILE: prices } : {}),
      },
      temporal: 'embedded-or-configured',
      waitForServices: true,
      log: options.log,
      ...(options.headless ? { headless: true } : {}),
    })
    return {
      rt,
      sim,
      file,
      campaignFile: existsSync(campaign) ? campaign : null,
      async close() {
        await rt.close()
        await sim.close()
      },
    }
  } catch (err) {
    await sim.close()
    throw err
  }
}

interface SimCase {
  key: string
  input: Record<string, string>
  reference?: Record<string, unknown>
}

/**
 * The app's side: cases of the simulated world sent through the gateway with `kaizen/client`, each
 * case's outcome sent as feedback (it becomes the record's reference).
 */
class GatewayTraffic implements DemoTraffic {
  /** Pages of cases, fetched once each, in order. */
  private readonly pages = new Map<number, Promise<SimCase[]>>()
  private sends = 0
  private running = false
  private loop: Promise<void> | null = null
  readonly stats = { sent: 0, errors: 0 }

  /**
   * `runId` names the calls: the n-th call of a run has the id `<runId>:<n>`, so a run with a fixed id
   * sends the same records (a record's id decides where it falls in a campaign's sample).
   */
  constructor(
    private readonly client: KaizenClient,
    private readonly taskId: string,
    private readonly examplesUrl: string,
    private readonly runId: string,
    private readonly log: (line: string) => void,
  ) {}

  private static readonly PAGE = 200

  /** The n-th case (the simulated world's cases in order, round and round its first pages). */
  private async caseAt(n: number): Promise<SimCase> {
    const page = Math.floor(n / GatewayTraffic.PAGE) % 5
    let cases = this.pages.get(page)
    if (!cases) {
      const url = `${this.examplesUrl}&count=${GatewayTraffic.PAGE}&offset=${page * GatewayTraffic.PAGE}`
      cases = fetch(url).then(async (res) => {
        if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
        return ((await res.json()) as { examples: SimCase[] }).examples
      })
      this.pages.set(page, cases)
      cases.catch(() => this.pages.delete(page))
    }
    return (await cases)[n % GatewayTraffic.PAGE] as SimCase
  }

  private async sendOne(): Promise<void> {
    const n = this.sends++
    const c = await this.caseAt(n)
    try {
      const id = `${this.runId}:${n}`
      const r = await this.client.complete({ task: this.taskId, key: c.key, input: c.input, id })
      if (c.reference) await this.client.feedback({ trafficId: r.trafficId, outcome: c.reference })
      this.stats.sent++
    } catch (err) {
      if (++this.stats.errors <= 3) this.log(`  gateway call for ${c.key} failed: ${describeError(err)}`)
    }
  }

  async burst(count: number, concurrency = 8): Promise<void> {
    let left = count
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (left-- > 0) await this.sendOne()
      }),
    )
  }

  start(perSecond: number): void {
    if (this.running) return
    this.running = true
    this.loop = (async () => {
      while (this.running) {
        const t0 = Date.now()
        await this.burst(Math.max(1, Math.round(perSecond / 10)), 4)
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))))
      }
    })()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
    this.loop = null
  }
}

export interface TaskFileDemoRun {
  summary: DemoSummary
  traffic: DemoTraffic
  api: ApiServer
  /** An ingest/read token for the task, valid until the run is closed. */
  token: string
  /** Stop traffic, revoke the demo's token and stop the API (the runtime is the caller's to close). */
  close(): Promise<void>
}

/** Apply the task file, send traffic with outcomes, calibrate, run one campaign and follow its canary. */
export async function runTaskFileDemo(
  demo: TaskFileDemo,
  options: { scenario: string; rate: number; log: (line: string) => void; canaryTimeoutSeconds?: number },
): Promise<TaskFileDemoRun> {
  const { rt, sim, file, log } = { ...demo, log: options.log }
  const taskId = file.definition.id
  const applied = await applyReadTaskFile(rt.deps, file, { actor: 'kaizen-demo', promote: false })
  for (const line of applied.lines) log(`${SIM_LABEL} ${line}`)
  log(`${SIM_LABEL} The model, the judge and the proposer are served by the simulated world at ${sim.baseUrl}.`)

  const api = await startApiServer(rt.deps, {
    host: '127.0.0.1',
    port: 0,
    temporal: { taskQueue: rt.env.TEMPORAL_TASK_QUEUE, client: async () => rt.client },
    consoleSecret: rt.env.KAIZEN_CONSOLE_SECRET,
  })
  const { token, secret } = await createToken(rt.db, {
    name: `kaizen-demo-${taskId}`,
    scopes: ['ingest', 'read'],
    tasks: [taskId],
    createdBy: 'kaizen-demo',
  })
  const client = new KaizenClient({ baseUrl: api.url, token: secret })
  const examples = `${sim.url}/sim/v1/examples?scenario=${encodeURIComponent(options.scenario)}`
  const have = await usableTraffic(rt, taskId, 24 * 365)
  // A task's first demo sends the same calls and gets the same campaign seed everywhere; later runs
  // draw anew (then, as in 4 of the 5 runs tried, the holdout gate usually lets the winner through).
  const runId = have === 0 ? 'kaizen-demo' : randomUUID()
  const traffic = new GatewayTraffic(client, taskId, examples, runId, log)
  const close = async () => {
    await traffic.stop()
    await client.close()
    await revokeToken(rt.db, token.id, 'kaizen-demo').catch(() => undefined)
    await api.close()
  }
  try {
    const config = { ...(await campaignConfig(rt, taskId, demo.campaignFile)), seed: runId }
    // Sampling keeps distinct inputs only: the simulated cases repeat, so send about 2.75 per item.
    const want = Math.ceil(config.sample.size * 2.75)
    if (have < want) {
      log(`${SIM_LABEL} Sending ${want - have} requests through the gateway with their outcomes (found ${have})…`)
      await traffic.burst(want - have)
    } else log(`${SIM_LABEL} Reusing ${have} requests with outcomes from earlier runs.`)

    await calibrateOnce(rt, sim, taskId, log)
    const summary = await followCampaign(rt, {
      taskId,
      traffic,
      config,
      rate: options.rate,
      provider: 'openai → kaizen sim serve',
      log,
      ...(options.canaryTimeoutSeconds === undefined ? {} : { canaryTimeoutSeconds: options.canaryTimeoutSeconds }),
    })
    return { summary, traffic, api, token: secret, close }
  } catch (err) {
    await close()
    throw err
  }
}

/** The campaign file's settings (else the demo's) under which the task file's defaults apply. */
async function campaignConfig(rt: KaizenRuntime, taskId: string, path: string | null): Promise<CampaignConfig> {
  const input = path ? await readDataFile(path, 'campaign file') : DEMO_CONFIG
  const where = path ? `campaign config ${path}` : 'demo campaign config'
  const check = await campaignPreflight(rt.db, { taskId, config: parseCampaignConfig(input, where), mode: 'start' })
  return parseCampaignConfig(
    check.campaignDefaults ? withTaskDefaults(input, check.campaignDefaults) : input,
    `${where} with the defaults of task "${taskId}"`,
  )
}

/** A grader that is not trusted yet is calibrated on answers the simulated world labels. */
async function calibrateOnce(rt: KaizenRuntime, sim: SimServer, taskId: string, log: (line: string) => void) {
  const trust = await graderTrustCheck(rt.db, await currentGraderVersion(rt.deps, taskId))
  if (trust.ok) return log(`${SIM_LABEL} The grader is trusted (calibrated earlier).`)
  const answers = await recentAnswers(rt.db, taskId, CALIBRATION_ANSWERS)
  const res = await fetch(`${sim.url}/sim/v1/labels`, {
    method: 'POST',
    body: answers.map((a) => JSON.stringify(a)).join('\n'),
  })
  if (!res.ok) throw new Error(`labelling answers: ${res.status} ${await res.text()}`)
  const lines = (await res.text()).split('\n').filter((l) => l.trim() !== '')
  const labels = lines.map((l) => LabelRecord.parse(JSON.parse(l)))
  const out = await calibrateGrader(rt.deps, {
    taskId,
    labels,
    actor: 'kaizen-demo',
    source: `${sim.url}/sim/v1/labels`,
  })
  log(
    `${SIM_LABEL} Grader calibrated on ${labels.length} answers labelled by the simulated world: ` +
      (out.report.trusted ? 'trusted.' : `NOT trusted (${out.report.reasons.join('; ')}).`),
  )
}
