/**
 * Shared settings and prompt versions for integration tests.
 */
import { CanaryAnalysisSettings, type CampaignConfigInput, type CanaryConfig } from '../../core/config.js'
import { GraderSpec } from '../../core/grader-spec.js'
import type { MonitorConfigInput } from '../../core/monitor/config.js'
import { OpenAIProvider } from '../../providers/openai.js'
import { Prices } from '../../providers/prices.js'
import { startLlmServer, type LlmServer } from './llm-server.js'
import { renderMessages, type PromptContent } from '../../core/prompt.js'
import type { SimulationProvider } from '../../providers/simulation.js'
import type { Db } from '../../db/client.js'
import { createPromptVersion, type PromptVersionRow } from '../../db/queries/prompts.js'
import type { Scenario } from '../../sim/scenario.js'

/** A small, fast campaign with short canary timers. */
export const TEST_CAMPAIGN: CampaignConfigInput = {
  seed: 'kaizen-test',
  sample: { size: 220, windowHours: 24, minItems: 60 },
  search: { strategy: 'reflective', rounds: 5, proposalsPerRound: 4, minibatchSize: 4, rolloutBudget: 1_500 },
  canary: {
    weight: 0.5,
    analysisIntervalSeconds: 1,
    approvalTimeoutSeconds: 3_600,
    onApprovalTimeout: 'hold',
    onConflict: 'supersede',
    bake: { seconds: 0, holdbackWeight: 0.1 },
    analysis: { blockMs: 500, graceMs: 200, minCanarySamples: 40 },
  },
}

/** A one-step canary at 50 % with short timers and no bake window (tests opt in to ramps and bakes). */
export const fastCanary = (overrides: Partial<CanaryConfig> = {}): Partial<CanaryConfig> => ({
  weight: 0.5,
  analysisIntervalSeconds: 1,
  approvalTimeoutSeconds: 3_600,
  onApprovalTimeout: 'hold',
  onConflict: 'supersede',
  requireRejectComment: false,
  bake: { seconds: 0, holdbackWeight: 0.1 },
  analysis: CanaryAnalysisSettings.parse({ blockMs: 500, graceMs: 200, minCanarySamples: 40 }),
  ...overrides,
})

const clause = (s: Scenario, id: string) => s.clauses.find((c) => c.id === id)!.paraphrases[0]!

/** A clearly better prompt: the seed plus every cluster requirement. */
export function betterContent(s: Scenario): PromptContent {
  const reqs = [...new Set(s.clusters.flatMap((c) => c.requirements))]
  return { ...s.task.prompt, system: `${s.task.prompt.system} ${reqs.map((id) => clause(s, id)).join(' ')}` }
}

/** No change: the seed with one instruction reworded (same clauses, so the same success probabilities). */
export function rewordedContent(s: Scenario): PromptContent {
  const json = s.clauses.find((c) => c.id === 'json-only')!
  const [first, second] = json.paraphrases as [string, string]
  return { ...s.task.prompt, system: s.task.prompt.system.replace(first, second) }
}

/** An injected regression: the seed plus an instruction to answer in prose (breaks the JSON decision). */
export function regressedContent(s: Scenario): PromptContent {
  return { ...s.task.prompt, system: `${s.task.prompt.system} ${clause(s, 'prose-answer')}` }
}

export async function version(db: Db, s: Scenario, content: PromptContent, tag: string): Promise<PromptVersionRow> {
  return createPromptVersion(db, { taskId: s.task.id, content, origin: 'human', operator: tag, createdBy: 'test' })
}

/** Cost per request of `candidate` relative to `baseline` on the same simulated inputs (as a campaign measures it). */
export async function measuredCostRatio(
  provider: SimulationProvider,
  s: Scenario,
  candidate: PromptContent,
  baseline: PromptContent = s.task.prompt,
): Promise<number> {
  let a = 0
  let b = 0
  for (let i = 0; i < 40; i++) {
    const ex = provider.world(s.id).example(`cost-ratio:${i}`)
    const call = (c: PromptContent) =>
      provider.complete({
        model: c.model,
        messages: renderMessages(c, ex.input),
        params: c.params,
        simulation: { scenario: s.id, exampleKey: ex.key },
      })
    a += (await call(candidate)).costUsd
    b += (await call(baseline)).costUsd
  }
  return a / b
}

/** The grader spec plus an LLM-judge dimension on `judge-model` (`note` makes each spec a new version). */
export function judgeSpec(base: GraderSpec, note: string): GraderSpec {
  return GraderSpec.parse({
    ...base,
    dimensions: [
      ...base.dimensions,
      {
        name: 'clarity',
        weight: 0.2,
        check: {
          type: 'llm-judge',
          rubric: `Is the decision stated clearly enough to act on? (${note})`,
          levels: [
            { label: 'unclear', description: 'cannot tell what to do' },
            { label: 'clear', description: 'obvious what to do' },
          ],
        },
      },
    ],
    judge: { model: 'judge-model', timeoutMs: 5_000 },
  })
}

/**
 * A fast quality monitor whose DQ floor is above what the production prompt achieves: every check
 * breaches it (the monitor's tests and recorded history; drift in simulated traffic is not built yet).
 */
export const FLOOR_BREACH_MONITOR: MonitorConfigInput = {
  sampleRate: 1,
  checkEveryMs: 1_500,
  referenceMs: 60_000,
  floors: { dq: 0.999, p95LatencyMs: null, windowMs: 60_000, minObservations: 10 },
  alerts: { cooldownMs: 3_000 },
  action: { campaign: TEST_CAMPAIGN as Record<string, unknown> },
}

/**
 * A monitor that learns its reference from about 12 s of traffic and then only tests for change
 * (no floors): what genuine drift in the simulated world sets off.
 */
export const DRIFT_MONITOR: MonitorConfigInput = {
  sampleRate: 1,
  checkEveryMs: 1_500,
  referenceMs: 12_000,
  minReferenceObservations: 200,
  weeklyProfile: false,
  floors: { dq: null, p95LatencyMs: null, errorRate: null, windowMs: 60_000, minObservations: 10 },
  alerts: { cooldownMs: 3_000 },
  action: { campaign: TEST_CAMPAIGN as Record<string, unknown> },
}

/** A local LLM judge on `judge-model` over the OpenAI wire format that always answers "clear". */
export async function startClearJudge(prices: {
  inputPerMTok: number
  outputPerMTok: number
}): Promise<{ server: LlmServer; judge: OpenAIProvider }> {
  const server = await startLlmServer({
    responder: () => ({ kind: 'json', value: { reasoning: 'states actions', level: 'clear' } }),
  })
  const judge = new OpenAIProvider({
    apiKey: 'test',
    baseURL: server.openaiBaseUrl,
    prices: new Prices({ 'judge-model': prices }),
    serves: (m) => m === 'judge-model',
  })
  return { server, judge }
}
