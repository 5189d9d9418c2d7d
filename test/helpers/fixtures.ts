/**
 * Shared settings and prompt versions for integration tests.
 */
import type { CampaignConfigInput, CanaryConfig } from '../../core/config.js'
import type { PromptContent } from '../../core/prompt.js'
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
    analysis: { blockMs: 500, graceMs: 200, minCanarySamples: 40 },
  },
}

export const fastCanary = (overrides: Partial<CanaryConfig> = {}): Partial<CanaryConfig> => ({
  weight: 0.5,
  analysisIntervalSeconds: 1,
  approvalTimeoutSeconds: 3_600,
  onApprovalTimeout: 'hold',
  onConflict: 'supersede',
  analysis: { blockMs: 500, graceMs: 200, alphaQuality: 0.025, alphaError: 0.0125, alphaReady: 0.05, margin: 0.05, delta: 0.05, planningSd: 0.3, minCanarySamples: 40, maxCanarySamples: 2_000, hardFloorRun: 10 },
  ...overrides,
})

const clause = (s: Scenario, id: string) => s.clauses.find((c) => c.id === id)!.paraphrases[0]!

/** A clearly better prompt: the seed plus every cluster requirement. */
export function betterContent(s: Scenario): PromptContent {
  const reqs = [...new Set(s.clusters.flatMap((c) => c.requirements))]
  return { ...s.task.prompt, system: `${s.task.prompt.system} ${reqs.map((id) => clause(s, id)).join(' ')}` }
}

/** An injected regression: the seed plus an instruction to answer in prose (breaks the JSON decision). */
export function regressedContent(s: Scenario): PromptContent {
  return { ...s.task.prompt, system: `${s.task.prompt.system} ${clause(s, 'prose-answer')}` }
}

export async function version(db: Db, s: Scenario, content: PromptContent, tag: string): Promise<PromptVersionRow> {
  return createPromptVersion(db, { taskId: s.task.id, content, origin: 'human', operator: tag, createdBy: 'test' })
}
