/**
 * @module workflows/monitor
 * `qualityMonitor`: one per task, long-running, watching the production version's live quality.
 *
 *   every `checkEveryMs`: grade the sample that arrived (within the day's judge budget) → one
 *   check (core/monitor/check.ts: learn the reference, or test for a change; floors) → raise each
 *   finding as an alert (deduplicated, cooldown) → on a DQ degradation, start an improvement
 *   campaign unless one or a canary runs, the last is within the cooldown, or the 30-day cap is
 *   reached → continue as new when the history grows long.
 *
 * The campaign is a child that outlives the monitor (its canary still waits for a person). Only
 * small state travels through history: the detectors and reference moments, not the scores.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  condition,
  continueAsNew,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow'
import type { MonitorCheckResult } from '../activities/monitor.js'
import {
  applyCheck,
  initialMonitorState,
  isDegradation,
  type CheckResult,
  type MonitorState,
} from '../core/monitor/check.js'
import { MonitorConfig, parseMonitorConfig, type MonitorConfigInput } from '../core/monitor/config.js'
import { readDetector, type DetectorSettings, type DetectorState } from '../core/monitor/detector.js'
import { decideCampaign } from '../core/monitor/policy.js'
import { batch, notifier, quick } from './activities.js'
import { optimizationCampaign } from './campaign/index.js'
import {
  acknowledgeAlertUpdate,
  campaignIdFor,
  configureMonitorUpdate,
  monitorConfigQuery,
  monitorStatusQuery,
  pauseMonitorSignal,
  stopMonitorSignal,
  type MonitorStatus,
} from './messages.js'

export interface MonitorInput {
  taskId: string
  config?: MonitorConfigInput
  /** Carried across continue-as-new. */
  resume?: { state: MonitorState; lastCheckAt: number | null; status: MonitorStatus }
}

const iso = (ms: number) => new Date(ms).toISOString()

class MonitorRun {
  config: MonitorConfig
  /** The settings as given (carried across continue-as-new; defaults re-applied then). */
  configInput: MonitorConfigInput | undefined
  readonly status: MonitorStatus
  state: MonitorState
  lastCheckAt: number | null
  paused = false
  stopping = false

  constructor(
    readonly input: MonitorInput,
    readonly workflowId: string,
  ) {
    const parsed = MonitorConfig.safeParse(input.config ?? {})
    if (!parsed.success)
      throw ApplicationFailure.nonRetryable(`invalid monitor config: ${parsed.error.message}`, 'INVALID_INPUT')
    this.config = parsed.data
    this.configInput = input.config
    this.state = input.resume?.state ?? initialMonitorState(Date.now())
    this.lastCheckAt = input.resume?.lastCheckAt ?? null
    this.status = input.resume?.status ?? {
      taskId: input.taskId,
      phase: 'learning',
      checks: 0,
      lastCheckAt: null,
      productionVersionId: null,
      referenceFrom: null,
      detectors: { dq: null, errorRate: null },
      findings: [],
      floors: [],
      judge: null,
      alerts: [],
      campaigns: [],
      heldBack: null,
    }
  }

  /** One check: grade what arrived, test it, raise what was found, maybe start a campaign. */
  async check(): Promise<void> {
    const now = Date.now()
    const from = this.lastCheckAt ?? now - this.config.checkEveryMs
    const checkId = `${this.workflowId}:${workflowInfo().runId}:${this.status.checks}`
    const io: MonitorCheckResult = await batch.monitorCheck({
      taskId: this.input.taskId,
      checkId,
      from: iso(from),
      to: iso(now),
      sampleRate: this.config.sampleRate,
      dailyJudgeBudgetUsd: this.config.dailyJudgeBudgetUsd,
      floorsWindowMs: this.config.floors.windowMs,
      reference: this.state.watching ? { from: iso(this.state.referenceFrom), ms: this.config.referenceMs } : null,
    })
    this.lastCheckAt = now
    this.status.checks++
    this.status.lastCheckAt = iso(now)
    this.status.productionVersionId = io.productionVersionId
    if (io.productionVersionId === null) return
    const result = applyCheck(this.config, this.state, {
      now,
      productionVersionId: io.productionVersionId,
      requests: io.requests,
      window: io.window,
      judge: io.judge,
      // Absent in checks recorded before input drift was measured.
      inputDrift: io.inputDrift ?? null,
    })
    this.state = result.state
    this.record(result, io)
    let degradationAlert: string | null = null
    for (const finding of result.findings) {
      const raised = await notifier
        .raiseMonitorAlert({
          taskId: this.input.taskId,
          checkId,
          finding,
          at: iso(now),
          cooldownMs: this.config.alerts.cooldownMs,
        })
        .catch(() => null) // a delivery outage must not stop the monitor; the alert row stands
      if (!raised?.raised) continue
      this.status.alerts = [
        ...this.status.alerts,
        { alertId: raised.alertId, at: iso(now), summary: finding.summary },
      ].slice(-20)
      if (isDegradation(finding)) degradationAlert ??= raised.alertId
    }
    if (degradationAlert) await this.act(degradationAlert, now)
  }

  /** A new DQ degradation alert: start an improvement campaign when the rules allow it. */
  private async act(alertId: string, now: number): Promise<void> {
    const context = await quick.monitorCampaignContext({ taskId: this.input.taskId })
    const decision = decideCampaign(this.config.action, { now, busy: context.busy, startedAt: context.startedAt })
    if (!decision.start) {
      this.status.heldBack = decision.detail
      return
    }
    // Named by the task and the check's time (workflow time: the same on replay), like CLI campaigns.
    const campaignId = `${campaignIdFor(this.input.taskId, new Date(now))}-monitor`
    await startChild(optimizationCampaign, {
      workflowId: campaignId,
      args: [
        { taskId: this.input.taskId, trigger: 'monitor', triggerRef: alertId, config: this.config.action.campaign },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    })
    await quick.recordMonitorCampaign({ taskId: this.input.taskId, alertId, campaignId })
    this.status.campaigns = [...this.status.campaigns, { campaignId, alertId, at: iso(now) }]
    this.status.heldBack = null
  }

  private record(result: CheckResult, io: MonitorCheckResult): void {
    const s = this.status
    s.phase = this.paused ? 'paused' : result.phase
    s.referenceFrom = iso(result.state.referenceFrom)
    const detectors = result.state.watching?.detectors
    const reading = (d: { settings: DetectorSettings; state: DetectorState }) => ({
      statistic: readDetector(d.settings, d.state).statistic,
      threshold: d.settings.arl,
    })
    for (const metric of ['dq', 'errorRate'] as const) {
      const d = detectors?.[metric]
      s.detectors[metric] = d ? reading(d) : null
    }
    const { latency: slow, cost: dear } = detectors ?? {}
    s.detectors.latency = slow?.thresholdMs === undefined ? null : { ...reading(slow), thresholdMs: slow.thresholdMs }
    s.detectors.cost = dear?.thresholdUsd === undefined ? null : { ...reading(dear), thresholdUsd: dear.thresholdUsd }
    const w = io.window
    s.window = {
      versionId: io.productionVersionId as string,
      windowMs: this.config.floors.windowMs,
      requests: w.requests,
      graded: w.graded,
      dqMean: w.dqMean,
      errorRate: w.requests > 0 ? w.errors / w.requests : null,
      p95LatencyMs: w.p95LatencyMs,
      meanCostUsd: w.meanCostUsd ?? null,
    }
    s.findings = result.findings.map((f) => ({ kind: f.kind, metric: f.metric, summary: f.summary }))
    s.floors = result.floors.map((f) => ({ floor: f.floor, status: f.status, value: f.value, limit: f.limit }))
    s.judge = { spentTodayUsd: io.judge.spentTodayUsd, budgetUsd: io.judge.budgetUsd, exhausted: io.judge.exhausted }
    s.inputDrift = io.inputDrift ?? null
  }

  carry(): MonitorInput {
    return {
      taskId: this.input.taskId,
      ...(this.configInput ? { config: this.configInput } : {}),
      resume: { state: this.state, lastCheckAt: this.lastCheckAt, status: this.status },
    }
  }
}

export async function qualityMonitor(input: MonitorInput): Promise<MonitorStatus> {
  const run = new MonitorRun(input, workflowInfo().workflowId)
  setHandler(monitorStatusQuery, () => run.status)
  setHandler(pauseMonitorSignal, ({ paused }) => {
    run.paused = paused
    run.status.phase = paused ? 'paused' : run.state.watching ? 'watching' : 'learning'
  })
  setHandler(stopMonitorSignal, () => {
    run.stopping = true
  })
  setHandler(monitorConfigQuery, () => run.config)
  setHandler(
    acknowledgeAlertUpdate,
    (ack) => quick.acknowledgeMonitorAlert({ ...ack, at: new Date(Date.now()).toISOString() }),
    {
      validator: ({ alertId, by }) => {
        if (typeof by !== 'string' || !by.trim()) throw new Error('acknowledging an alert needs who does it (by)')
        if (typeof alertId !== 'string' || !alertId.startsWith(`${workflowInfo().workflowId}:`))
          throw new Error(`alert "${alertId}" is not an alert of this monitor (${workflowInfo().workflowId})`)
      },
    },
  )
  setHandler(
    configureMonitorUpdate,
    async ({ config, by }) => {
      const parsed = parseMonitorConfig(config, 'monitor config')
      await quick.recordMonitorConfig({ taskId: input.taskId, workflowId: workflowInfo().workflowId, by, config })
      run.config = parsed
      run.configInput = config as MonitorConfigInput
      return run.config
    },
    {
      // A refused change is not recorded in history; the message names each bad field.
      validator: ({ config, by }) => {
        if (typeof by !== 'string' || !by.trim()) throw new Error('configuring a monitor needs who does it (by)')
        try {
          parseMonitorConfig(config, 'monitor config')
        } catch (err) {
          throw ApplicationFailure.nonRetryable((err as Error).message, 'INVALID_INPUT')
        }
      },
    },
  )
  while (!run.stopping) {
    await condition(() => run.stopping, run.config.checkEveryMs)
    if (run.stopping) break
    if (run.paused) continue
    await run.check()
    if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof qualityMonitor>(run.carry())
  }
  run.status.phase = 'stopped'
  return run.status
}
