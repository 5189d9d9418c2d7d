/**
 * @module api/routes/otlp
 * `POST /otlp/v1/traces`: OTLP/HTTP trace export in JSON (point an OpenTelemetry exporter's
 * traces endpoint here). Spans that describe an LLM call of a Kaizen task become traffic records:
 *
 * | traffic field | span attribute |
 * | --- | --- |
 * | task, promptVersion | `kaizen.task`, `kaizen.prompt_version` (spans without them are skipped) |
 * | routingKey | `kaizen.routing_key` (default: the trace id) |
 * | input | `kaizen.input.<name>` attributes, or `kaizen.input` (a JSON object) |
 * | output | `kaizen.output`, else the text of `gen_ai.output.messages` / `gen_ai.completion` |
 * | model | `gen_ai.request.model` (else `gen_ai.response.model`) |
 * | provider | `gen_ai.provider.name` (else `gen_ai.system`) |
 * | inputTokens, outputTokens | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` |
 * | costUsd | `gen_ai.usage.cost` (USD), else priced from model and tokens by the server's price table |
 * | latencyMs, startedAt | end − start, start |
 * | error | the span's error status message (status code 2) |
 * | canaryId, arm | `kaizen.canary_id`, `kaizen.arm` |
 * | simulated | `kaizen.simulated`, or a system fingerprint (`gen_ai.openai.response.system_fingerprint`, |
 * |  | `openai.response.system_fingerprint`) of `kaizen-simulation` |
 *
 * Only spans with `gen_ai.operation.name` are LLM calls. The span id is the idempotency key. The
 * export is stored whole or not at all, like a `/v1/traffic` batch (same checks, same redaction).
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { KaizenError, fromZodError } from '../../core/errors.js'
import { SIM_FINGERPRINT } from '../../core/simulation-label.js'
import type { Db } from '../../db/client.js'
import type { Redactor } from '../../privacy/redact.js'
import { requireScope, requireTasks, type AuthEnv, type TokenCache } from '../auth.js'
import type { ApiMetrics } from '../metrics.js'
import { authResponses, errorResponse } from '../schemas.js'
import { MAX_BATCH, TrafficRecord, storeTraffic, type CostOf, type TrafficRecordInput } from './traffic.js'

// An OTLP AnyValue ({ stringValue } | { intValue } | … | { arrayValue } | { kvlistValue }); read by `plain`.
const AnyValue = z.record(z.string(), z.unknown()).openapi({ description: 'OTLP AnyValue' })
const KeyValue = z.object({ key: z.string(), value: AnyValue.optional() }).loose()
const Nanos = z.union([
  z.string().regex(/^\d+$/, 'nanoseconds since the epoch, as digits'),
  z.number().int().nonnegative(),
])
const Span = z
  .object({
    traceId: z.string().min(1),
    spanId: z.string().min(1),
    name: z.string().optional(),
    startTimeUnixNano: Nanos,
    endTimeUnixNano: Nanos,
    attributes: z.array(KeyValue).default([]),
    status: z.object({ code: z.number().int().optional(), message: z.string().optional() }).loose().optional(),
  })
  .loose()
export const OtlpTraces = z
  .object({
    resourceSpans: z
      .array(
        z
          .object({
            resource: z
              .object({ attributes: z.array(KeyValue).default([]) })
              .loose()
              .optional(),
            scopeSpans: z.array(z.object({ spans: z.array(Span).default([]) }).loose()).default([]),
          })
          .loose(),
      )
      .default([]),
  })
  .loose()
  .openapi('OtlpTracesRequest')

type SpanIn = z.infer<typeof Span>

/** An attribute value as JS: strings, numbers (int64 as number), booleans, arrays, objects. */
function plain(v: unknown): unknown {
  if (!v || typeof v !== 'object') return undefined
  const o = v as Record<string, unknown>
  if (o.stringValue !== undefined) return o.stringValue
  if (o.intValue !== undefined) return Number(o.intValue)
  if (o.doubleValue !== undefined) return o.doubleValue
  if (o.boolValue !== undefined) return o.boolValue
  if (o.arrayValue) return ((o.arrayValue as { values?: unknown[] }).values ?? []).map(plain)
  if (o.kvlistValue)
    return Object.fromEntries(
      ((o.kvlistValue as { values?: Array<{ key: string; value?: unknown }> }).values ?? []).map((kv) => [
        kv.key,
        plain(kv.value),
      ]),
    )
  return undefined
}

/** The text of a gen_ai messages attribute (JSON: [{ role, parts: [{ type: 'text', content }] }] or [{ content }]). */
function messagesText(raw: unknown): string | null {
  let value = raw
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw)
    } catch {
      return raw
    }
  }
  if (!Array.isArray(value)) return typeof value === 'string' ? value : null
  const texts = value.flatMap((m: { content?: unknown; parts?: Array<{ content?: unknown; type?: string }> }) =>
    typeof m?.content === 'string'
      ? [m.content]
      : (m?.parts ?? []).filter((p) => typeof p?.content === 'string').map((p) => p.content as string),
  )
  return texts.length > 0 ? texts.join('\n') : null
}

/** A span as a traffic record (unvalidated), or null when it is not an LLM call of a Kaizen task. */
export function spanToRecord(span: SpanIn, resource: Record<string, unknown>): Record<string, unknown> | null {
  const a: Record<string, unknown> = { ...resource }
  for (const kv of span.attributes) a[kv.key] = plain(kv.value)
  if (a['gen_ai.operation.name'] === undefined || a['kaizen.task'] === undefined) return null
  const input: Record<string, unknown> = {}
  if (a['kaizen.input'] !== undefined) {
    const raw = a['kaizen.input']
    try {
      Object.assign(input, typeof raw === 'string' ? JSON.parse(raw) : raw)
    } catch {
      input['(kaizen.input)'] = raw // not JSON: validation names it
    }
  }
  for (const [k, v] of Object.entries(a)) if (k.startsWith('kaizen.input.')) input[k.slice('kaizen.input.'.length)] = v
  const start = BigInt(span.startTimeUnixNano)
  const end = BigInt(span.endTimeUnixNano)
  const failed = span.status?.code === 2
  return {
    id: `${span.traceId}:${span.spanId}`,
    task: a['kaizen.task'],
    promptVersion: a['kaizen.prompt_version'],
    routingKey: a['kaizen.routing_key'] ?? span.traceId,
    input,
    output: a['kaizen.output'] ?? messagesText(a['gen_ai.output.messages'] ?? a['gen_ai.completion']) ?? null,
    model: a['gen_ai.request.model'] ?? a['gen_ai.response.model'],
    provider: a['gen_ai.provider.name'] ?? a['gen_ai.system'] ?? 'otel',
    inputTokens: a['gen_ai.usage.input_tokens'] ?? 0,
    outputTokens: a['gen_ai.usage.output_tokens'] ?? 0,
    ...(a['gen_ai.usage.cost'] === undefined ? {} : { costUsd: a['gen_ai.usage.cost'] }),
    latencyMs: end > start ? Number((end - start) / 1_000_000n) : 0,
    error: failed ? span.status?.message || 'error' : null,
    canaryId: a['kaizen.canary_id'] ?? null,
    arm: a['kaizen.arm'] ?? null,
    simulated:
      a['kaizen.simulated'] ??
      [a['gen_ai.openai.response.system_fingerprint'], a['openai.response.system_fingerprint']].includes(
        SIM_FINGERPRINT,
      ),
    startedAt: new Date(Number(start / 1_000_000n)).toISOString(),
  }
}

/** Every LLM span of an export as a validated traffic record; a bad one fails the export, naming its span. */
export function otlpToRecords(body: z.infer<typeof OtlpTraces>): { records: TrafficRecordInput[]; skipped: number } {
  const records: TrafficRecordInput[] = []
  let skipped = 0
  body.resourceSpans.forEach((rs, i) => {
    const resource: Record<string, unknown> = {}
    for (const kv of rs.resource?.attributes ?? []) resource[kv.key] = plain(kv.value)
    rs.scopeSpans.forEach((ss, j) =>
      ss.spans.forEach((span, k) => {
        const raw = spanToRecord(span, resource)
        if (!raw) {
          skipped++
          return
        }
        const parsed = TrafficRecord.safeParse(raw)
        if (!parsed.success)
          throw fromZodError(
            parsed.error,
            `span resourceSpans[${i}].scopeSpans[${j}].spans[${k}] (${span.spanId}) as a traffic record`,
          )
        records.push(parsed.data)
      }),
    )
  })
  if (records.length > MAX_BATCH)
    throw new KaizenError(
      'INVALID_INPUT',
      `the export holds ${records.length} LLM spans; send at most ${MAX_BATCH} per request (lower the ` +
        `exporter's batch size)`,
    )
  return { records, skipped }
}

const route = createRoute({
  method: 'post',
  path: '/otlp/v1/traces',
  summary: 'OTLP/HTTP JSON trace export: GenAI spans of Kaizen tasks become traffic',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: OtlpTraces } } } },
  responses: {
    200: {
      description: 'Accepted (OTLP ExportTraceServiceResponse)',
      content: {
        'application/json': {
          schema: z.object({
            partialSuccess: z.object({ rejectedSpans: z.number().int(), errorMessage: z.string() }).partial(),
          }),
        },
      },
    },
    400: errorResponse('Malformed export, or a span that is not a valid traffic record (named)'),
    ...authResponses('ingest'),
    404: errorResponse('Unknown task or prompt version (named)'),
  },
})

export function registerOtlp(
  app: OpenAPIHono<AuthEnv>,
  deps: { db: Db; tokens: TokenCache; metrics: ApiMetrics; redactor: Redactor; cost?: CostOf },
): void {
  app.use(route.path, requireScope(deps.tokens, 'ingest'))
  app.openapi(route, async (c) => {
    const { records } = otlpToRecords(c.req.valid('json'))
    requireTasks(
      c.get('token'),
      records.map((r) => r.task),
      'kaizen.task',
    )
    if (records.length > 0) {
      const result = await storeTraffic(deps.db, records, deps.redactor, deps.cost)
      deps.metrics.ingested.inc({ source: 'otlp' }, result.stored)
    }
    return c.json({ partialSuccess: {} }, 200)
  })
}
