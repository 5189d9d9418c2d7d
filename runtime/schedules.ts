/**
 * @module runtime/schedules
 * Scheduled campaigns, each a Temporal Schedule that starts an optimization campaign: per task a
 * nightly improvement run, and a model watch (a campaign over candidate models, objective cheapest
 * or best-quality, that proposes a canary of the pair when one qualifies; approval as always).
 * Overlap policy SKIP (never two runs of a schedule at once) and an explicit catch-up window
 * (missed runs inside it are made up; older ones are skipped).
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client'
import { parseCampaignConfig, type CampaignConfigInput } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { scheduleIdFor, type CampaignScheduleKind } from '../workflows/messages.js'

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
  /** Default `nightly`; `model-watch` needs `search.models` and a cheapest or best-quality objective. */
  kind?: CampaignScheduleKind
}

export interface ScheduleSummary {
  scheduleId: string
  kind: CampaignScheduleKind | 'retention'
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
  const kind = input.kind ?? 'nightly'
  const config = parseCampaignConfig(input.config, `${kind} schedule campaign config`)
  const objective = config.search.objective
  if (kind === 'model-watch' && (!config.search.models || !objective || objective.kind === 'migrate'))
    throw new KaizenError(
      'INVALID_INPUT',
      'a model watch compares models: give the candidate models (--models a,b or search.models) and the ' +
        'objective cheapest or best-quality (--objective or search.objective); a migration is a one-off: ' +
        '`kaizen migrate`',
      { details: { fields: ['search.models', 'search.objective'] } },
    )
  const scheduleId = scheduleIdFor(input.taskId, kind)
  const options = {
    scheduleId,
    spec: { cronExpressions: [input.cron], timezone: input.timezone },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'optimizationCampaign',
      workflowId: `campaign-${input.taskId}-${kind}`,
      taskQueue: input.taskQueue,
      args: [{ taskId: input.taskId, trigger: 'schedule', config }],
      memo: { taskId: input.taskId, kind },
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: input.catchupWindow, pauseOnFailure: false },
    // The note keeps the cron text readable (descriptions return compiled calendars).
    state: { note: `kaizen ${kind} campaign; cron "${input.cron}"` },
    memo: { taskId: input.taskId, kind },
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

const KINDS: readonly CampaignScheduleKind[] = ['nightly', 'model-watch']
/** The kind of a Kaizen schedule id, or null for another application's schedule. */
function kindOf(scheduleId: string): ScheduleSummary['kind'] | null {
  if (scheduleId === RETENTION_SCHEDULE_ID) return 'retention'
  return KINDS.find((k) => scheduleId.startsWith(`kaizen-${k}-`)) ?? null
}

export async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const out: ScheduleSummary[] = []
  for await (const s of client.schedule.list()) {
    const kind = kindOf(s.scheduleId)
    if (kind === null) continue
    const d = await client.schedule.getHandle(s.scheduleId).describe()
    out.push({
      scheduleId: s.scheduleId,
      kind,
      taskId:
        kind === 'retention'
          ? null
          : ((d.memo?.taskId as string | undefined) ?? s.scheduleId.replace(`kaizen-${kind}-`, '')),
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

/** Delete a schedule by its id, or the task's schedule of that kind (default nightly). */
export async function deleteSchedule(
  client: Client,
  taskOrId: string,
  kind: CampaignScheduleKind = 'nightly',
): Promise<string> {
  const scheduleId = kindOf(taskOrId) !== null ? taskOrId : scheduleIdFor(taskOrId, kind)
  try {
    await client.schedule.getHandle(scheduleId).delete()
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new KaizenError('NOT_FOUND', `no schedule "${scheduleId}"; list them with \`kaizen schedule list\``)
    throw err
  }
  return scheduleId
}
