/**
 * @module core/config
 * Campaign and canary settings, validated by zod at every boundary (CLI flags, API bodies,
 * schedule arguments, workflow inputs). Defaults are what a production run should use; the demo
 * and the tests shorten the time-based ones.
 *
 * Settings from people (`parseCampaignConfig`: config files, flags, API bodies) are parsed strictly
 * — a mapping, no unknown key at any level — by a variant derived from the same schema
 * (core/strict.ts). Workflows re-parse their input leniently (`CampaignConfig.safeParse`): running
 * executions and recorded histories carry configs written by older builds.
 *
 * Pure module: safe to import from workflow code.
 */
import { z } from 'zod'
import { AgilityObjective } from './agility.js'
import { DEFAULT_STRATEGY_SETTINGS, STRATEGY_NAMES, StrategySettings } from './search/types.js'
import { KaizenError, fromZodError } from './errors.js'
import { explainUnknownKeys, strictDeep } from './strict.js'

export const CanaryAnalysisSettings = z.object({
  /** Width of a pairing block in ms. */
  blockMs: z.number().int().positive().default(2_000),
  /** A block is used once it ended at least this long before now. */
  graceMs: z.number().int().nonnegative().default(500),
  alphaQuality: z.number().gt(0).lt(1).default(0.025),
  alphaError: z.number().gt(0).lt(1).default(0.0125),
  alphaLatency: z.number().gt(0).lt(1).default(0.00625),
  alphaCost: z.number().gt(0).lt(1).default(0.00625),
  alphaReady: z.number().gt(0).lt(1).default(0.05),
  /** Non-inferiority margin for readiness. */
  margin: z.number().gt(0).lt(1).default(0.05),
  /** Quality regression the harm bets are tuned for. */
  delta: z.number().gt(0).lt(1).default(0.05),
  /** Error-rate increase the error test's bets are tuned for. */
  errorDelta: z.number().gt(0).lt(1).default(0.02),
  /** Prior standard deviation of a paired quality difference (the bets then adapt to the data). */
  planningSd: z.number().gt(0).max(1).default(0.3),
  /** Latency harm: the treatment is slower than its reference in more than this share of pairs. */
  latencyThreshold: z.number().gt(0.5).lt(1).default(0.55),
  /**
   * Cost harm: the treatment costs more than (1 + costTolerance) × expectedCostRatio × its
   * reference more often than not.
   */
  costTolerance: z.number().min(0).default(0.1),
  /**
   * Cost per request of the candidate relative to the baseline, as measured offline (the campaign
   * sets it); 1 = parity.
   */
  expectedCostRatio: z.number().positive().default(1),
  /** Sample-ratio check: significance of the (hold-only) test on routing units. */
  alphaSrm: z.number().gt(0).lt(1).default(0.001),
  /** No treatment traffic for this long → hold and alert. */
  noDataMs: z.number().int().positive().default(600_000),
  /** Level of the always-valid interval reported for the quality effect. */
  alphaInterval: z.number().gt(0).lt(1).default(0.05),
  minCanarySamples: z.number().int().positive().default(60),
  maxCanarySamples: z.number().int().positive().default(2_000),
  hardFloorRun: z.number().int().min(3).default(10),
})
export type CanaryAnalysisSettings = z.infer<typeof CanaryAnalysisSettings>

const Share = z
  .number()
  .gt(0)
  .max(0.5, 'at most 0.5: the canary is compared with the concurrent baseline, which needs the rest of the traffic')

export const DEFAULT_STEPS = [0.01, 0.05, 0.1, 0.25, 0.5]

export const CanaryConfig = z
  .object({
    /** Ramp: shares of live traffic routed to the candidate, step by step, each in (0, 0.5]. */
    steps: z.array(Share).min(1).optional(),
    /** A single share instead of a ramp (same as `steps: [weight]`). */
    weight: Share.optional(),
    /** Canary requests (paired with the baseline) a step needs before the next one. */
    minSamplesPerStep: z.number().int().positive().default(30),
    /** Seconds a step lasts at least. */
    minStepSeconds: z.number().nonnegative().default(0),
    /** Seconds between analyses. */
    analysisIntervalSeconds: z.number().positive().default(30),
    /** How long to wait for a human once the canary is ready. */
    approvalTimeoutSeconds: z
      .number()
      .positive()
      .default(24 * 3600),
    /** What to do when nobody approves in time. */
    onApprovalTimeout: z.enum(['rollback', 'hold']).default('hold'),
    /** Another canary is already running for the task: leave it (skip) or replace it (supersede). */
    onConflict: z.enum(['skip', 'supersede']).default('skip'),
    /** Roles allowed to approve; empty means any identified person. */
    approverRoles: z.array(z.string().min(1)).default([]),
    /**
     * Distinct people who must approve before promotion (2: four-eyes). Enforced by the workflow's
     * Update validator, so the console, the CLI and the API obey it alike. A task's value is a floor.
     */
    approvals: z.number().int().min(1).max(5).default(1),
    /** A rejection must say why. */
    requireRejectComment: z.boolean().default(true),
    /** After promotion, keep comparing with the previous production version on a holdback slice. */
    bake: z
      .object({
        seconds: z.number().nonnegative().default(3_600),
        holdbackWeight: Share.default(0.1),
      })
      .prefault({}),
    analysis: CanaryAnalysisSettings.prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.steps && c.weight !== undefined)
      ctx.addIssue({ code: 'custom', path: ['weight'], message: 'give either steps or weight, not both' })
    c.steps?.forEach((s, i) => {
      if (i > 0 && s <= (c.steps?.[i - 1] as number))
        ctx.addIssue({ code: 'custom', path: ['steps', i], message: 'ramp steps must increase' })
    })
  })
export type CanaryConfig = z.infer<typeof CanaryConfig>

/** The ramp a canary follows: its steps, or its single weight, or the default ramp. */
export function rampSteps(config: Pick<CanaryConfig, 'steps' | 'weight'>): number[] {
  return config.steps ?? (config.weight !== undefined ? [config.weight] : DEFAULT_STEPS)
}

export const CampaignConfig = z
  .object({
    /** Seed of every random choice in the campaign (defaults to the campaign id). */
    seed: z.string().min(1).optional(),
    sample: z
      .object({
        /** Traffic records to snapshot. */
        size: z.number().int().min(10).max(100_000).default(300),
        /** Only traffic from the last N hours. */
        windowHours: z
          .number()
          .positive()
          .default(24 * 7),
        /** Refuse to run on fewer usable records than this. */
        minItems: z.number().int().min(10).default(60),
        /** Stratify by this input variable: each of its values gets its share of the sample. */
        stratifyBy: z.string().min(1).optional(),
        /** Recency weighting: a record this many hours old counts half as much (unset: uniform). */
        halfLifeHours: z.number().positive().optional(),
        /** Drop near-duplicate inputs (same up to case, digits and spacing). */
        dedupe: z.boolean().default(true),
      })
      .prefault({}),
    splits: z
      .object({ train: z.number().gt(0).lt(1), validation: z.number().gt(0).lt(1), holdout: z.number().gt(0).lt(1) })
      .default({ train: 0.4, validation: 0.3, holdout: 0.3 }),
    search: z
      .object({
        /**
         * reflective: GEPA-style select-best (the first build's search); gepa: with Pareto parent
         * selection; pooled-local (every proposal kept, ranked by the pooled model), beam, evolution,
         * random, hill-climb: see docs/search.md.
         */
        strategy: z.enum(['reflective', ...STRATEGY_NAMES]).default('reflective'),
        /**
         * How candidates are ranked (which to expand, which is the finalist): pooled estimates that
         * share evidence between candidates with common sentences (docs/search.md), or each
         * candidate's own validation mean.
         */
        selection: z.enum(['pooled', 'own']).default('pooled'),
        /** Beam search: prompts kept per round. */
        beamWidth: z.number().int().min(1).max(16).optional(),
        /**
         * Designed search (`strategy: designed`, docs/search.md): `harvest` (blind edits per model,
         * proposer calls), `designItems`, `designRollouts` (before the first fit), `designBatch`,
         * `designRidge`; each unset one keeps its default.
         */
        design: StrategySettings.pick({
          harvest: true,
          designItems: true,
          designRollouts: true,
          designBatch: true,
          designRidge: true,
        })
          .partial()
          .optional(),
        /** Evolution: population kept. */
        population: z.number().int().min(2).max(64).optional(),
        /** GEPA: try a merge of two lineages every this many proposals (0: never). */
        mergeEvery: z.number().int().min(0).max(100).optional(),
        /** The LLM proposer's model (e.g. gpt-4.1, claude-sonnet-4); required for real tasks. */
        proposerModel: z.string().min(1).optional(),
        /** Most sentences a candidate's instructions may hold (simulated tasks: the scenario's clause limit). */
        maxSentences: z.number().int().min(1).max(200).optional(),
        /** Token cap on a candidate's instructions (simulated tasks: the scenario's cap). */
        maxPromptTokens: z.number().int().min(10).max(100_000).optional(),
        rounds: z.number().int().min(1).max(1_000).default(6),
        proposalsPerRound: z.number().int().min(1).max(64).default(DEFAULT_STRATEGY_SETTINGS.proposals),
        minibatchSize: z.number().int().min(1).max(64).default(DEFAULT_STRATEGY_SETTINGS.minibatchSize),
        /**
         * Task rollouts (model calls that miss the cache) before the holdout gate: scoring the
         * baseline (train and validation) comes out of it first, the search spends the rest.
         */
        rolloutBudget: z.number().int().min(10).default(2_000),
        /**
         * Hard spend limit of the whole campaign in USD (task and judge calls; cache hits are free).
         * The search stops with its best so far when the next call could pass it, keeping enough
         * for the holdout gate.
         */
        budgetUsd: z.number().positive().optional(),
        /**
         * Model agility (docs/model-agility.md): the models the search may move the prompt to, as
         * prompt versions name them (e.g. `openai:gpt-4.1-mini`). Candidates are then (model, prompt) pairs.
         */
        models: z.array(z.string().min(1)).min(1).max(8).optional(),
        /** What a search over models optimises (best-quality, cheapest, migrate); required with `models`. */
        objective: AgilityObjective.optional(),
        /**
         * A search over models: how many of each model's best-ranked candidates go to the holdout
         * (1–5). Candidates a few hundredths apart are ranked on the validation split's evidence,
         * and the one ranked first is often only the luckiest; with more than one, the holdout's
         * larger sample chooses among them (α divided among them all). Pays when the holdout has
         * hundreds of items; each extra finalist costs a holdout pass (docs/model-agility.md).
         */
        finalistsPerModel: z.number().int().min(1).max(5).default(1),
      })
      .prefault({}),
    gate: z
      .object({
        /** One-sided significance level of the paired holdout test. */
        alpha: z.number().gt(0).lt(0.5).default(0.05),
        /** The winner must beat the baseline's holdout DQ by at least this much. */
        minEffect: z.number().min(0).max(1).default(0),
        /**
         * Share of the task's golden set the winner may pass fewer cases of than the baseline
         * (0: not one fewer). Safety checks allow no regression at all.
         */
        goldenTolerance: z.number().min(0).max(1).default(0),
      })
      .prefault({}),
    canary: CanaryConfig.default(CanaryConfig.parse({})),
  })
  .superRefine((c, ctx) => {
    const { models, objective } = c.search
    if (models && !objective)
      ctx.addIssue({
        code: 'custom',
        path: ['search', 'objective'],
        message: 'a search over models needs an objective: { kind: best-quality | cheapest | migrate, … }',
      })
    if (objective && objective.kind !== 'migrate' && !models)
      ctx.addIssue({
        code: 'custom',
        path: ['search', 'models'],
        message: `the ${objective.kind} objective compares models: list them in search.models`,
      })
    if (!objective && c.search.finalistsPerModel > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['search', 'finalistsPerModel'],
        message:
          'several finalists per model apply to a search over models: set search.objective ' +
          '(e.g. { kind: migrate, toModel: … }) or leave finalistsPerModel at 1',
      })
    if (objective?.kind === 'migrate' && models && !models.includes(objective.toModel))
      ctx.addIssue({
        code: 'custom',
        path: ['search', 'objective', 'toModel'],
        message: `the migration's target model "${objective.toModel}" is not in search.models (${models.join(', ')})`,
      })
    const sum = c.splits.train + c.splits.validation + c.splits.holdout
    if (Math.abs(sum - 1) > 1e-6) {
      ctx.addIssue({
        code: 'custom',
        path: ['splits'],
        message: `train + validation + holdout must be 1 (got ${sum.toFixed(3)})`,
      })
    }
  })
export type CampaignConfig = z.infer<typeof CampaignConfig>
export type CampaignConfigInput = z.input<typeof CampaignConfig>

/**
 * The models a search over models works on: `search.models`, or a migration's target alone; none
 * without an objective (a search on the production prompt's own model).
 */
export function searchModels(search: Pick<CampaignConfig['search'], 'models' | 'objective'>): string[] {
  const { objective } = search
  if (!objective) return []
  return search.models ?? (objective.kind === 'migrate' ? [objective.toModel] : [])
}

/**
 * The campaign config schema for user input (config files, flags, API bodies): the same schema
 * with unknown keys refused at every level. Workflows parse their input with the lenient
 * `CampaignConfig` instead: executions started by older builds carry configs written then.
 */
export const StrictCampaignConfig = strictDeep(CampaignConfig)

/** What a value is, in words, for "must be a mapping" messages. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  if (typeof value === 'string') return `the text "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
  return `a ${typeof value}`
}

export const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Parse campaign settings given by a person (file, flags, API body): they must be a mapping, and
 * an unknown key is refused with its full path and the key probably meant. `undefined` or `null`
 * (an empty file) means every default.
 */
export function parseCampaignConfig(
  value: unknown,
  where = 'campaign config',
  pathPrefix: ReadonlyArray<string> = [],
): CampaignConfig {
  if (value !== undefined && value !== null && !isMapping(value)) {
    const at = pathPrefix.length > 0 ? ` at ${pathPrefix.join('.')}` : ''
    throw new KaizenError(
      'INVALID_INPUT',
      `${where} must be a mapping of settings${at} (key: value, e.g. \`search: { rounds: 3 }\`; ` +
        `see docs/configuration.md), not ${kindOf(value)}`,
      {
        details: { fields: [pathPrefix.join('.') || '(root)'] },
      },
    )
  }
  const parsed = StrictCampaignConfig.safeParse(value ?? {})
  if (!parsed.success) {
    const issues = explainUnknownKeys(CampaignConfig, parsed.error.issues).map((i) => ({
      ...i,
      path: [...pathPrefix, ...i.path],
    }))
    throw fromZodError(new z.ZodError(issues), where)
  }
  return parsed.data
}

/** Parse a canary config stored by Kaizen itself (lenient: rows written by older builds). */
export function parseCanaryConfig(value: unknown, where = 'canary config'): CanaryConfig {
  const parsed = CanaryConfig.safeParse(value ?? {})
  if (!parsed.success) throw fromZodError(parsed.error, where)
  return parsed.data
}

/** Campaign settings a task's campaigns start from (its task file's `search` and `canary` blocks). */
export interface TaskCampaignDefaults {
  search?: Record<string, unknown>
  canary?: Record<string, unknown>
}

/**
 * A person's campaign settings on top of the task's defaults: each key of `search` and `canary`
 * they set wins, the others come from the task (a nested setting such as `canary.analysis` is
 * replaced whole). A value that is not a mapping is left as it is, to be refused by name.
 */
export function withTaskDefaults(value: unknown, defaults: TaskCampaignDefaults | null): unknown {
  if (!defaults || (value !== undefined && value !== null && !isMapping(value))) return value
  const out: Record<string, unknown> = { ...(value ?? {}) }
  for (const section of ['search', 'canary'] as const) {
    const base = defaults[section]
    const own = out[section]
    if (!base) continue
    if (own === undefined || own === null) out[section] = { ...base }
    else if (isMapping(own)) out[section] = { ...base, ...own }
  }
  // The task's number of approvers is a policy: a campaign may ask for more, never for fewer.
  const floor = defaults.canary?.['approvals']
  const canary = out['canary']
  if (typeof floor === 'number' && isMapping(canary) && typeof canary['approvals'] === 'number')
    canary['approvals'] = Math.max(floor, canary['approvals'])
  return out
}
