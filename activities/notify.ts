/**
 * @module activities/notify
 * Tell people what a canary needs or did: approval needed, rolled back, promoted, bake passed,
 * alerts (hold). Deliveries are at least once; each event carries a stable id for deduplication,
 * and each delivery is recorded in the audit log (targets by kind, never by URL).
 */
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity'
import { eq } from 'drizzle-orm'
import { KaizenError } from '../core/errors.js'
import { appendAudit } from '../db/queries/audit.js'
import { canaries } from '../db/schema.js'
import { deliver, type Delivery, type WebhookTarget } from '../lib/webhooks.js'
import type { ActivityDeps } from './deps.js'

export type CanaryEventName = 'approval_needed' | 'inconclusive' | 'alert' | 'rolled_back' | 'promoted' | 'baked'

export interface NotifyInput {
  canaryId: string
  event: CanaryEventName
  /** Distinguishes repeated events of one kind (e.g. successive alerts). */
  seq: number
  state: string
  summary: string
  details: Record<string, unknown>
}

export function createNotifyActivities(deps: ActivityDeps) {
  return {
    async notifyCanary(input: NotifyInput): Promise<{ delivered: Delivery[] }> {
      const targets = deps.webhooks ?? {}
      if (!targets.json && !targets.slack) return { delivered: [] }
      const canary = await deps.db.query.canaries.findFirst({ where: eq(canaries.id, input.canaryId) })
      if (!canary) throw new KaizenError('NOT_FOUND', `unknown canary "${input.canaryId}"`)
      const id = `${input.canaryId}:${input.event}:${input.seq}`
      const waiting = input.event === 'approval_needed' || input.event === 'inconclusive'
      const actions: Record<string, string> = {
        status: `kaizen canary status ${input.canaryId}`,
        ...(waiting
          ? {
              approve: `kaizen canary approve ${input.canaryId} --approver <you>`,
              reject: `kaizen canary reject ${input.canaryId} --approver <you> --comment "<why>"`,
            }
          : {}),
      }
      // Targets an earlier attempt reached are not sent the event again.
      const before = (activityInfo().heartbeatDetails as { delivered?: Delivery[] } | undefined)?.delivered ?? []
      const delivered: Delivery[] = [...before]
      const report = await deliver(
        targets,
        {
          id,
          event: `canary.${input.event}`,
          at: new Date().toISOString(),
          canaryId: input.canaryId,
          taskId: canary.taskId,
          state: input.state,
          summary: input.summary,
          details: input.details,
          actions,
          ...(deps.consoleUrl ? { url: `${deps.consoleUrl}/canaries/${encodeURIComponent(input.canaryId)}` } : {}),
        },
        {
          signal: cancellationSignal(),
          skip: new Set<WebhookTarget>(before.map((d) => d.target)),
          onDelivered: (d) => {
            delivered.push(d)
            heartbeat({ delivered })
          },
        },
      )
      const retry = report.failed.filter((f) => f.retryable)
      if (retry.length > 0)
        throw new KaizenError(
          'PROVIDER_UNAVAILABLE',
          `notification ${id} not delivered to ${retry.map((f) => `${f.target} (${f.message})`).join(', ')}`,
        )
      await appendAudit(deps.db, {
        eventKey: `notify:${id}`,
        actor: 'kaizen',
        action: 'notification.sent',
        taskId: canary.taskId,
        subjectType: 'canary',
        subjectId: input.canaryId,
        details: { event: `canary.${input.event}`, delivered, refused: report.failed },
      })
      return { delivered }
    },
  }
}
