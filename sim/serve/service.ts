/**
 * @module sim/serve/service
 * What `kaizen sim serve` does, apart from HTTP: the scenarios' worlds and example indexes, and one
 * method per endpoint. Every failure is a {@link WireError} (an OpenAI-style status and body).
 */
import { z } from 'zod'
import { approxTokens } from '../../core/prompt.js'
import { SimWorld } from '../world.js'
import { DriftClock, type DriftState } from '../drift.js'
import type { Scenario } from '../scenario.js'
import { ExampleIndex, MAX_INDEXED } from './examples.js'
import { labelLine, parseLabelBody } from './labels.js'
import { parseCaseBlock, parseJudgePrompt, judgeVerdict } from './judge.js'
import { checkTiers, modelIds, resolveModel } from './models.js'
import { grouping, parseProposerPrompt, pickWorld, rewrite } from './proposer.js'
import { answerTask, recognise, unknownInput } from './task.js'
import { simTaskFileYaml } from './task-file.js'
import {
  completionBody,
  messageBody,
  parseChatRequest,
  parseMessagesRequest,
  promptTextOf,
  SIM_FINGERPRINT,
  WireError,
  type ChatRequest,
} from './wire.js'

export interface SimServiceOptions {
  scenarios: readonly Scenario[]
  /** Probability that a judge verdict agrees with the world's truth (default 0.95). */
  judgeAgreement?: number
  /** Feedback fidelity of every world (default: each scenario's `feedback.fidelity`). */
  fidelity?: number
  /** Probability that the proposer makes a blind edit instead of following the feedback (default 0.1). */
  proposerHallucination?: number
  /** Examples indexed per scenario at start (default 2,000); more as `GET /sim/v1/examples` hands them out. */
  preload?: number
  /** Share of a tier's simulated latency waited before a task answer (default 0: answer at once). */
  latencyScale?: number
  /** When the simulation started (default: now): scheduled drifts (`after`) count from here. */
  startedAt?: number
}

export type Completion = ReturnType<typeof completionBody>

const ExamplesQuery = z.object({
  scenario: z.string().optional(),
  count: z.coerce.number().int().min(1).max(1_000).default(20),
  offset: z.coerce.number().int().min(0).max(MAX_INDEXED).default(0),
})

const unit = (name: string, v: number) => {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be from 0 to 1 (got ${v})`)
  return v
}

export class SimService {
  readonly scenarios: Scenario[]
  readonly judgeAgreement: number
  readonly latencyScale: number
  private readonly indexes = new Map<string, ExampleIndex>()
  private readonly hallucination: number | undefined
  /** The scenarios' drift (scheduled, or started with POST /sim/v1/drift/{id}): tiers answer as they do now. */
  readonly drift: DriftClock

  constructor(options: SimServiceOptions) {
    if (options.scenarios.length === 0) throw new RangeError('the simulation server needs at least one scenario')
    checkTiers(options.scenarios)
    this.scenarios = [...options.scenarios]
    this.judgeAgreement = unit('judgeAgreement', options.judgeAgreement ?? 0.95)
    this.latencyScale = Math.max(0, options.latencyScale ?? 0)
    this.hallucination = options.proposerHallucination
    const fidelity = options.fidelity === undefined ? {} : { fidelity: unit('fidelity', options.fidelity) }
    this.drift = new DriftClock(options.startedAt ?? Date.now(), fidelity)
    for (const s of this.scenarios)
      this.indexes.set(s.id, new ExampleIndex(new SimWorld(s, fidelity), options.preload ?? 2_000))
  }

  private indexesOf(scenarios: readonly Scenario[]): ExampleIndex[] {
    return scenarios.map((s) => this.indexes.get(s.id) as ExampleIndex)
  }

  /** `POST /v1/chat/completions`: the body, and the simulated latency to wait before sending it. */
  complete(body: unknown): { body: Completion; waitMs: number } {
    const request = parseChatRequest(body)
    const { text, usage, waitMs } = this.answer(request)
    return { body: completionBody(request.model, text, usage), waitMs }
  }

  /** `POST /v1/messages` (the Anthropic wire): the same answers, as a Messages response. */
  message(body: unknown): { body: ReturnType<typeof messageBody>; waitMs: number } {
    const request = parseMessagesRequest(body)
    const { text, usage, waitMs } = this.answer(request)
    return { body: messageBody(request.model, text, usage, request.tool), waitMs }
  }

  private answer(request: ChatRequest): {
    text: string
    usage: { inputTokens: number; outputTokens: number }
    waitMs: number
  } {
    const route = resolveModel(this.scenarios, request.model)
    const indexes = this.indexesOf(route.scenarios)
    if (route.kind === 'task') {
      const now = Date.now()
      const answer = answerTask(indexes, route.tier, request, (world) =>
        this.drift.worldWith(world, this.drift.modelDrifts(world.scenario, now)),
      )
      return { text: answer.text, usage: answer.usage, waitMs: answer.latencyMs * this.latencyScale }
    }
    const text = route.kind === 'judge' ? this.judge(indexes, request) : this.propose(indexes, request)
    const usage = { inputTokens: approxTokens(promptTextOf(request.messages)), outputTokens: approxTokens(text) }
    return { text, usage, waitMs: 0 }
  }

  private judge(indexes: readonly ExampleIndex[], request: ChatRequest): string {
    const prompt = parseJudgePrompt(request.messages)
    if (!prompt)
      throw new WireError(
        400,
        `${request.model} answers Kaizen's LLM-judge requests (graders/judge.ts): a user message with the rubric's ` +
          'levels and the case and answer fenced as <<<DATA:… blocks; this request has none',
        'not_a_judge_request',
        'messages',
      )
    const input = parseCaseBlock(prompt.input)
    const found =
      recognise(indexes, (i) => i.findByInput(input)) ?? recognise(indexes, (i) => i.findInText(prompt.input))
    if (!found) throw unknownInput(indexes, "The judge's case block")
    const verdict = judgeVerdict(found.index.world, found.example, prompt, this.judgeAgreement)
    return JSON.stringify({ reasoning: verdict.reasoning, level: verdict.level })
  }

  private propose(indexes: readonly ExampleIndex[], request: ChatRequest): string {
    const prompt = parseProposerPrompt(request.messages)
    if (!prompt)
      throw new WireError(
        400,
        `${request.model} answers Kaizen's LLM-proposer requests (proposers/llm.ts): "Current instructions:" or ` +
          '"Instructions:" with the instructions between <<< and >>>, or "Sentences:" with numbered sentences; ' +
          'this request has none of them',
        'not_a_proposer_request',
        'messages',
      )
    const world = pickWorld(
      indexes.map((i) => i.world),
      prompt,
    )
    if (prompt.kind === 'group') return JSON.stringify(grouping(world, prompt))
    const options = this.hallucination === undefined ? {} : { hallucination: this.hallucination }
    return JSON.stringify(rewrite(world, prompt, options))
  }

  /**
   * `POST /sim/v1/labels[?truth=resolution][&format=validity]`: exported records (JSONL) with the labels the
   * world's truth gives them, as JSONL; a record whose input the simulation did not generate is a 400.
   */
  labels(body: string, query: Record<string, string | undefined>): string {
    const names = { format: query.format || null, truth: query.truth || 'resolution' }
    const indexes = this.indexesOf(this.scenarios)
    return parseLabelBody(body)
      .map((line, i) => {
        const found = recognise(indexes, (index) => index.findByInput(line.input))
        if (!found) throw unknownInput(indexes, `Line ${i + 1}'s input`)
        return JSON.stringify(labelLine(found.index.world, found.example, line, names))
      })
      .join('\n')
      .concat('\n')
  }

  /** `GET /v1/models`. */
  models() {
    return {
      object: 'list' as const,
      data: modelIds(this.scenarios).map((id) => ({
        id,
        object: 'model' as const,
        created: 0,
        owned_by: SIM_FINGERPRINT,
      })),
    }
  }

  private scenario(id: string | undefined): ExampleIndex {
    const ids = this.scenarios.map((s) => s.id)
    if (id === undefined && ids.length === 1) return this.indexes.get(ids[0] as string) as ExampleIndex
    const index = id === undefined ? undefined : this.indexes.get(id)
    if (!index)
      throw new WireError(
        id === undefined ? 400 : 404,
        `${id === undefined ? 'name a scenario' : `unknown scenario "${id}"`}: ?scenario= one of ${ids.join(', ')}`,
        'unknown_scenario',
        'scenario',
      )
    return index
  }

  /** `GET /sim/v1/examples?scenario=&count=&offset=`: inputs to send, with the outcome to post as feedback. */
  examples(query: Record<string, string | undefined>) {
    const parsed = ExamplesQuery.safeParse(query)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new WireError(400, `?${issue?.path.join('.')}: ${issue?.message}`, 'invalid_query', String(issue?.path[0]))
    }
    const { scenario, count, offset } = parsed.data
    const index = this.scenario(scenario)
    const page = index.page(offset, count)
    return {
      scenario: index.world.scenario.id,
      simulated: true as const,
      offset,
      examples: page.map((e) => ({ key: e.key, input: e.input, reference: e.reference })),
      next: offset + page.length < MAX_INDEXED ? offset + page.length : null,
    }
  }

  /** `GET /sim/v1/drift?scenario=`: the scenario's drifts and when each started. */
  drifts(query: Record<string, string | undefined>): { scenario: string; drifts: DriftState[] } {
    const scenario = this.scenario(query.scenario).world.scenario
    return { scenario: scenario.id, drifts: this.drift.states(scenario) }
  }

  /**
   * `POST /sim/v1/drift/{id}?scenario=`: start a model drift now (a silent model update, slower
   * answers). A traffic-mix drift changes which requests Kaizen's own traffic simulator sends; over
   * the wire the application picks its inputs, so it is refused here.
   */
  startDrift(id: string, query: Record<string, string | undefined>): DriftState {
    const scenario = this.scenario(query.scenario).world.scenario
    const drift = scenario.drift.find((d) => d.id === id)
    if (!drift)
      throw new WireError(
        404,
        `scenario ${scenario.id} has no drift "${id}" ` +
          `(its drifts: ${scenario.drift.map((d) => d.id).join(', ') || 'none'})`,
        'unknown_drift',
        'id',
      )
    if (drift.kind === 'traffic-mix')
      throw new WireError(
        400,
        `drift "${id}" is a traffic-mix drift: over the wire your application chooses its inputs (draw them from ` +
          `GET /sim/v1/examples); only model drifts (model-update, latency) start here`,
        'traffic_mix_over_the_wire',
        'id',
      )
    return this.drift.start(scenario, id)
  }

  /** `GET /sim/v1/task-file?scenario=&model=`: a task file (YAML) for the scenario on this server. */
  taskFile(query: Record<string, string | undefined>): string {
    const index = this.scenario(query.scenario)
    try {
      return simTaskFileYaml(index.world.scenario, query.model)
    } catch (err) {
      throw new WireError(400, (err as Error).message, 'invalid_query', 'model')
    }
  }
}
