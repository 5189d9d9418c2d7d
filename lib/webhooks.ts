/**
 * @module lib/webhooks
 * Outgoing notifications: a JSON webhook (signed with HMAC-SHA256 when a secret is set) and a
 * Slack incoming webhook. Targets come from the worker's environment, never from workflow input,
 * because webhook URLs are secrets (they must not end up in workflow history or the audit log).
 */
import { createHmac } from 'node:crypto'
import { KaizenError } from '../core/errors.js'

export interface WebhookTargets {
  json?: { url: string; secret?: string | undefined } | undefined
  slack?: { url: string } | undefined
}

export interface KaizenEvent {
  /** Stable id: a retried delivery carries the same id (receivers deduplicate on it). */
  id: string
  event: string
  at: string
  /** The canary it is about; absent for events of a task (e.g. the quality monitor's alerts). */
  canaryId?: string
  taskId: string
  state: string
  /** One-sentence summary for people. */
  summary: string
  details: Record<string, unknown>
  actions: Record<string, string>
  /** The canary's page in the operator console, when its address is configured. */
  url?: string
}

export type Delivery = { target: 'webhook' | 'slack'; status: number }

function slackPayload(e: KaizenEvent): Record<string, unknown> {
  const actions = Object.entries(e.actions).map(([k, v]) => `*${k}:* \`${v}\``)
  return {
    text: `[Kaizen] ${e.summary}`,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text:
            `*Kaizen · ${e.event}* — ${e.canaryId ? `canary \`${e.canaryId}\` on ` : ''}task \`${e.taskId}\`` +
            `\n${e.summary}`,
        },
      },
      ...(e.url
        ? [{ type: 'section', text: { type: 'mrkdwn', text: `<${e.url}|Open it in the Kaizen console>` } }]
        : []),
      ...(actions.length > 0 ? [{ type: 'section', text: { type: 'mrkdwn', text: actions.join('\n') } }] : []),
    ],
  }
}

export type WebhookTarget = Delivery['target']

export interface DeliveryReport {
  delivered: Delivery[]
  /** Targets that did not take the event; `retryable` when trying again later may work. */
  failed: Array<{ target: WebhookTarget; message: string; retryable: boolean }>
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<number> {
  const timeout = AbortSignal.timeout(10_000)
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    })
  } catch (err) {
    throw new KaizenError('PROVIDER_UNAVAILABLE', `webhook delivery failed: ${(err as Error).message}`)
  }
  await res.arrayBuffer().catch(() => undefined)
  // 408/429/5xx may pass; other refusals will not.
  if (res.status === 408 || res.status === 429 || res.status >= 500)
    throw new KaizenError('PROVIDER_UNAVAILABLE', `webhook answered ${res.status}`)
  if (res.status >= 400) throw new KaizenError('PROVIDER_REJECTED', `webhook refused the notification (${res.status})`)
  return res.status
}

/**
 * Deliver to every configured target except those in `skip` (already delivered by an earlier
 * attempt), each independently: one target being down never keeps the event from the others.
 *
 * The JSON body carries `at` and, with a secret, is signed (`x-kaizen-signature: sha256=<hex>`
 * of the raw body); receivers should check the signature, deduplicate on `id`, and refuse
 * events whose `at` is too old, which defeats replays of a captured request.
 */
export async function deliver(
  targets: WebhookTargets,
  event: KaizenEvent,
  options: {
    signal?: AbortSignal | undefined
    skip?: ReadonlySet<WebhookTarget>
    onDelivered?: (d: Delivery) => void
  } = {},
): Promise<DeliveryReport> {
  const jobs: Array<{ target: WebhookTarget; send: () => Promise<number> }> = []
  const { json, slack } = targets
  if (json && !options.skip?.has('webhook')) {
    const body = JSON.stringify(event)
    const headers: Record<string, string> = { 'x-kaizen-event': event.event, 'x-kaizen-event-id': event.id }
    if (json.secret)
      headers['x-kaizen-signature'] = `sha256=${createHmac('sha256', json.secret).update(body).digest('hex')}`
    jobs.push({ target: 'webhook', send: () => post(json.url, body, headers, options.signal) })
  }
  if (slack && !options.skip?.has('slack')) {
    jobs.push({ target: 'slack', send: () => post(slack.url, JSON.stringify(slackPayload(event)), {}, options.signal) })
  }
  const report: DeliveryReport = { delivered: [], failed: [] }
  const results = await Promise.allSettled(
    jobs.map(async (j) => {
      const d: Delivery = { target: j.target, status: await j.send() }
      options.onDelivered?.(d)
      return d
    }),
  )
  results.forEach((r, i) => {
    const target = (jobs[i] as (typeof jobs)[number]).target
    if (r.status === 'fulfilled') report.delivered.push(r.value)
    else {
      const err = r.reason as KaizenError
      report.failed.push({ target, message: err.message, retryable: err.code !== 'PROVIDER_REJECTED' })
    }
  })
  return report
}
