/**
 * @module serving/gateway
 * Gateway mode: Kaizen makes the production call for the application. One request is resolved
 * (canary routing, sticky per key), rendered with the version's template, sent to the provider
 * (limits and retries of providers/client.ts; no response cache: every request is a live call),
 * recorded as traffic (redacted first) and answered with the model's output.
 *
 * A client `id` makes the call idempotent: a request repeated with the same id, once the first has
 * completed, is answered from the stored record (its redacted output) and no second call is made;
 * the same id with another routing key is a conflict. A failed call is recorded under an id of its
 * own, so retrying a failure with the same id calls the model again. Overlapping requests with the
 * same id wait for each other in one process (one model call; the later ones are replays); served
 * by two API processes, both may call the model (the first stored answer wins).
 * The call is made before it is recorded, so a database that is unavailable at that moment does not
 * cost the caller the answer: the record is retried a few times with backoff, and if the database
 * stays away the caller still gets the answer, marked `recorded: false` (the API adds the header
 * `Kaizen-Recorded: false` and counts it in `kaizen_gateway_records_lost_total`); the loss is
 * logged in one line per interval, by count and reason only — never the request or the answer.
 * Simulated models (`sim-*`) answer only scenario inputs: such a request names the scenario
 * example (`simulation.exampleKey`) and the input is the example's; the record keeps the case's
 * known outcome as its reference and is marked simulated.
 */
import { eq } from 'drizzle-orm'
import { KaizenError, isKaizenError } from '../core/errors.js'
import { dbFault, dbFaultReason } from '../lib/db-errors.js'
import { LossReport } from '../lib/safe-log.js'
import { renderMessages, templateVariables, type PromptContent } from '../core/prompt.js'
import type { Db } from '../db/client.js'
import { contentOf } from '../db/queries/prompts.js'
import { newTrafficId, trafficIdOf } from '../db/queries/traffic-ids.js'
import { promptVersions, traffic } from '../db/schema.js'
import type { ModelClient } from '../providers/client.js'
import type { CompletionResult } from '../providers/types.js'
import { Redactor } from '../privacy/redact.js'
import type { PromptResolver } from './resolver.js'

export interface GatewayRequest {
  /** Sticky routing key (user, session or tenant id). */
  key: string
  /** Input variables for the prompt's template (taken from the scenario example for simulated models). */
  input?: Record<string, string> | undefined
  /** Client idempotency key (unique per task). */
  id?: string | undefined
  /** Simulated models only: the scenario example to answer. */
  simulation?: { exampleKey: string } | undefined
}

export interface GatewayResponse {
  trafficId: string
  output: string | null
  /**
   * Only on a replay of a record stored with an error (e.g. sent through POST /v1/traffic); a live failure is an HTTP
   * error naming its record.
   */
  error: string | null
  version: { id: string; number: number }
  arm: 'baseline' | 'canary' | null
  canaryId: string | null
  model: string
  provider: string
  simulated: boolean
  usage: { inputTokens: number; outputTokens: number }
  latencyMs: number
  costUsd: number
  /** True when answered from the record of an earlier request with the same id (no new call). */
  replayed: boolean
  /**
   * False when the call was made but could not be recorded (the database stayed unavailable
   * through the retries): `trafficId` then names no record, and a repeat with the same id calls
   * the model again.
   */
  recorded: boolean
}

type TrafficRow = typeof traffic.$inferSelect

/**
 * The answer to a request, from its traffic record (`output` is what the caller gets: the live, unredacted text, or the
 * stored one on a replay).
 */
function responseOf(
  row: Omit<TrafficRow, 'createdAt' | 'expiredAt' | 'sampleKey'>,
  versionNumber: number,
  output: string | null,
  replayed: boolean,
  recorded = true,
): GatewayResponse {
  return {
    trafficId: row.id,
    output,
    error: replayed ? row.error : null,
    version: { id: row.promptVersionId, number: versionNumber },
    arm: row.arm,
    canaryId: row.canaryId,
    model: row.model,
    provider: row.provider,
    simulated: row.simulated,
    usage: { inputTokens: row.inputTokens, outputTokens: row.outputTokens },
    latencyMs: row.latencyMs,
    costUsd: row.costUsd,
    replayed,
    recorded,
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class Gateway {
  /** Calls under way by traffic id (requests that carry an id), so a repeat waits instead of calling too. */
  private readonly inFlight = new Map<string, Promise<GatewayResponse>>()
  private readonly redactor: Redactor
  private readonly losses: LossReport

  constructor(
    private readonly deps: {
      db: Db
      resolver: PromptResolver
      models: ModelClient
      redactor?: Redactor
      /** Waits before the retries of a record the database did not take (default 200, 800 and 2,000 ms). */
      recordRetryMs?: readonly number[]
      /** Where lines about unrecorded calls go (default stderr). */
      log?: (line: string) => void
    },
  ) {
    this.redactor = deps.redactor ?? new Redactor()
    this.losses = new LossReport(
      (n, reasons) =>
        `[gateway] ${n} model call${n === 1 ? '' : 's'} not recorded while the database was unavailable (${reasons})`,
      deps.log ?? ((l) => process.stderr.write(`${l}\n`)),
    )
  }

  /**
   * Store a call's record, retrying while the database is unavailable. `stored`: this row is in
   * the table (written now, or by an earlier attempt whose answer the lost connection swallowed);
   * `conflict`: another record holds the id; `lost`: the database stayed unavailable.
   */
  private async store(row: typeof traffic.$inferInsert): Promise<'stored' | 'conflict' | 'lost'> {
    const waits = this.deps.recordRetryMs ?? [200, 800, 2_000]
    for (let attempt = 0; ; attempt++) {
      try {
        const inserted = await this.deps.db
          .insert(traffic)
          .values(row)
          .onConflictDoNothing({ target: traffic.id })
          .returning({ id: traffic.id })
        this.losses.flush() // the database is back: report what was lost meanwhile
        if (inserted.length > 0) return 'stored'
        if (attempt === 0) return 'conflict'
        // After a lost connection the earlier attempt may have been stored: ours if it holds our answer.
        const [found] = await this.deps.db
          .select({ output: traffic.output, latencyMs: traffic.latencyMs, routingKey: traffic.routingKey })
          .from(traffic)
          .where(eq(traffic.id, row.id))
        return found &&
          found.output === row.output &&
          found.latencyMs === row.latencyMs &&
          found.routingKey === row.routingKey
          ? 'stored'
          : 'conflict'
      } catch (err) {
        const fault = dbFault(err)
        if (fault?.kind !== 'unavailable') throw err
        const wait = waits[attempt]
        if (wait === undefined) {
          this.losses.lost(dbFaultReason(fault))
          return 'lost'
        }
        await sleep(wait)
      }
    }
  }

  private async replay(taskId: string, id: string, key: string): Promise<GatewayResponse | null> {
    const [found] = await this.deps.db
      .select({ row: traffic, number: promptVersions.version })
      .from(traffic)
      .innerJoin(promptVersions, eq(promptVersions.id, traffic.promptVersionId))
      .where(eq(traffic.id, trafficIdOf(taskId, id)))
    if (!found) return null
    const { row, number } = found
    if (row.routingKey !== key) {
      throw new KaizenError(
        'CONFLICT',
        `id "${id}" of task "${taskId}" was already used for another request (routing key differs); use a ` +
          `new id per request`,
        { details: { fields: ['id'] } },
      )
    }
    return responseOf(row, number, row.output, true)
  }

  /** Input for the call and what the record keeps about a simulated case; every fault names its field. */
  private async inputFor(taskId: string, content: PromptContent, req: GatewayRequest) {
    const provider = this.deps.models.registry.resolve(content.model)
    if (provider.simulated) {
      const sim = this.deps.models.registry.simulation
      if (!req.simulation) {
        throw new KaizenError(
          'INVALID_INPUT',
          `task "${taskId}" is served by the simulated model "${content.model}", which answers scenario ` +
            `cases only: send simulation.exampleKey (any string names a case)`,
          {
            details: { fields: ['simulation.exampleKey'] },
          },
        )
      }
      if (!sim?.simulates(taskId))
        throw new KaizenError(
          'CONFIG_ERROR',
          `task "${taskId}" uses the simulated model "${content.model}" but no loaded scenario simulates it`,
        )
      const { example, ref } = sim.caseFor(taskId, req.simulation.exampleKey)
      return { provider, input: example.input, reference: example.reference, sim: ref }
    }
    if (req.simulation) {
      throw new KaizenError(
        'INVALID_INPUT',
        `simulation applies to simulated models only; task "${taskId}" is served by "${content.model}": ` +
          `remove simulation`,
        { details: { fields: ['simulation'] } },
      )
    }
    const input = req.input ?? {}
    const missing = templateVariables(content.user).filter((v) => input[v.split('.')[0] as string] === undefined)
    if (missing.length > 0) {
      throw new KaizenError(
        'INVALID_INPUT',
        `the prompt of task "${taskId}" needs input ${missing.map((m) => `"${m}"`).join(', ')}; add it to input`,
        {
          details: { fields: missing.map((m) => `input.${m}`) },
        },
      )
    }
    return { provider, input, reference: null, sim: null }
  }

  async complete(taskId: string, req: GatewayRequest, signal?: AbortSignal): Promise<GatewayResponse> {
    if (req.id === undefined) return this.call(taskId, req, signal)
    const key = trafficIdOf(taskId, req.id)
    // A request overlapping one with the same id waits for it, then is answered like any repeat
    // (from the stored record; a failure was not stored under the id, so it calls again).
    for (let pending = this.inFlight.get(key); pending; pending = this.inFlight.get(key))
      await pending.catch(() => undefined)
    const call = this.call(taskId, req, signal)
    this.inFlight.set(key, call)
    try {
      return await call
    } finally {
      if (this.inFlight.get(key) === call) this.inFlight.delete(key)
    }
  }

  private async call(taskId: string, req: GatewayRequest, signal?: AbortSignal): Promise<GatewayResponse> {
    if (req.id !== undefined) {
      const earlier = await this.replay(taskId, req.id, req.key)
      if (earlier) return earlier
    }
    const { version, arm, canaryId, weight } = await this.deps.resolver.resolve(taskId, req.key)
    const content = contentOf(version)
    const { provider, input, reference, sim } = await this.inputFor(taskId, content, req)
    const started = Date.now()
    let result: CompletionResult | null = null
    let failure: KaizenError | null = null
    try {
      result = await this.deps.models.live(
        {
          model: content.model,
          messages: renderMessages(content, input),
          params: content.params,
          ...(sim ? { simulation: sim } : {}),
        },
        signal,
      )
    } catch (err) {
      // A provider that refused or could not be reached (after retries) is the outcome of this
      // request: it is recorded as a failed call (the canary counts errors), then reported.
      if (!isKaizenError(err) || (err.code !== 'PROVIDER_REJECTED' && err.code !== 'PROVIDER_UNAVAILABLE')) throw err
      failure = err
    }
    // Stored redacted, like every traffic record; the caller gets the model's own answer.
    const clean = await this.redactor.json({ input, output: result?.text ?? null, error: failure?.message ?? null })
    const row = {
      // A failed call is its own record, never under the idempotency key: the client's retry with the same id makes the
      // call again.
      id: req.id !== undefined && !failure ? trafficIdOf(taskId, req.id) : newTrafficId(taskId),
      taskId,
      promptVersionId: version.id,
      routingKey: req.key,
      canaryId,
      arm,
      routingWeight: weight,
      input: clean.input,
      output: clean.output,
      reference,
      simExampleKey: sim?.exampleKey ?? null,
      provider: result?.provider ?? provider.id,
      model: content.model,
      simulated: result?.simulated ?? provider.simulated,
      inputTokens: result?.usage.inputTokens ?? 0,
      outputTokens: result?.usage.outputTokens ?? 0,
      latencyMs: result?.latencyMs ?? Date.now() - started,
      costUsd: result?.costUsd ?? 0,
      error: clean.error,
    }
    const stored = await this.store(row)
    if (stored === 'conflict' && req.id !== undefined && !failure) {
      // A concurrent request with the same id stored first: its record is the answer.
      const earlier = await this.replay(taskId, req.id, req.key)
      if (earlier) return earlier
    }
    const recorded = stored !== 'lost'
    if (failure) {
      const where = recorded ? `recorded as traffic ${row.id}` : 'not recorded: the database is unavailable'
      throw new KaizenError(failure.code, `${failure.message} (${where})`, {
        details: { ...failure.details, trafficId: row.id, recorded, arm: arm ?? 'none' },
      })
    }
    return responseOf(row, version.version, result?.text ?? null, false, recorded)
  }
}
