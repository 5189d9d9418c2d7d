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
  canaryId: string
  taskId: string
  state: string
  /** One-sentence summary for people. */
  summary: string
  details: Record<string, unknown>
  actions: Record<string, string>
}

export type Delivery = { target: 'webhook' | 'slack'; status: number }

function slackPayload(e: KaizenEvent): Record<string, unknown> {
  const actions = Object.entries(e.actions).map(([k, v]) => `*${k}:* \`${v}\``)
  return {
    text: `[Kaizen] ${e.summary}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*Kaizen · ${e.event}* — canary \`${e.canaryId}\` on task \`${e.taskId}\`\n${e.summary}` } },
      ...(actions.length > 0 ? [{ type: 'section', text: { type: 'mrkdwn', text: actions.join('\n') } }] : []),
    ],
  }
}

async function post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<number> {
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: signal ?? AbortSignal.timeout(10_000) })
  } catch (err) {
    throw new KaizenError('PROVIDER_UNAVAILABLE', `webhook delivery failed: ${(err as Error).message}`)
  }
  await res.arrayBuffer().catch(() => undefined)
  // 408/429/5xx may pass; other refusals will not.
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new KaizenError('PROVIDER_UNAVAILABLE', `webhook answered ${res.status}`)
  if (res.status >= 400) throw new KaizenError('PROVIDER_REJECTED', `webhook refused the notification (${res.status})`)
  return res.status
}

/** Deliver to every configured target; returns what was delivered. */
export async function deliver(targets: WebhookTargets, event: KaizenEvent, signal?: AbortSignal): Promise<Delivery[]> {
  const out: Delivery[] = []
  if (targets.json) {
    const body = JSON.stringify(event)
    const headers: Record<string, string> = { 'x-kaizen-event': event.event, 'x-kaizen-event-id': event.id }
    if (targets.json.secret) headers['x-kaizen-signature'] = `sha256=${createHmac('sha256', targets.json.secret).update(body).digest('hex')}`
    out.push({ target: 'webhook', status: await post(targets.json.url, body, headers, signal) })
  }
  if (targets.slack) out.push({ target: 'slack', status: await post(targets.slack.url, JSON.stringify(slackPayload(event)), {}, signal) })
  return out
}
