/**
 * @module sdk/records
 * A recorded call as `POST /v1/traffic` takes it, checked when it is recorded: the server refuses a
 * batch whole when one record is malformed, so a bad record is refused here, at the `record` call
 * that made it (a `KaizenClientError` `INVALID_INPUT` naming the field as the API would), and never
 * costs the other records of its batch.
 */
import { KaizenClientError } from './errors.js'
import type { RecordInput, TrafficRecord } from './types.js'

/** The API's limits on one record (api/routes/traffic.ts). */
const MAX_LENGTH = { id: 200, task: 200, promptVersion: 200, routingKey: 500, model: 200, provider: 100 } as const
const MAX_INPUT_VALUE = 100_000
const MAX_OUTPUT = 1_000_000
const MAX_ERROR = 10_000

function invalid(field: string, message: string): KaizenClientError {
  return new KaizenClientError('INVALID_INPUT', `record: ${field} ${message}`, { fields: [field] })
}

function count(value: number | undefined, field: string, max: number): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isFinite(value) || value < 0 || value > max) throw invalid(field, `must be between 0 and ${max}`)
  return Math.round(value)
}

/** The traffic record for one call; `id` and `now` supply the defaults (a new idempotency id, the clock). */
export function toTrafficRecord(call: RecordInput, newId: () => string, now: number): TrafficRecord {
  const routing =
    'prompt' in call
      ? {
          task: call.prompt.task,
          promptVersion: call.prompt.version.id,
          routingKey: call.prompt.key,
          model: call.model ?? call.prompt.version.content.model,
          arm: call.prompt.arm,
          canaryId: call.prompt.canaryId,
          routingWeight: call.prompt.routingWeight,
        }
      : {
          task: call.task,
          promptVersion: call.versionId,
          routingKey: call.key,
          model: call.model,
          arm: call.arm ?? null,
          canaryId: call.canaryId ?? null,
          routingWeight: call.routingWeight ?? null,
        }
  const latencyMs = count(call.latencyMs, 'latencyMs', 86_400_000)
  const started = call.startedAt ?? new Date(now - (latencyMs ?? 0))
  const record: TrafficRecord = {
    id: call.id ?? newId(),
    ...routing,
    input: call.input,
    output: call.output ?? null,
    error: call.error ?? null,
    startedAt: isoDate(started),
  }
  const tokensIn = count(call.inputTokens, 'inputTokens', 10_000_000)
  const tokensOut = count(call.outputTokens, 'outputTokens', 10_000_000)
  if (call.provider !== undefined) record.provider = call.provider
  if (call.simulated !== undefined) {
    if (typeof call.simulated !== 'boolean') throw invalid('simulated', 'must be true or false')
    record.simulated = call.simulated
  }
  if (latencyMs !== undefined) record.latencyMs = latencyMs
  if (tokensIn !== undefined) record.inputTokens = tokensIn
  if (tokensOut !== undefined) record.outputTokens = tokensOut
  if (call.costUsd !== undefined) {
    if (!Number.isFinite(call.costUsd) || call.costUsd < 0) throw invalid('costUsd', 'must be 0 or more')
    record.costUsd = call.costUsd
  }
  check(record)
  return record
}

/** The record's field names as `record` takes them. */
const CALLED = { promptVersion: 'versionId', routingKey: 'key' } as Record<string, string>

function isoDate(value: Date | string): string {
  const at = typeof value === 'string' ? Date.parse(value) : value.getTime()
  if (Number.isNaN(at)) throw invalid('startedAt', 'must be a date (a Date, or ISO 8601)')
  return new Date(at).toISOString()
}

function check(r: TrafficRecord): void {
  for (const [field, max] of Object.entries(MAX_LENGTH)) {
    const value = r[field as keyof typeof MAX_LENGTH]
    if (value === undefined && field === 'provider') continue
    if (typeof value !== 'string' || value.length === 0 || value.length > max)
      throw invalid(CALLED[field] ?? field, `must be a string of 1 to ${max} characters`)
  }
  if (typeof r.input !== 'object' || r.input === null || Array.isArray(r.input))
    throw invalid('input', 'must be an object of strings')
  for (const [name, value] of Object.entries(r.input))
    if (typeof value !== 'string' || value.length > MAX_INPUT_VALUE)
      throw invalid(`input.${name}`, `must be a string of at most ${MAX_INPUT_VALUE} characters`)
  if (r.output !== null && (typeof r.output !== 'string' || r.output.length > MAX_OUTPUT))
    throw invalid('output', `must be a string of at most ${MAX_OUTPUT} characters, or null`)
  if (r.error !== null && (typeof r.error !== 'string' || r.error.length > MAX_ERROR))
    throw invalid('error', `must be a string of at most ${MAX_ERROR} characters, or null`)
  if (r.arm !== null && r.arm !== 'baseline' && r.arm !== 'canary')
    throw invalid('arm', 'must be "baseline", "canary" or null')
  if (r.routingWeight !== null && !(r.routingWeight >= 0 && r.routingWeight <= 1))
    throw invalid('routingWeight', 'must be between 0 and 1, or null')
}
