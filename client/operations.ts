/**
 * @module client/operations
 * Kaizen's operations on Temporal, written once for every client (the CLI, the HTTP API, the demo):
 * each one checks what it needs before it acts and says the same thing wherever it is called from.
 *
 * - `startCampaign`: preflight (task, production version, grader, id, enough traffic), then start;
 * - `signalCampaign`: pause, resume or stop a running campaign;
 * - `describeCampaign` / `describeCanary`: the live status of a running workflow (a worker must be
 *   polling: checked first, and a query that gets no answer is an error with a hint), or the outcome
 *   of a closed one read from its history (no worker needed), with the full failure chain;
 * - `decideCanary`: approve or reject through the workflow's Updates, with the outcome in words;
 * - `createSchedule`: preflight (too little traffic only warns), then create or update the schedule;
 * - the quality monitor's start, status, settings and signals (client/monitor.ts).
 *
 * The preflight check runs against the database when the caller has one (`check`: `kaizen serve`,
 * `kaizen up`), and otherwise on a worker through the `campaignPreflight` workflow: the CLI may have
 * no database credentials, or the embedded database may be held by `kaizen up`.
 *
 * Every failure is a `KaizenError` (client/failures.ts): the CLI maps its code to an exit status,
 * the API to an HTTP status. This module imports neither `cli/` nor `api/`.
 */
import { randomUUID } from 'node:crypto'
import { WorkflowFailedError, WorkflowIdReusePolicy, type Client, type WorkflowHandle } from '@temporalio/client'
import type { CampaignConfig } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import type { PreflightInput, PreflightRefusal, PreflightReport } from '../core/preflight.js'
import { upsertSchedule, type ScheduleSpecInput } from '../runtime/schedules.js'
import type { CampaignInput, optimizationCampaign } from '../workflows/campaign/index.js'
import type { campaignPreflight } from '../workflows/preflight.js'
import {
  approveUpdate,
  campaignIdFor,
  campaignStatusQuery,
  canaryStatusQuery,
  pauseCampaignSignal,
  rejectUpdate,
  stopCampaignSignal,
  type ApprovalInput,
  type ApprovalOutcome,
  type CampaignDecision,
  type CampaignResult,
  type CampaignStage,
  type CampaignStatus,
  type CanaryState,
  type CanaryStatus,
} from '../workflows/messages.js'
import { NO_WORKER_HINT, describeFailure, failureReport, temporalError, type FailureReport } from './failures.js'
import { createMonitorOperations } from './monitor.js'
import { checkWithTaskDefaults } from './task-defaults.js'

/** Campaign ids (single-use; they key the campaign's rows, dataset and canary). */
export const CAMPAIGN_ID_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/
export const CAMPAIGN_ID_RULE = 'use letters, digits and . _ : - (at most 200)'

export interface OperationsDeps {
  client: Client
  /** Kaizen's task queue (TEMPORAL_TASK_QUEUE). */
  taskQueue: string
  /**
   * The campaign checks against the database (db/queries/preflight.ts), for callers that hold it;
   * without it they run on a worker (the `campaignPreflight` workflow).
   */
  check?: (input: PreflightInput) => Promise<PreflightReport>
  /** How long a status query may wait for a worker's answer (default 15 s). */
  queryTimeoutMs?: number
  /** How long the preflight check may take on a worker (default 30 s). */
  preflightTimeoutMs?: number
}

export type CampaignVerb = 'pause' | 'resume' | 'stop'
export type DecisionVerb = 'approve' | 'reject'

export interface StartCampaignInput {
  taskId: string
  /** Default `campaign-<task>-<time>`. */
  campaignId?: string
  /** Parsed settings (`parseCampaignConfig`). */
  config: CampaignConfig
  /**
   * The settings as the person wrote them (before defaults). When given, the task's campaign
   * defaults (its task file's `search` and `canary`) are applied under them; `config` is then only
   * the fallback for a task without defaults.
   */
  configInput?: unknown
  trigger: NonNullable<CampaignInput['trigger']>
  /** Recorded in the workflow's memo (API: the token's person). */
  startedBy?: string
}

export interface StartedCampaign {
  campaignId: string
  taskId: string
  /** Worth telling the person who started it (e.g. a running canary that would block this one). */
  warnings: string[]
  preflight: PreflightReport
  handle: WorkflowHandle<typeof optimizationCampaign>
}

/** A campaign as the CLI and the API show it: the live status while it runs, else its outcome. */
export type CampaignView = Omit<Partial<CampaignStatus>, 'campaignId' | 'taskId' | 'stage' | 'decision' | 'reason'> & {
  campaignId: string
  taskId: string | null
  /** Temporal's status of the workflow: RUNNING, COMPLETED, FAILED, TERMINATED, CANCELED, TIMED_OUT. */
  workflowStatus: string
  stage: CampaignStage | null
  decision: CampaignDecision | null
  /** The decision's reason, or the failure's root cause in one line. */
  reason: string | null
  result: CampaignResult | null
  failure: FailureReport | null
}

/** A canary as the CLI and the API show it: its status (live, or its final one), or why it failed. */
export type CanaryView = Omit<Partial<CanaryStatus>, 'canaryId' | 'state' | 'reason'> & {
  canaryId: string
  workflowStatus: string
  state: CanaryState | null
  reason: string | null
  failure: FailureReport | null
}

export interface DecisionResult {
  outcome: ApprovalOutcome
  /** What happened, in one sentence. */
  message: string
}

export interface ScheduleCreated {
  scheduleId: string
  created: boolean
  warnings: string[]
  preflight: PreflightReport
}

export type Operations = ReturnType<typeof createOperations>

const describeWhat = (type: 'optimizationCampaign' | 'canaryRelease', id: string) =>
  type === 'canaryRelease' ? `canary "${id}"` : `campaign "${id}"`

function refusalError(r: PreflightRefusal, nothing: string): KaizenError {
  const message = `${r.message.replace(/\.$/, '')}; ${nothing}`
  return new KaizenError(r.code, message, r.field ? { details: { fields: [r.field] } } : {})
}

/** The outcome of a decision in one sentence. */
export function describeOutcome(canaryId: string, o: ApprovalOutcome): string {
  if (o.summary) return `Canary ${canaryId}: ${o.summary}.`
  // Canaries started before outcomes carried a summary.
  return o.decision === 'approve'
    ? `Approved by ${o.approver}: canary ${canaryId} is ${o.state}; production is now ${o.productionVersionId}.`
    : `Rejected by ${o.approver}: canary ${canaryId} is ${o.state}; production is ${o.productionVersionId}.`
}

export function createOperations(deps: OperationsDeps) {
  const { client, taskQueue } = deps
  const queryTimeoutMs = deps.queryTimeoutMs ?? 15_000
  const preflightTimeoutMs = deps.preflightTimeoutMs ?? 30_000

  /** Refuse at once (exit 7 / 503) when no worker polls the queue: queries and updates would wait in vain. */
  async function requireWorker(queue: string, consequence: string): Promise<void> {
    const r = await client.workflowService
      // 1: workflow task queue (queries and updates are answered by workflow workers).
      .describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: queue }, taskQueueType: 1 })
      .catch((e: unknown) => {
        throw temporalError(e, `task queue "${queue}"`)
      })
    if ((r.pollers ?? []).length === 0) {
      throw new KaizenError(
        'INFRA_UNAVAILABLE',
        `no Kaizen worker is polling task queue "${queue}", so ${consequence}; ${NO_WORKER_HINT}`,
        { details: { taskQueue: queue } },
      )
    }
  }

  async function describeAs(id: string, type: 'optimizationCampaign' | 'canaryRelease') {
    const what = describeWhat(type, id)
    const handle = client.workflow.getHandle(id)
    const d = await handle.describe().catch((e: unknown) => {
      throw temporalError(e, what)
    })
    if (d.type !== type)
      throw new KaizenError(
        'NOT_FOUND',
        `${id} is a ${d.type} workflow, not a ${type === 'canaryRelease' ? 'canary' : 'campaign'}`,
      )
    return { handle, d, what }
  }

  /**
   * A call a running workflow's worker answers (a query, an update), within the timeout or refused
   * with a hint: at once when no worker polls `queue` (`consequence` says what cannot happen).
   */
  async function live<T>(queue: string, what: string, consequence: string, call: () => Promise<T>): Promise<T> {
    await requireWorker(queue, consequence)
    return client.withDeadline(Date.now() + queryTimeoutMs, call).catch((e: unknown) => {
      throw temporalError(e, what)
    })
  }

  /** A status query to a running campaign or canary. */
  const liveQuery = <T>(
    id: string,
    queue: string,
    what: string,
    query: typeof campaignStatusQuery | typeof canaryStatusQuery,
  ): Promise<T> =>
    live(
      queue,
      what,
      `the status of ${what} (running) cannot be read`,
      async () => (await client.workflow.getHandle(id).query(query as typeof campaignStatusQuery)) as T,
    )

  /** How a closed workflow ended: its result, or its failure (read from history; no worker needed). */
  async function outcome<T>(handle: WorkflowHandle, what: string): Promise<{ result: T } | { failure: FailureReport }> {
    try {
      return { result: (await handle.result()) as T }
    } catch (err) {
      if (err instanceof WorkflowFailedError) return { failure: failureReport(err) }
      throw temporalError(err, what)
    }
  }

  /**
   * The check, on the settings the campaign will run with: with what the person wrote
   * (`configInput`) and a task that has campaign defaults, those defaults under their settings.
   */
  const withDefaults = (input: PreflightInput, configInput: unknown) =>
    checkWithTaskDefaults((i) => ops.preflight(i), input, configInput)

  const ops = {
    taskQueue,
    requireWorker,

    /** Would a campaign on this task run? (db/queries/preflight.ts, here or on a worker.) */
    async preflight(input: PreflightInput): Promise<PreflightReport> {
      if (deps.check) return deps.check(input)
      await requireWorker(taskQueue, `the campaign cannot be checked (nor run)`)
      const workflowId = `kaizen-preflight-${input.taskId.slice(0, 100)}-${randomUUID().slice(0, 8)}`
      try {
        return await client.workflow.execute<typeof campaignPreflight>('campaignPreflight', {
          workflowId,
          taskQueue,
          args: [input],
          workflowExecutionTimeout: preflightTimeoutMs,
        })
      } catch (err) {
        if (err instanceof WorkflowFailedError && failureReport(err).chain.some((l) => l.kind === 'timeout')) {
          throw new KaizenError(
            'INFRA_UNAVAILABLE',
            `no worker on task queue "${taskQueue}" ran the campaign check within ` +
              `${preflightTimeoutMs / 1000} s; is the worker running and connected to the database? If not, ` +
              `${NO_WORKER_HINT}`,
          )
        }
        throw temporalError(err, `the check of task "${input.taskId}"`)
      }
    },

    /** Check, then start. Nothing is started when the check refuses. */
    async startCampaign(input: StartCampaignInput): Promise<StartedCampaign> {
      const campaignId = input.campaignId ?? campaignIdFor(input.taskId, new Date())
      if (!CAMPAIGN_ID_PATTERN.test(campaignId))
        throw new KaizenError('INVALID_INPUT', `campaign id "${campaignId}" is not valid: ${CAMPAIGN_ID_RULE}`, {
          details: { fields: ['id'] },
        })
      const { report, config } = await withDefaults(
        { taskId: input.taskId, config: input.config, mode: 'start', campaignId },
        input.configInput,
      )
      if (report.refusal) throw refusalError(report.refusal, 'nothing was started')
      const args: CampaignInput = { taskId: input.taskId, campaignId, trigger: input.trigger, config }
      const handle = await client.workflow
        .start<typeof optimizationCampaign>('optimizationCampaign', {
          workflowId: campaignId,
          taskQueue,
          // Campaign ids are single-use: their rows, dataset and canary are keyed by the id.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          args: [args],
          memo: { taskId: input.taskId, ...(input.startedBy ? { startedBy: input.startedBy } : {}) },
        })
        .catch((e: unknown) => {
          throw temporalError(e, `campaign "${campaignId}"`)
        })
      return { campaignId, taskId: input.taskId, warnings: report.warnings, preflight: report, handle }
    },

    /** Pause, resume or stop a running campaign (a Signal: recorded even while no worker runs). */
    async signalCampaign(
      campaignId: string,
      verb: CampaignVerb,
      by: string,
    ): Promise<{ campaignId: string; requested: CampaignVerb; by: string; message: string }> {
      const { handle, d, what } = await describeAs(campaignId, 'optimizationCampaign')
      const done = verb === 'stop' ? 'stopped' : `${verb}d`
      if (d.status.name !== 'RUNNING')
        throw new KaizenError(
          'CONFLICT',
          `campaign ${campaignId} is ${d.status.name.toLowerCase()}, so it cannot be ${done}`,
        )
      await (
        verb === 'stop'
          ? handle.signal(stopCampaignSignal, { by })
          : handle.signal(pauseCampaignSignal, { by, paused: verb === 'pause' })
      ).catch((e: unknown) => {
        throw temporalError(e, what)
      })
      return { campaignId, requested: verb, by, message: `Campaign ${campaignId}: ${verb} requested by ${by}.` }
    },

    async describeCampaign(campaignId: string): Promise<CampaignView> {
      const { handle, d, what } = await describeAs(campaignId, 'optimizationCampaign')
      const memoTask = (d.memo?.taskId as string | undefined) ?? null
      if (d.status.name === 'RUNNING') {
        const s = await liveQuery<CampaignStatus>(campaignId, d.taskQueue, what, campaignStatusQuery)
        return { ...s, campaignId, taskId: s.taskId, workflowStatus: d.status.name, result: null, failure: null }
      }
      const end = await outcome<CampaignResult>(handle, what)
      if ('result' in end) {
        const r = end.result
        return {
          campaignId,
          taskId: r.task,
          workflowStatus: d.status.name,
          stage: 'done',
          decision: r.decision,
          reason: r.reason,
          result: r,
          failure: null,
        }
      }
      return {
        campaignId,
        taskId: memoTask,
        workflowStatus: d.status.name,
        stage: 'failed',
        decision: null,
        reason: describeFailure(end.failure),
        result: null,
        failure: end.failure,
      }
    },

    async describeCanary(canaryId: string): Promise<CanaryView> {
      const { handle, d, what } = await describeAs(canaryId, 'canaryRelease')
      if (d.status.name === 'RUNNING') {
        const s = await liveQuery<CanaryStatus>(canaryId, d.taskQueue, what, canaryStatusQuery)
        return { ...s, workflowStatus: d.status.name, failure: null }
      }
      const end = await outcome<CanaryStatus>(handle, what)
      if ('result' in end) return { ...end.result, workflowStatus: d.status.name, failure: null }
      return {
        canaryId,
        workflowStatus: d.status.name,
        state: null,
        reason: describeFailure(end.failure),
        failure: end.failure,
      }
    },

    /**
     * Approve or reject. The workflow decides (its validator refuses what the canary cannot take
     * now, and nothing is recorded then); a closed canary is answered from its history.
     */
    async decideCanary(canaryId: string, verb: DecisionVerb, input: ApprovalInput): Promise<DecisionResult> {
      const { handle, d, what } = await describeAs(canaryId, 'canaryRelease')
      if (d.status.name !== 'RUNNING') {
        const end = await outcome<CanaryStatus>(handle, what)
        if ('failure' in end)
          throw new KaizenError(
            'CONFLICT',
            `canary ${canaryId} has ended (it failed: ${describeFailure(end.failure)}); nothing to ${verb}, ` +
              `nothing was recorded`,
          )
        const s = end.result
        const approval = s.decisions?.find((x) => x.decision === 'approve') ?? null
        if (verb === 'approve' && s.state === 'promoted' && approval && approval.approver === input.approver.trim()) {
          // The same person approving again: the recorded outcome, nothing new.
          const o: ApprovalOutcome = {
            canaryId,
            state: s.state,
            decision: 'approve',
            approver: approval.approver,
            approvalId: approval.approvalId,
            productionVersionId: s.candidateVersionId,
            repeated: true,
            decidedAt: approval.at,
            summary:
              `already approved by ${approval.approver} at ${approval.at} (approval ${approval.approvalId}); ` +
              `nothing new was recorded; the canary has ended: ${s.state}`,
          }
          return { outcome: o, message: describeOutcome(canaryId, o) }
        }
        const decided = approval
          ? ` (approved by ${approval.approver} at ${approval.at})`
          : s.decidedBy
            ? ` (decided by ${s.decidedBy})`
            : ''
        throw new KaizenError(
          'CONFLICT',
          `canary ${canaryId} has ended: ${s.state}${decided}${s.reason ? `: ${s.reason}` : ''}; nothing to ` +
            `${verb}, nothing was recorded`,
        )
      }
      await requireWorker(d.taskQueue, `canary ${canaryId} cannot take the ${verb} now (nothing was recorded)`)
      const o = await handle
        .executeUpdate(verb === 'approve' ? approveUpdate : rejectUpdate, { args: [input] })
        .catch((e: unknown) => {
          throw temporalError(e, what)
        })
      return { outcome: o, message: describeOutcome(canaryId, o) }
    },

    /**
     * Check (too little traffic is only a warning: runs start later), then create or update the task's nightly
     * schedule.
     */
    async createSchedule(
      spec: Omit<ScheduleSpecInput, 'taskQueue' | 'config'> & { config: CampaignConfig; configInput?: unknown },
    ): Promise<ScheduleCreated> {
      const { configInput, ...rest } = spec
      const { report, config } = await withDefaults(
        { taskId: spec.taskId, config: spec.config, mode: 'schedule' },
        configInput,
      )
      if (report.refusal) throw refusalError(report.refusal, 'no schedule was created')
      const r = await upsertSchedule(client, { ...rest, config, taskQueue })
      return { ...r, warnings: report.warnings, preflight: report }
    },
  }
  return {
    ...ops,
    ...createMonitorOperations({ client, taskQueue, live, preflight: ops.preflight }),
  }
}
