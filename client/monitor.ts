/**
 * @module client/monitor
 * The quality monitor's operations, for the CLI, the HTTP API and the console alike (part of
 * client/operations.ts, which spreads them into its `Operations`):
 *
 * - `startMonitor`: the task's campaign check (task, production version, the campaign settings the
 *   monitor would start campaigns with), then the `qualityMonitor` workflow, one per task;
 * - `describeMonitor`: its live status and settings, or how it ended;
 * - `configureMonitor`: new settings through the workflow's Update (validated first; audited);
 * - `signalMonitor`: pause, resume or stop.
 *
 * - `acknowledgeAlert`: through the running monitor that raised it (an Update; its worker writes the
 *   database), so a CLI without database access can acknowledge. The API, which holds the
 *   database, and the CLI for an alert of a monitor that has ended write it directly
 *   (db/queries/monitor.ts `acknowledgeAlert`).
 */
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client'
import { parseCampaignConfig } from '../core/config.js'
import { KaizenError, isKaizenError } from '../core/errors.js'
import { parseMonitorConfig, type MonitorConfig } from '../core/monitor/config.js'
import type { PreflightInput, PreflightReport } from '../core/preflight.js'
import type { qualityMonitor } from '../workflows/monitor.js'
import {
  acknowledgeAlertUpdate,
  configureMonitorUpdate,
  monitorConfigQuery,
  monitorStatusQuery,
  monitorWorkflowId,
  pauseMonitorSignal,
  stopMonitorSignal,
  type MonitorStatus,
} from '../workflows/messages.js'
import { failureReport, temporalError, type FailureReport } from './failures.js'

export type MonitorVerb = 'pause' | 'resume' | 'stop'

/** A task's monitor as the CLI and the API show it: live status and settings, or how it ended. */
export interface MonitorView {
  taskId: string
  workflowId: string
  /** Temporal's status of the workflow: RUNNING, COMPLETED, FAILED, TERMINATED, … */
  workflowStatus: string
  status: MonitorStatus | null
  config: MonitorConfig | null
  failure: FailureReport | null
}

export interface MonitorHelpers {
  client: Client
  taskQueue: string
  /** A call a running workflow's worker answers, refused at once without a worker (client/operations.ts). */
  live<T>(queue: string, what: string, consequence: string, call: () => Promise<T>): Promise<T>
  preflight(input: PreflightInput): Promise<PreflightReport>
}

export function createMonitorOperations(h: MonitorHelpers) {
  const { client } = h
  const what = (taskId: string) => `the quality monitor of task "${taskId}"`

  async function describe(taskId: string) {
    const workflowId = monitorWorkflowId(taskId)
    const handle = client.workflow.getHandle<typeof qualityMonitor>(workflowId)
    const d = await handle.describe().catch((e: unknown) => {
      const err = temporalError(e, what(taskId))
      if (isKaizenError(err) && err.code === 'NOT_FOUND')
        throw new KaizenError(
          'NOT_FOUND',
          `task "${taskId}" has no quality monitor; start one with \`kaizen monitor start --task ${taskId}\``,
          { cause: e },
        )
      throw err
    })
    return { handle, d, workflowId }
  }

  const live = <T>(queue: string, taskId: string, call: () => Promise<T>): Promise<T> =>
    h.live(queue, what(taskId), `${what(taskId)} cannot answer`, call)

  return {
    /**
     * Check, then start the task's monitor. `configInput` is the settings as given (strict; the
     * campaign settings in `action.campaign` are checked against the task as a campaign would be).
     */
    async startMonitor(input: {
      taskId: string
      configInput: unknown
      startedBy?: string
    }): Promise<{ taskId: string; workflowId: string; config: MonitorConfig; warnings: string[] }> {
      const config = parseMonitorConfig(input.configInput ?? {}, 'monitor config')
      const campaign = parseCampaignConfig(config.action.campaign, 'monitor config', ['action', 'campaign'])
      const report = await h.preflight({ taskId: input.taskId, config: campaign, mode: 'start' })
      // Too little traffic today is no reason not to watch: a refusal for that is a warning here.
      if (report.refusal && report.refusal.code !== 'INSUFFICIENT_DATA')
        throw new KaizenError(report.refusal.code, `${report.refusal.message}; no monitor was started`, {
          ...(report.refusal.field ? { details: { fields: [report.refusal.field] } } : {}),
        })
      const warnings = [...report.warnings, ...(report.refusal ? [report.refusal.message] : [])]
      const workflowId = monitorWorkflowId(input.taskId)
      await client.workflow
        .start<typeof qualityMonitor>('qualityMonitor', {
          workflowId,
          taskQueue: h.taskQueue,
          // One monitor per task: a running one is a conflict; an ended one may be started again.
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          args: [{ taskId: input.taskId, config: (input.configInput ?? {}) as Record<string, unknown> }],
          memo: { taskId: input.taskId, ...(input.startedBy ? { startedBy: input.startedBy } : {}) },
        })
        .catch((e: unknown) => {
          const err = temporalError(e, what(input.taskId))
          if (isKaizenError(err) && err.code === 'CONFLICT')
            throw new KaizenError(
              'CONFLICT',
              `task "${input.taskId}" already has a running quality monitor (${workflowId}); change its ` +
                `settings with \`kaizen monitor config --task ${input.taskId} --file <settings>\``,
              { cause: e },
            )
          throw err
        })
      return { taskId: input.taskId, workflowId, config, warnings }
    },

    async describeMonitor(taskId: string): Promise<MonitorView> {
      const { handle, d, workflowId } = await describe(taskId)
      if (d.status.name === 'RUNNING') {
        const [status, config] = await live(d.taskQueue, taskId, () =>
          Promise.all([handle.query(monitorStatusQuery), handle.query(monitorConfigQuery)]),
        )
        return { taskId, workflowId, workflowStatus: d.status.name, status, config, failure: null }
      }
      try {
        const status = await handle.result()
        return { taskId, workflowId, workflowStatus: d.status.name, status, config: null, failure: null }
      } catch (err) {
        return {
          taskId,
          workflowId,
          workflowStatus: d.status.name,
          status: null,
          config: null,
          failure: failureReport(err),
        }
      }
    },

    /** New settings for a running monitor (whole, as for start; refused without change when invalid). */
    async configureMonitor(taskId: string, configInput: unknown, by: string): Promise<MonitorConfig> {
      const config = parseMonitorConfig(configInput ?? {}, 'monitor config')
      parseCampaignConfig(config.action.campaign, 'monitor config', ['action', 'campaign'])
      const { handle, d } = await describe(taskId)
      if (d.status.name !== 'RUNNING')
        throw new KaizenError('CONFLICT', `${what(taskId)} is ${d.status.name.toLowerCase()}; start it again instead`)
      return live(d.taskQueue, taskId, () =>
        handle.executeUpdate(configureMonitorUpdate, { args: [{ config: configInput ?? {}, by }] }),
      )
    },

    /** Acknowledge an alert through the running monitor that raised it (CONFLICT: that monitor has ended). */
    async acknowledgeAlert(input: { alertId: string; by: string; comment?: string }) {
      const workflowId = input.alertId.split(':')[0] ?? ''
      if (!workflowId.startsWith('kaizen-monitor-'))
        throw new KaizenError(
          'NOT_FOUND',
          `"${input.alertId}" is not a monitor alert id; \`kaizen monitor status --task <task>\` lists them`,
        )
      const taskId = workflowId.slice('kaizen-monitor-'.length)
      const { handle, d } = await describe(taskId)
      if (d.status.name !== 'RUNNING')
        throw new KaizenError('CONFLICT', `${what(taskId)} is ${d.status.name.toLowerCase()}`)
      return live(d.taskQueue, taskId, () =>
        handle.executeUpdate(acknowledgeAlertUpdate, {
          args: [{ alertId: input.alertId, by: input.by, ...(input.comment ? { comment: input.comment } : {}) }],
        }),
      )
    },

    /** Pause, resume or stop the task's monitor (a Signal: recorded even while no worker runs). */
    async signalMonitor(taskId: string, verb: MonitorVerb, by: string): Promise<{ taskId: string; message: string }> {
      const { handle, d } = await describe(taskId)
      if (d.status.name !== 'RUNNING')
        throw new KaizenError('CONFLICT', `${what(taskId)} is ${d.status.name.toLowerCase()}; nothing to ${verb}`)
      await (
        verb === 'stop'
          ? handle.signal(stopMonitorSignal)
          : handle.signal(pauseMonitorSignal, { paused: verb === 'pause' })
      ).catch((e: unknown) => {
        throw temporalError(e, what(taskId))
      })
      return { taskId, message: `Quality monitor of task ${taskId}: ${verb} requested by ${by}.` }
    },
  }
}
