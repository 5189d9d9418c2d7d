/**
 * @module cli/demo
 * The main job on embedded defaults: register the scenario's task, make sure there is production
 * traffic, run one optimization campaign through Temporal, and follow its canary to a decision
 * point (awaiting approval, holding, or rolled back). Used by `kaizen up` and `kaizen demo --once`.
 * Everything here runs on the simulation provider and says so.
 */
import { randomUUID } from 'node:crypto'
import { and, count, eq, gte, isNotNull, isNull, ne, or } from 'drizzle-orm'
import type { CanaryView } from '../client/operations.js'
import { parseCampaignConfig, type CampaignConfig, type CampaignConfigInput } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { getLabels } from '../db/queries/labels.js'
import { getPromptVersion } from '../db/queries/prompts.js'
import { traffic } from '../db/schema.js'
import type { KaizenRuntime } from '../runtime/app.js'
import { PromptResolver } from '../serving/resolver.js'
import { TrafficSimulator } from '../serving/traffic-simulator.js'
import type { optimizationCampaign } from '../workflows/campaign/index.js'
import { campaignIdFor, type CampaignResult, type CanaryStatus } from '../workflows/messages.js'
import { runtimeOperations } from './context.js'
import { fmt, fmtP, say, SIM_LABEL } from './output.js'

/** Settings for a demo campaign: production defaults with short timers. */
export const DEMO_CONFIG: CampaignConfigInput = {
  sample: { size: 300, windowHours: 24 * 30, minItems: 60 },
  search: { strategy: 'reflective', rounds: 10, proposalsPerRound: 4, minibatchSize: 4, rolloutBudget: 3_000 },
  canary: {
    steps: [0.1, 0.25, 0.5],
    minSamplesPerStep: 15,
    analysisIntervalSeconds: 2,
    approvalTimeoutSeconds: 24 * 3600,
    onApprovalTimeout: 'hold',
    onConflict: 'supersede',
    bake: { seconds: 60, holdbackWeight: 0.2 },
    analysis: { blockMs: 1_000, graceMs: 250, minCanarySamples: 60, noDataMs: 60_000 },
  },
}

export interface DemoOptions {
  scenario: string
  /** Requests per second of simulated production traffic. */
  rate: number
  /** Fault injection: the canary arm fails every request. */
  failCanary?: boolean
  /** Give up following the canary after this long. */
  canaryTimeoutSeconds?: number
  quiet?: boolean
  config?: CampaignConfigInput
}

export interface DemoSummary {
  campaignId: string
  task: string
  simulated: true
  /** The simulation provider, or the OpenAI provider against the simulated world (`kaizen sim serve`). */
  provider: 'simulation' | 'openai → kaizen sim serve'
  baselineVersion: string
  baselineVersionId: string
  winnerVersion: string | null
  winnerVersionId: string | null
  baselineHoldoutDQ: number | null
  winnerHoldoutDQ: number | null
  baselineValidationDQ: number | null
  rolloutsUsed: number
  rolloutBudget: number
  decision: CampaignResult['decision']
  reason: string
  holdout: CampaignResult['holdout']
  canary: {
    id: string
    state: CanaryStatus['state']
    reason: string | null
    canaryRequests: number
    baselineRequests: number
  } | null
  temporal: { address: string; namespace: string; webUi: string | null }
}

export interface DemoRun {
  summary: DemoSummary
  traffic: TrafficSimulator
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const DECIDED: ReadonlySet<CanaryStatus['state']> = new Set(['awaiting_approval', 'holding', 'promoted', 'rolled_back'])

export function workflowUrl(rt: KaizenRuntime, workflowId: string): string | null {
  return rt.temporal.uiUrl
    ? `${rt.temporal.uiUrl}/namespaces/${rt.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`
    : null
}

/** Records of the task a campaign could sample: answered, with a reference, not from a canary arm. */
export async function usableTraffic(rt: KaizenRuntime, taskId: string, windowHours: number): Promise<number> {
  const since = new Date(Date.now() - windowHours * 3600_000)
  const [row] = await rt.db
    .select({ n: count() })
    .from(traffic)
    .where(
      and(
        eq(traffic.taskId, taskId),
        gte(traffic.createdAt, since),
        isNull(traffic.error),
        isNotNull(traffic.reference),
        or(isNull(traffic.arm), ne(traffic.arm, 'canary')),
      ),
    )
  return Number(row?.n ?? 0)
}

/** A traffic simulator for a scenario's task, routed through a fresh prompt resolver. */
export function simulateTraffic(
  rt: KaizenRuntime,
  scenarioId: string,
  options: { failCanary?: boolean; runId?: string } = {},
): TrafficSimulator {
  const scenario = rt.simulation.scenario(scenarioId)
  return new TrafficSimulator({
    db: rt.db,
    provider: rt.simulation,
    resolver: new PromptResolver(rt.db),
    scenario,
    ...options,
  })
}

/** Run one campaign to a canary decision point. Leaves live traffic running (caller stops it). */
export async function runDemo(rt: KaizenRuntime, options: DemoOptions): Promise<DemoRun> {
  const log = options.quiet ? () => undefined : say
  const scenario = rt.simulation.scenario(options.scenario)
  const taskId = scenario.task.id
  const config: CampaignConfigInput = options.config ?? DEMO_CONFIG
  // Every setting the demo leaves out takes the campaign's default (core/config.ts).
  const settings = parseCampaignConfig(config, 'demo campaign config')
  const sampleSize = settings.sample.size

  const [registered] = (await rt.registerScenarioTasks()).filter((t) => t.taskId === taskId)
  if (!registered) throw new KaizenError('INTERNAL', `scenario task ${taskId} was not registered`)
  const production = await getPromptVersion(rt.db, registered.productionVersionId)
  log(
    `${SIM_LABEL} Task "${taskId}" (${scenario.title}): production prompt is ` +
      `${taskId}@${production.version}${registered.created ? ' (registered now)' : ''}.`,
  )
  const labels = await getLabels(rt.db, taskId)
  if (labels.canary?.canaryId) {
    log(
      `A canary from an earlier run, ${labels.canary.canaryId}, still holds ` +
        `${Math.round(labels.canary.weight * 100)}% of traffic; this demo's canary will supersede it.`,
    )
  }

  const have = await usableTraffic(rt, taskId, settings.sample.windowHours)
  // A task's first demo always gets the same run (same requests, same campaign seed), so the
  // first demo on any machine replays exactly; later runs draw new traffic and seeds.
  const [{ n: ever } = { n: 0 }] = await rt.db.select({ n: count() }).from(traffic).where(eq(traffic.taskId, taskId))
  const runId = Number(ever) === 0 ? 'demo-first-run' : randomUUID()
  const sim = simulateTraffic(rt, options.scenario, { failCanary: options.failCanary ?? false, runId })
  if (have < sampleSize) {
    log(`${SIM_LABEL} Sending ${sampleSize - have} production requests through the simulated model (found ${have})…`)
    await sim.burst(sampleSize - have)
  } else {
    log(`${SIM_LABEL} Reusing ${have} production requests from earlier runs in ${rt.env.KAIZEN_DATA_DIR}.`)
  }

  const summary = await followCampaign(rt, {
    taskId,
    traffic: sim,
    config: parseCampaignConfig({ seed: runId, ...config }, 'demo campaign config'),
    rate: options.rate,
    provider: 'simulation',
    log,
    ...(options.canaryTimeoutSeconds === undefined ? {} : { canaryTimeoutSeconds: options.canaryTimeoutSeconds }),
  })
  return { summary, traffic: sim }
}

/** Live traffic a demo sends: a burst before the campaign, then a steady rate for its canary. */
export interface DemoTraffic {
  burst(count: number): Promise<void>
  start(perSecond: number): void
  stop(): Promise<void>
}

export interface FollowOptions {
  taskId: string
  traffic: DemoTraffic
  config: CampaignConfig
  rate: number
  /** What answers the task's model, for the summary. */
  provider: DemoSummary['provider']
  log: (line: string) => void
  /** Give up following the canary after this long (default 180 s). */
  canaryTimeoutSeconds?: number
}

/**
 * Start one campaign on the task, show its progress, then send live traffic and follow its canary
 * to a decision point (awaiting approval, holding, promoted or rolled back). Leaves the traffic
 * running (the caller stops it).
 */
export async function followCampaign(rt: KaizenRuntime, options: FollowOptions): Promise<DemoSummary> {
  const { taskId, log, config: settings } = options
  const campaignId = campaignIdFor(taskId, new Date())
  // The same start as the CLI's and the API's (checks included); this process holds the database.
  const ops = runtimeOperations(rt)
  await ops.startCampaign({ taskId, campaignId, trigger: 'demo', config: settings })
  log(`Campaign ${campaignId} started.`)
  return followRunningCampaign(rt, { ...options, campaignId })
}

/**
 * Follow a started campaign (the demo's, or one the quality monitor started): its progress, then
 * live traffic and its canary to a decision point. Leaves the traffic running.
 */
export async function followRunningCampaign(
  rt: KaizenRuntime,
  options: FollowOptions & { campaignId: string },
): Promise<DemoSummary> {
  const { taskId, log, config: settings, campaignId } = options
  const sim = options.traffic
  const ops = runtimeOperations(rt)
  const handle = rt.client.workflow.getHandle<typeof optimizationCampaign>(campaignId)
  const url = workflowUrl(rt, campaignId)
  if (url) log(`  Follow it in the Temporal Web UI: ${url}`)

  // Progress: stage, round, rollouts, best score so far. Outages of Temporal or the database are
  // waited out (one line when they start, one when they end): the worker in this process carries on.
  let last = ''
  const resultP = rt.whileTemporal(() => handle.result())
  let done = false
  void resultP.finally(() => (done = true)).catch(() => undefined)
  while (!done) {
    const s = await ops.describeCampaign(campaignId).catch(() => null)
    if (s?.workflowStatus === 'RUNNING' && s.stage) {
      rt.temporalOutage.ok()
      const rollouts = `rollouts ${s.rolloutsUsed}/${s.rolloutBudget}`
      const line =
        s.stage === 'searching'
          ? `  searching: round ${Math.min((s.round ?? 0) + 1, s.rounds ?? 0)}/${s.rounds} · ${rollouts} · ` +
            `best validation DQ ${fmt(s.bestValidationDQ ?? null)} (baseline ${fmt(s.baselineValidationDQ ?? null)})`
          : `  ${s.stage} · ${rollouts}`
      if (line !== last) log((last = line))
    }
    await Promise.race([resultP.catch(() => undefined), sleep(500)])
  }
  const result = await resultP
  // Live traffic for the canary: users keep arriving, routed by the resolver.
  sim.start(options.rate)
  log(`${SIM_LABEL} Live traffic: about ${options.rate} requests/s, routed by the prompt resolver.`)
  const winner = result.winnerVersion
    ? await rt.whileDatabase(() => getPromptVersion(rt.db, result.winnerVersion as string))
    : null
  const baseline = await rt.whileDatabase(() => getPromptVersion(rt.db, result.baselineVersion))

  let canary: DemoSummary['canary'] = null
  if (result.canary) {
    const id = result.canary.workflowId
    const deadline = Date.now() + (options.canaryTimeoutSeconds ?? 180) * 1000
    let status: CanaryView | null = null
    let lastLine = ''
    for (;;) {
      // Through client/operations.ts like every other reader of a canary's status.
      status = await ops.describeCanary(id).catch(() => status)
      if (status?.state) {
        const a = status.analysis
        const weight = Math.round((status.weight ?? 0) * 100)
        const line = a
          ? `  canary at ${weight}%: ${a.canary.requests} canary / ${a.baseline.requests} baseline requests · ` +
            `Δ DQ ${fmt(a.effect.estimate)} [${fmt(a.effect.lower)}, ${fmt(a.effect.upper)}] · ${a.reasons[0] ?? ''}`
          : `  canary: ${status.state}`
        if (line !== lastLine) log((lastLine = line))
        if (DECIDED.has(status.state)) break
      }
      if (Date.now() > deadline) break
      await sleep(1_000)
    }
    canary = status?.state
      ? {
          id: status.canaryId,
          state: status.state,
          reason: status.reason,
          canaryRequests: status.analysis?.canary.requests ?? 0,
          baselineRequests: status.analysis?.baseline.requests ?? 0,
        }
      : { id: result.canary.id, state: 'starting', reason: null, canaryRequests: 0, baselineRequests: 0 }
  }

  const summary: DemoSummary = {
    campaignId,
    task: taskId,
    simulated: true,
    provider: options.provider,
    baselineVersion: `${taskId}@${baseline.version}`,
    baselineVersionId: baseline.id,
    winnerVersion: winner ? `${taskId}@${winner.version}` : null,
    winnerVersionId: winner?.id ?? null,
    baselineHoldoutDQ: result.baselineHoldoutDQ,
    winnerHoldoutDQ: result.winnerHoldoutDQ,
    baselineValidationDQ: result.baselineValidationDQ,
    rolloutsUsed: result.rolloutsUsed,
    rolloutBudget: settings.search.rolloutBudget,
    decision: result.decision,
    reason: result.reason,
    holdout: result.holdout,
    canary,
    temporal: { address: rt.temporal.address, namespace: rt.temporal.namespace, webUi: rt.temporal.uiUrl },
  }
  return summary
}

/** The story of a demo run in plain words. */
export function tellDemo(rt: KaizenRuntime, s: DemoSummary): string[] {
  const lines = [
    '',
    `Campaign ${s.campaignId} on task "${s.task}" ${SIM_LABEL}`,
    s.baselineHoldoutDQ !== null
      ? `  Baseline ${s.baselineVersion}: holdout DQ ${fmt(s.baselineHoldoutDQ)}`
      : `  Baseline ${s.baselineVersion}: validation DQ ${fmt(s.baselineValidationDQ)}`,
  ]
  if (s.winnerVersion) {
    lines.push(
      `  Winner   ${s.winnerVersion}: holdout DQ ${fmt(s.winnerHoldoutDQ)}` +
        (s.holdout
          ? ` (Δ ${s.holdout.meanDelta >= 0 ? '+' : ''}${fmt(s.holdout.meanDelta)}, ${fmtP(s.holdout.pValue)}, ` +
            `${s.holdout.n} paired holdout items)`
          : ''),
    )
  }
  lines.push(`  Rollouts used: ${s.rolloutsUsed} of ${s.rolloutBudget}`)
  if (!s.canary) {
    lines.push(`  → No canary: ${s.reason}`)
  } else {
    const c = s.canary
    const where =
      `${c.canaryRequests} live canary requests compared with ` + `${c.baselineRequests} concurrent baseline requests`
    if (c.state === 'awaiting_approval' || c.state === 'holding') {
      lines.push(
        c.state === 'awaiting_approval'
          ? `  → Canary ${c.id} is AWAITING YOUR APPROVAL (${where}): ${c.reason ?? ''}`
          : `  → Canary ${c.id} is HOLDING for a human decision (${where}): ${c.reason ?? ''}`,
        `     Approve: kaizen canary approve ${c.id} --approver <your name or email> [--comment "…"]`,
        `     Reject:  kaizen canary reject ${c.id} --approver <your name or email> --comment "<why>"`,
      )
    } else if (c.state === 'rolled_back') {
      lines.push(`  → Canary ${c.id} was ROLLED BACK automatically (${where}): ${c.reason ?? ''}`)
    } else if (c.state === 'promoted') {
      lines.push(`  → Canary ${c.id} was promoted: ${c.reason ?? ''}`)
    } else {
      lines.push(
        `  → Canary ${c.id} is still collecting evidence (${where}); check it with: kaizen canary status ${c.id}`,
      )
    }
  }
  const ui = s.canary ? workflowUrl(rt, s.canary.id) : workflowUrl(rt, s.campaignId)
  lines.push(`  Temporal Web UI: ${ui ?? `(not available: Temporal at ${s.temporal.address})`}`)
  return lines
}
