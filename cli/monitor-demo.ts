/**
 * @module cli/monitor-demo
 * `kaizen up --drift [id]`: the quality monitor shown once, on the simulation. Live traffic flows,
 * the task's monitor learns its reference, then the scenario's drift starts (by default the silent
 * provider update): the change detector alarms, the alert is raised, the monitor starts an
 * improvement campaign by itself, and its canary waits for a person's approval.
 */
import { parseCampaignConfig } from '../core/config.js'
import { KaizenError, isKaizenError } from '../core/errors.js'
import type { MonitorConfigInput } from '../core/monitor/config.js'
import { getLabels } from '../db/queries/labels.js'
import type { KaizenRuntime } from '../runtime/app.js'
import type { TrafficSimulator } from '../serving/traffic-simulator.js'
import { DEMO_CONFIG, followRunningCampaign, simulateTraffic, usableTraffic, type DemoSummary } from './demo.js'
import { runtimeOperations } from './context.js'
import { SIM_LABEL } from './output.js'

/** Monitor settings for the demo: production defaults with minutes instead of days. */
export const DEMO_MONITOR: MonitorConfigInput = {
  sampleRate: 0.5,
  checkEveryMs: 5_000,
  referenceMs: 60_000,
  minReferenceObservations: 300,
  weeklyProfile: false,
  // The change detector is what the demo shows; the default floors would alarm on this prompt at once.
  floors: { dq: null, p95LatencyMs: null },
  alerts: { cooldownMs: 10 * 60_000 },
  action: { campaign: DEMO_CONFIG as Record<string, unknown> },
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Refuse an unknown drift before anything starts, naming the scenario's drifts. */
export function requireDrift(rt: { simulation: KaizenRuntime['simulation'] }, scenarioId: string, driftId: string) {
  const drifts = rt.simulation.drifts(scenarioId)
  if (!drifts.some((d) => d.id === driftId))
    throw new KaizenError(
      'INVALID_INPUT',
      `--drift "${driftId}": scenario ${scenarioId} has no such drift ` +
        `(its drifts: ${drifts.map((d) => d.id).join(', ') || 'none; add them under drift: in the scenario file'})`,
      { details: { fields: ['--drift'] } },
    )
}

export async function runMonitorDemo(
  rt: KaizenRuntime,
  options: { scenario: string; drift: string; rate: number; log: (line: string) => void },
): Promise<{ summary: DemoSummary | null; traffic: TrafficSimulator }> {
  const { log } = options
  const scenario = rt.simulation.scenario(options.scenario)
  const taskId = scenario.task.id
  await rt.registerScenarioTasks()
  const ops = runtimeOperations(rt)
  const traffic = simulateTraffic(rt, options.scenario)
  const sample = parseCampaignConfig(DEMO_CONFIG).sample
  const have = await usableTraffic(rt, taskId, sample.windowHours)
  if (have < sample.size) {
    log(`${SIM_LABEL} Sending ${sample.size - have} production requests through the simulated model…`)
    await traffic.burst(sample.size - have)
  }
  const canary = (await getLabels(rt.db, taskId)).canary
  if (canary?.canaryId)
    log(
      `Note: canary ${canary.canaryId} from an earlier run still waits for a decision; the monitor starts no ` +
        'campaign while it runs (approve or reject it in the console first).',
    )
  // One monitor per task: one left running by an earlier `kaizen up` is stopped and replaced.
  const earlier = await ops.describeMonitor(taskId).catch((e: unknown) => {
    if (isKaizenError(e) && e.code === 'NOT_FOUND') return null
    throw e
  })
  if (earlier?.workflowStatus === 'RUNNING') {
    await ops.signalMonitor(taskId, 'stop', 'kaizen up')
    await rt.client.workflow.getHandle(earlier.workflowId).result()
  }
  const started = await ops.startMonitor({ taskId, configInput: DEMO_MONITOR, startedBy: 'kaizen up' })
  traffic.start(options.rate)
  log(
    `Quality monitor ${started.workflowId} started: it grades half of the live requests and learns its reference ` +
      `from the first ${started.config.referenceMs / 1000} s, then checks every ` +
      `${started.config.checkEveryMs / 1000} s.`,
  )

  const status = () => ops.describeMonitor(taskId).then((v) => v.status)
  for (;;) {
    const s = await status().catch(() => null)
    if (s?.phase === 'watching') break
    await sleep(2_000)
  }
  const drift = rt.simulation.startDrift(options.scenario, options.drift)
  log(`${SIM_LABEL} Drift "${drift.id}" (${drift.kind}) starts now: ${drift.description ?? ''}`)

  const seen = new Set<string>()
  let campaignId: string | null = null
  while (campaignId === null) {
    const s = await status().catch(() => null)
    for (const a of s?.alerts ?? [])
      if (!seen.has(a.alertId)) {
        seen.add(a.alertId)
        log(`Alert ${a.alertId}: ${a.summary}`)
      }
    if (s?.heldBack) {
      log(`The monitor started no campaign: ${s.heldBack}`)
      return { summary: null, traffic }
    }
    campaignId = s?.campaigns[0]?.campaignId ?? null
    if (campaignId === null) await sleep(2_000)
  }
  log(`The monitor started improvement campaign ${campaignId} on that alert (trigger: monitor).`)
  const summary = await followRunningCampaign(rt, {
    taskId,
    campaignId,
    traffic,
    config: parseCampaignConfig(DEMO_CONFIG),
    rate: options.rate,
    provider: 'simulation',
    log,
    canaryTimeoutSeconds: 600,
  })
  return { summary, traffic }
}
