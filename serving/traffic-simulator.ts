/**
 * @module serving/traffic-simulator
 * A stand-in for a production application, for the demo and the tests: it draws inputs from a
 * scenario, asks the resolver which prompt version to use (so a canary sees real arms), calls the
 * simulated model, and records each call as traffic, with the case's known outcome as reference.
 * Everything it records is marked simulated.
 */
import { randomUUID } from 'node:crypto'
import { isKaizenError } from '../core/errors.js'
import { renderMessages } from '../core/prompt.js'
import type { Db } from '../db/client.js'
import { contentOf } from '../db/queries/prompts.js'
import { trafficIdOf } from '../db/queries/traffic-ids.js'
import { traffic } from '../db/schema.js'
import { unitHash } from '../lib/hash.js'
import type { SimulationProvider } from '../providers/simulation.js'
import type { Scenario } from '../sim/scenario.js'
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
}

export interface TrafficStats {
  sent: number
  errors: number
  canary: number
  baseline: number
}

export class TrafficSimulator {
  private counter = 0
  private running = false
  private loop: Promise<void> | null = null
  readonly stats: TrafficStats = { sent: 0, errors: 0, canary: 0, baseline: 0 }
  private readonly runId: string
  failCanary: boolean
  failVersionId: string | null

  constructor(private readonly options: TrafficSimulatorOptions) {
    this.runId = options.runId ?? randomUUID()
    this.failCanary = options.failCanary ?? false
    this.failVersionId = options.failVersionId ?? null
  }

  /** Send one request through routing, the model, and the traffic log. */
  async sendOne(): Promise<void> {
    const { db, provider, resolver, scenario } = this.options
    const n = this.counter++
    const key = `live:${this.runId}:${n}`
    const example = provider.world(scenario.id).example(key)
    const routingKey = `user-${Math.floor(unitHash('kaizen:users', this.runId, key) * (this.options.users ?? 2_000))}`
    const { version, arm, canaryId, weight } = await resolver.resolve(scenario.task.id, routingKey)
    const started = Date.now()
    let output: string | null = null
    let error: string | null = null
    let usage = { inputTokens: 0, outputTokens: 0 }
    let latencyMs = 0
    let costUsd = 0
    try {
      if (this.failCanary && arm === 'canary') throw new Error('[simulation] injected fault: the canary arm fails every request')
      if (this.failVersionId === version.id) throw new Error(`[simulation] injected fault: version ${version.id} fails every request`)
      const content = contentOf(version)
      const result = await provider.complete({
        model: content.model,
        messages: renderMessages(content, example.input),
        params: content.params,
        simulation: { scenario: scenario.id, exampleKey: key },
      })
      output = result.text
      usage = result.usage
      latencyMs = result.latencyMs
      costUsd = result.costUsd ?? 0
    } catch (err) {
      error = isKaizenError(err) || err instanceof Error ? err.message : String(err)
      latencyMs = Date.now() - started
    }
    await db.insert(traffic).values({
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
  start(perSecond: number, onError: (err: unknown) => void = (e) => console.error(`[traffic] ${String(e)}`)): void {
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
  }
}
