/**
 * @module serving/traffic-simulator
 * A stand-in for a production application, for the demo and the tests: it draws inputs from a
 * scenario, asks the resolver which prompt version to use (so a canary sees real arms), calls the
 * simulated model, and records each call as traffic, with the case's known outcome as reference.
 * Everything it records is marked simulated.
 *
 * While the database is unavailable, a request whose record cannot be written is retried a few
 * times with backoff, then counted as lost (`stats.lost`) and reported in one line per interval —
 * `[traffic] 3 requests lost while the database was unavailable (ECONNREFUSED)` — never with its
 * data; a request that cannot even be routed (the resolver reads the database too) is lost the
 * same way. Other errors go to `onError`, described without their data (lib/safe-log.ts).
 */
import { randomUUID } from 'node:crypto'
import { isKaizenError } from '../core/errors.js'
import { dbFault, dbFaultReason } from '../lib/db-errors.js'
import { LossReport, describeError } from '../lib/safe-log.js'
import { renderMessages } from '../core/prompt.js'
import type { Db } from '../db/client.js'
import { contentOf } from '../db/queries/prompts.js'
import { trafficIdOf } from '../db/queries/traffic-ids.js'
import { traffic } from '../db/schema.js'
import { unitHash } from '../lib/hash.js'
import type { Scenario, SimulationProvider } from '../providers/simulation.js'
import type { PromptResolver } from './resolver.js'

export interface TrafficSimulatorOptions {
  db: Db
  provider: SimulationProvider
  resolver: PromptResolver
  scenario: Scenario
  /** Distinct users; each keeps its arm during a canary. */
  users?: number
  /** Fault injection: every request served by the canary arm fails (a total regression). */
  failCanary?: boolean
  /** Fault injection: every request served by this prompt version fails, whichever arm serves it. */
  failVersionId?: string | null
  /** Prefix of example keys (defaults to a fresh random run id). */
  runId?: string
  /** Waits before the retries of a record the database did not take (default 100, 400 and 1,600 ms). */
  recordRetryMs?: readonly number[]
  /** Where lines about lost requests go (default stderr). */
  log?: (line: string) => void
}

export interface TrafficStats {
  sent: number
  errors: number
  canary: number
  baseline: number
  /** Requests not recorded because the database was unavailable (after retries). */
  lost: number
}

type TrafficRow = typeof traffic.$inferInsert
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class TrafficSimulator {
  private counter = 0
  private running = false
  private loop: Promise<void> | null = null
  readonly stats: TrafficStats = { sent: 0, errors: 0, canary: 0, baseline: 0, lost: 0 }
  private readonly runId: string
  private readonly losses: LossReport
  failCanary: boolean
  failVersionId: string | null

  constructor(private readonly options: TrafficSimulatorOptions) {
    this.runId = options.runId ?? randomUUID()
    this.failCanary = options.failCanary ?? false
    this.failVersionId = options.failVersionId ?? null
    this.losses = new LossReport(
      (n, reasons) =>
        `[traffic] ${n} request${n === 1 ? '' : 's'} lost while the database was unavailable (${reasons})`,
      options.log ?? ((l) => process.stderr.write(`${l}\n`)),
    )
  }

  /** A request lost to an unavailable database: counted, reported later in one line. False: not such a loss. */
  private lost(err: unknown): boolean {
    const fault = dbFault(err)
    if (fault?.kind !== 'unavailable') return false
    this.stats.lost++
    this.losses.lost(dbFaultReason(fault))
    return true
  }

  /** Write one record, retrying while the database is unavailable; false when it stayed unavailable. */
  private async record(row: TrafficRow): Promise<boolean> {
    const waits = this.options.recordRetryMs ?? [100, 400, 1_600]
    for (let attempt = 0; ; attempt++) {
      try {
        // A retry after a connection lost mid-insert may find the first attempt stored: ids are deterministic, so that
        // is a duplicate to skip.
        await this.options.db.insert(traffic).values(row).onConflictDoNothing({ target: traffic.id })
        this.losses.flush() // the database is back: report what was lost meanwhile
        return true
      } catch (err) {
        if (dbFault(err)?.kind !== 'unavailable') throw err
        const wait = waits[attempt]
        if (wait === undefined) {
          this.lost(err)
          return false
        }
        await sleep(wait)
      }
    }
  }

  /** Send one request through routing, the model, and the traffic log. */
  async sendOne(): Promise<void> {
    const { provider, resolver, scenario } = this.options
    const n = this.counter++
    const sent = Date.now()
    // The scenario's drift in effect now: which requests arrive (traffic mix) and how the model answers.
    const key = provider.liveKey(scenario.id, `live:${this.runId}:${n}`, sent)
    const { example, ref } = provider.caseFor(scenario.task.id, key, sent)
    const routingKey = `user-${Math.floor(unitHash('kaizen:users', this.runId, key) * (this.options.users ?? 2_000))}`
    let resolution
    try {
      resolution = await resolver.resolve(scenario.task.id, routingKey)
    } catch (err) {
      if (this.lost(err)) return
      throw err
    }
    const { version, arm, canaryId, weight } = resolution
    const started = Date.now()
    let output: string | null = null
    let error: string | null = null
    let usage = { inputTokens: 0, outputTokens: 0 }
    let latencyMs = 0
    let costUsd = 0
    try {
      if (this.failCanary && arm === 'canary')
        throw new Error('[simulation] injected fault: the canary arm fails every request')
      if (this.failVersionId === version.id)
        throw new Error(`[simulation] injected fault: version ${version.id} fails every request`)
      const content = contentOf(version)
      const result = await provider.complete({
        model: content.model,
        messages: renderMessages(content, example.input),
        params: content.params,
        simulation: ref,
      })
      output = result.text
      usage = result.usage
      latencyMs = result.latencyMs
      costUsd = result.costUsd ?? 0
    } catch (err) {
      error = isKaizenError(err) || err instanceof Error ? err.message : String(err)
      latencyMs = Date.now() - started
    }
    const recorded = await this.record({
      // Deterministic per task, run id and counter: a replayed simulation records the same ids,
      // and two tasks never share one.
      id: trafficIdOf(scenario.task.id, key),
      taskId: scenario.task.id,
      promptVersionId: version.id,
      routingKey,
      canaryId,
      arm,
      routingWeight: weight,
      input: example.input,
      output,
      reference: example.reference,
      simExampleKey: key,
      provider: provider.id,
      model: version.model,
      simulated: true,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      latencyMs,
      costUsd,
      error,
    })
    if (!recorded) return
    this.stats.sent++
    if (error) this.stats.errors++
    if (arm === 'canary') this.stats.canary++
    else if (arm === 'baseline') this.stats.baseline++
  }

  /** Send `count` requests as fast as the database takes them (bounded concurrency). */
  async burst(count: number, concurrency = 8): Promise<void> {
    let left = count
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (left-- > 0) await this.sendOne()
      }),
    )
  }

  /** Keep sending about `perSecond` requests per second until `stop()`. */
  start(
    perSecond: number,
    onError: (err: unknown) => void = (e) => console.error(`[traffic] ${describeError(e)}`),
  ): void {
    if (this.running) return
    this.running = true
    const tickMs = 100
    const perTick = Math.max(1, Math.round((perSecond * tickMs) / 1000))
    this.loop = (async () => {
      while (this.running) {
        const t0 = Date.now()
        await this.burst(perTick, 4).catch(onError)
        const wait = tickMs - (Date.now() - t0)
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      }
    })()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
    this.loop = null
    this.losses.flush()
  }
}
