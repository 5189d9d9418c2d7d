/**
 * @module runtime/schedules
 * Nightly improvement runs: one Temporal Schedule per task that starts an optimization campaign.
 * Overlap policy SKIP (never two campaigns of a task at once) and an explicit catch-up window
 * (missed runs inside it are made up; older ones are skipped).
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client'
import { parseCampaignConfig, type CampaignConfigInput } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { scheduleIdFor } from '../workflows/messages.js'

export interface ScheduleSpecInput {
  taskId: string
  /** Standard 5-field cron, e.g. `0 2 * * *` (02:00 every day). */
  cron: string
  timezone: string
  /** e.g. `1 hour`, `30 minutes`. */
  catchupWindow: string
  config: CampaignConfigInput
  taskQueue: string
  /** Leave an existing schedule as it is (e.g. customised by an operator). */
  keepExisting?: boolean
}

export interface ScheduleSummary {
  scheduleId: string
  taskId: string | null
  cron: string[]
  timezone: string | null
  paused: boolean
  nextRuns: string[]
  recentRuns: Array<{ workflowId: string; at: string }>
}

/** Create the task's schedule, or update it in place if it exists (idempotent). */
export async function upsertSchedule(
  client: Client,
  input: ScheduleSpecInput,
): Promise<{ scheduleId: string; created: boolean }> {
  if (input.cron.trim().split(/\s+/).length !== 5) {
    throw new KaizenError(
      'INVALID_INPUT',
      `--cron "${input.cron}" is not a 5-field cron expression (minute hour day-of-month month day-of-week), ` +
        `e.g. "0 2 * * *"`,
    )
  }
  const config = parseCampaignConfig(input.config, 'schedule campaign config')
  const scheduleId = scheduleIdFor(input.taskId)
  const options = {
    scheduleId,
    spec: { cronExpressions: [input.cron], timezone: input.timezone },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'optimizationCampaign',
      workflowId: `campaign-${input.taskId}-nightly`,
      taskQueue: input.taskQueue,
      args: [{ taskId: input.taskId, trigger: 'schedule', config }],
      memo: { taskId: input.taskId },
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: input.catchupWindow, pauseOnFailure: false },
    // The note keeps the cron text readable (descriptions return compiled calendars).
    state: { note: `kaizen nightly campaign; cron "${input.cron}"` },
    memo: { taskId: input.taskId },
  }
  try {
    await client.schedule.create(options)
    return { scheduleId, created: true }
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) {
      if (input.keepExisting) return { scheduleId, created: false }
      await client.schedule.getHandle(scheduleId).update((prev) => ({
        ...prev,
        spec: options.spec,
        action: options.action,
        policies: { ...prev.policies, ...options.policies },
        state: { ...prev.state, note: options.state.note },
      }))
      return { scheduleId, created: false }
    }
    const message = (err as Error).message
    if (/cron|spec|timezone|invalid/i.test(message))
      throw new KaizenError('INVALID_INPUT', `Temporal rejected the schedule: ${message}`, { cause: err })
    throw err
  }
}

export const RETENTION_SCHEDULE_ID = 'kaizen-retention'

/** The daily retention run (workflow `trafficRetention`), created or updated in place. */
export async function upsertRetentionSchedule(
  client: Client,
  input: { cron?: string; timezone?: string; taskQueue: string; keepExisting?: boolean },
): Promise<{ scheduleId: string; created: boolean }> {
  const cron = input.cron ?? '30 3 * * *'
  if (cron.trim().split(/\s+/).length !== 5)
    throw new KaizenError('INVALID_INPUT', `--cron "${cron}" is not a 5-field cron expression, e.g. "30 3 * * *"`)
  const options = {
    scheduleId: RETENTION_SCHEDULE_ID,
    spec: { cronExpressions: [cron], timezone: input.timezone ?? 'UTC' },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'trafficRetention',
      workflowId: 'kaizen-retention-run',
      taskQueue: input.taskQueue,
      args: [{}],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day', pauseOnFailure: false },
    state: { note: `kaizen traffic retention; cron "${cron}"` },
  }
  try {
    await client.schedule.create(options)
    return { scheduleId: RETENTION_SCHEDULE_ID, created: true }
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) {
      const message = (err as Error).message
      if (/cron|spec|timezone|invalid/i.test(message))
        throw new KaizenError('INVALID_INPUT', `Temporal rejected the retention schedule: ${message}`, { cause: err })
      throw err
    }
    if (!input.keepExisting) {
      await client.schedule.getHandle(RETENTION_SCHEDULE_ID).update((prev) => ({
        ...prev,
        spec: options.spec,
        action: options.action,
        policies: { ...prev.policies, ...options.policies },
        state: { ...prev.state, note: options.state.note },
      }))
    }
    return { scheduleId: RETENTION_SCHEDULE_ID, created: false }
  }
}

export async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const out: ScheduleSummary[] = []
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('kaizen-nightly-') && s.scheduleId !== RETENTION_SCHEDULE_ID) continue
    const d = await client.schedule.getHandle(s.scheduleId).describe()
    out.push({
      scheduleId: s.scheduleId,
      taskId:
        s.scheduleId === RETENTION_SCHEDULE_ID
          ? null
          : ((d.memo?.taskId as string | undefined) ?? s.scheduleId.replace('kaizen-nightly-', '')),
      cron: [...(d.state.note ?? '').matchAll(/cron "([^"]+)"/g)].map((m) => m[1] as string),
      timezone: d.spec.timezone ?? null,
      paused: d.state.paused,
      nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
      recentRuns: d.info.recentActions.map((a) => ({
        workflowId: a.action.workflow.workflowId,
        at: a.takenAt.toISOString(),
      })),
    })
  }
  return out
}

export async function deleteSchedule(client: Client, taskOrId: string): Promise<string> {
  const scheduleId =
    taskOrId.startsWith('kaizen-nightly-') || taskOrId === RETENTION_SCHEDULE_ID ? taskOrId : scheduleIdFor(taskOrId)
  try {
    await client.schedule.getHandle(scheduleId).delete()
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new KaizenError('NOT_FOUND', `no schedule "${scheduleId}"; list them with \`kaizen schedule list\``)
    throw err
  }
  return scheduleId
}
