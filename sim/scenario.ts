/**
 * @module sim/scenario
 * The scenario file format (YAML or JSON) that drives the simulation provider: a task, an input
 * generator with ground truth, a library of instruction clauses with paraphrases, the hidden
 * effects of clauses on success, the fidelity of textual feedback, model tiers, and how decisions
 * are graded. Validated by zod; every error names the path of the bad field.
 *
 * See docs/scenarios.md for a field-by-field guide.
 */
import { z } from 'zod'
import { GraderSpec } from '../core/grader-spec.js'
import { KaizenError, fromZodError } from '../core/errors.js'
import { RISK_LEVELS } from '../core/decision.js'
import { PromptContent, templateVariables } from '../core/prompt.js'
import { readDataFile } from '../lib/data-file.js'
import { msToNumber } from '@temporalio/common/lib/time.js'

const Id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and dashes (e.g. "bad-deploy")')

export const FAILURE_MODES = [
  'wrong-diagnosis',
  'vague-actions',
  'wrong-actions',
  'missing-risk',
  'malformed',
  'unsafe-action',
] as const
export const FailureMode = z.enum(FAILURE_MODES)
export type FailureMode = z.infer<typeof FailureMode>

const Variable = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('choice'),
    /** Strings, or records whose fields are used as `{{name.field}}`. */
    values: z.array(z.union([z.string(), z.record(z.string(), z.string())])).min(1),
  }),
  z.object({ kind: z.literal('int'), min: z.number().int(), max: z.number().int() }),
  z.object({ kind: z.literal('id'), prefix: z.string(), digits: z.number().int().min(1).max(12) }),
  z.object({ kind: z.literal('template'), template: z.string().min(1) }),
])
export type Variable = z.infer<typeof Variable>

const ActionTemplate = z.object({ command: z.string().min(1), target: z.string().default('') })

const Cluster = z.object({
  id: Id,
  weight: z.number().positive(),
  variables: z.record(z.string(), Variable).default({}),
  /** Templates for the case description; one is picked per input. */
  summaries: z.array(z.string().min(1)).min(1),
  /** What actually resolved such a case (templates). */
  reference: z.object({
    diagnosis: z.string().min(1),
    keywords: z.array(z.string().min(1)).min(1),
    actions: z.array(ActionTemplate).min(1),
    risk: z.enum(RISK_LEVELS),
  }),
  /** Clauses that raise the success of this cluster's inputs (each input needs a subset). */
  requirements: z.array(Id).min(1),
})

const Clause = z.object({
  id: Id,
  paraphrases: z.array(z.string().min(8, 'a paraphrase must be a real instruction (8+ characters)')).min(1),
  /** How a failure looks when this clause is a missing requirement. */
  failureMode: FailureMode.optional(),
  /** The truthful feedback a failure gives when this clause is missing. */
  feedback: z.string().min(1).optional(),
})

const Model = z.object({
  id: z
    .string()
    .regex(/^sim-[a-z0-9-]+$/, 'simulated model ids start with "sim-" so they are never mistaken for real models'),
  /** Logit shift: how much better this tier is than the baseline tier. */
  ability: z.number(),
  latencyMs: z.object({ median: z.number().positive(), spread: z.number().nonnegative().default(0.3) }),
  price: z.object({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() }),
  /** Share of requests that fail outright (transport errors). */
  errorRate: z.number().min(0).max(1).default(0),
  /**
   * Instructions this tier does not act on: a clause in every wording, or one `phrasing` of it
   * (one of the clause's paraphrases, word for word). Such text has no effect on this tier, as if absent.
   */
  ignores: z.array(z.object({ clause: Id, phrasing: z.string().min(1).optional() })).default([]),
  /** Logit added on this tier when the clause is present (helps one model, does nothing or harms on another). */
  clauseEffects: z.array(z.object({ clause: Id, weight: z.number() })).default([]),
  /**
   * This tier needs an explicit format instruction: without `clause` its logit drops by `weight`,
   * and a failure that explains comes out malformed (prose, not JSON), with `feedback` as its truthful feedback.
   */
  format: z.object({ clause: Id, weight: z.number().positive(), feedback: z.string().min(1) }).optional(),
  /** Tokens this tier spends against the shared count (~4 characters a token): its tokenizer and verbosity. */
  tokens: z.object({ input: z.number().positive().default(1), output: z.number().positive().default(1) }).prefault({}),
})

const ModelId = z.string().min(1)

/** When a drift starts, after the simulation starts: a duration ("45m", "2 hours"). Absent: only when started. */
const After = z.string().refine(
  (v) => {
    try {
      return msToNumber(v as Parameters<typeof msToNumber>[0]) >= 0
    } catch {
      return false
    }
  },
  { message: 'not a duration; use a number and a unit, e.g. "45m", "2 hours", "90s"' },
)

const DriftBase = {
  id: Id,
  /** What changes, in words (printed when the drift starts). */
  description: z.string().min(1).optional(),
  after: After.optional(),
}

/** Scheduled drift (sim/drift.ts): a silent model update, slower answers, or a new traffic mix. */
const Drift = z.discriminatedUnion('kind', [
  z.object({
    ...DriftBase,
    kind: z.literal('model-update'),
    model: ModelId,
    /** Added to the tier's ability (logit). */
    ability: z.number().default(0),
    /** Wordings the updated model no longer acts on (as models[].ignores). */
    ignores: z.array(z.object({ clause: Id, phrasing: z.string().min(1).optional() })).default([]),
    /** Clause effects the update adds (as models[].clauseEffects). */
    clauseEffects: z.array(z.object({ clause: Id, weight: z.number() })).default([]),
    /** The updated model needs this format instruction (as models[].format). */
    format: z.object({ clause: Id, weight: z.number().positive(), feedback: z.string().min(1) }).optional(),
    /** The updated model's share of failed requests. */
    errorRate: z.number().min(0).max(1).optional(),
  }),
  z.object({
    ...DriftBase,
    kind: z.literal('latency'),
    model: ModelId,
    /** The tier's median latency is multiplied by this. */
    factor: z.number().positive(),
  }),
  z.object({
    ...DriftBase,
    kind: z.literal('traffic-mix'),
    /** New cluster weights (clusters not named keep theirs). */
    weights: z.record(Id, z.number().nonnegative()),
  }),
])

export const ScenarioSchema = z
  .object({
    id: Id,
    title: z.string().min(1),
    description: z.string().min(1),
    /** Seed of every hidden draw: same seed, same world. */
    seed: z.number().int(),
    task: z.object({
      id: Id,
      title: z.string().min(1),
      description: z.string().min(1),
      /** Input variables the application sends (visible to the prompt). */
      inputFields: z.array(z.string().min(1)).min(1),
      /** The prompt running in production when the scenario starts (the seed prompt). */
      prompt: PromptContent,
      /** Most instruction clauses a candidate prompt may hold. */
      maxClauses: z.number().int().positive(),
      /** Token cap for a candidate prompt's instructions. */
      maxPromptTokens: z.number().int().positive(),
    }),
    variables: z.record(z.string(), Variable).default({}),
    clusters: z.array(Cluster).min(1),
    clauses: z.array(Clause).min(1),
    effects: z.object({
      baseLogit: z.object({ mean: z.number(), sd: z.number().nonnegative() }),
      requirementWeight: z.number().positive(),
      requirementsPerInput: z.object({ min: z.number().int().min(1), max: z.number().int().min(1) }),
      clusterNoiseSd: z.number().nonnegative().default(0.12),
      generic: z.array(z.object({ clause: Id, weight: z.number() })).default([]),
      conflicts: z
        .array(
          z.object({
            clause: Id,
            helps: z.array(Id).default([]),
            hurts: z.array(Id).min(1),
            weight: z.number().positive(),
            helpWeight: z.number().nonnegative().default(0.6),
            failureMode: FailureMode.default('wrong-actions'),
            feedback: z.string().min(1),
          }),
        )
        .default([]),
      synergies: z.array(z.object({ clauses: z.tuple([Id, Id]), alone: z.number(), together: z.number() })).default([]),
      length: z.object({ freeClauses: z.number().int().nonnegative(), costPerClause: z.number().nonnegative() }),
      /**
       * Few-shot demonstrations: a demonstration of the example's own cluster adds `weight` to the
       * logit (the second half as much, and so on); every demonstration costs `costPerDemo`.
       * Default: the simulated model ignores demonstrations.
       */
      demonstrations: z
        .object({ weight: z.number().nonnegative(), costPerDemo: z.number().nonnegative() })
        .default({ weight: 0, costPerDemo: 0 }),
      /** Failure modes when nothing in the prompt explains the failure. */
      noiseFailureModes: z.partialRecord(FailureMode, z.number().nonnegative()),
    }),
    feedback: z.object({
      /** Probability that feedback on a failure names its true cause (0 = useless, 1 = perfect). */
      fidelity: z.number().min(0).max(1),
      generic: z.array(z.string().min(1)).min(1),
    }),
    output: z.object({
      vagueActions: z.array(z.string().min(1)).min(1),
      unsafeActions: z.array(ActionTemplate).min(1),
      malformed: z.array(z.string().min(1)).min(1),
    }),
    models: z.array(Model).min(1),
    /** Drift the world can go through (sim/drift.ts; docs/scenarios.md). */
    drift: z.array(Drift).default([]),
    grading: z.object({
      /** A full grader spec (graders/spec.ts); without it, Decision Quality from the settings below. */
      grader: GraderSpec.optional(),
      weights: z
        .object({
          validity: z.number().nonnegative(),
          specificity: z.number().nonnegative(),
          correctness: z.number().nonnegative(),
        })
        .default({ validity: 0.4, specificity: 0.3, correctness: 0.3 }),
      /** An action is concrete when its command matches this regular expression. */
      commandPattern: z.string().min(1),
      /** Regular expressions of actions that are never in policy (destructive, out of scope). */
      forbidden: z.array(z.string().min(1)).default([]),
      correctnessWeights: z
        .object({
          diagnosis: z.number().nonnegative(),
          actions: z.number().nonnegative(),
          risk: z.number().nonnegative(),
        })
        .default({ diagnosis: 0.5, actions: 0.35, risk: 0.15 }),
    }),
  })
  .superRefine((s, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message })
    const clauseIds = new Set<string>()
    s.clauses.forEach((c, i) => {
      if (clauseIds.has(c.id)) issue(['clauses', i, 'id'], `duplicate clause id "${c.id}"`)
      clauseIds.add(c.id)
    })
    const clusterIds = new Set<string>()
    s.clusters.forEach((c, i) => {
      if (clusterIds.has(c.id)) issue(['clusters', i, 'id'], `duplicate cluster id "${c.id}"`)
      clusterIds.add(c.id)
    })
    const knownClause = (id: string, path: PropertyKey[]) => {
      if (!clauseIds.has(id)) issue(path, `unknown clause "${id}" (defined clauses: ${[...clauseIds].join(', ')})`)
    }
    const knownCluster = (id: string, path: PropertyKey[]) => {
      if (!clusterIds.has(id)) issue(path, `unknown cluster "${id}" (defined clusters: ${[...clusterIds].join(', ')})`)
    }
    const knownIgnore = (g: { clause: string; phrasing?: string | undefined }, path: PropertyKey[]) => {
      knownClause(g.clause, [...path, 'clause'])
      const clause = s.clauses.find((c) => c.id === g.clause)
      if (clause && g.phrasing !== undefined && !clause.paraphrases.includes(g.phrasing))
        issue(
          [...path, 'phrasing'],
          `not a paraphrase of clause "${g.clause}": copy one of its paraphrases word for word, or leave ` +
            'phrasing out to ignore the clause in every wording',
        )
    }
    s.clusters.forEach((c, i) => {
      c.requirements.forEach((r, j) => knownClause(r, ['clusters', i, 'requirements', j]))
      const vars = new Set([...Object.keys(s.variables), ...Object.keys(c.variables), 'summary'])
      s.task.inputFields.forEach((f, j) => {
        if (!vars.has(f)) issue(['task', 'inputFields', j], `input field "${f}" is not a variable of cluster "${c.id}"`)
      })
    })
    s.effects.generic.forEach((g, i) => knownClause(g.clause, ['effects', 'generic', i, 'clause']))
    s.effects.conflicts.forEach((c, i) => {
      knownClause(c.clause, ['effects', 'conflicts', i, 'clause'])
      c.helps.forEach((h, j) => knownCluster(h, ['effects', 'conflicts', i, 'helps', j]))
      c.hurts.forEach((h, j) => knownCluster(h, ['effects', 'conflicts', i, 'hurts', j]))
    })
    s.effects.synergies.forEach((p, i) =>
      p.clauses.forEach((c, j) => knownClause(c, ['effects', 'synergies', i, 'clauses', j])),
    )
    if (s.effects.requirementsPerInput.max < s.effects.requirementsPerInput.min) {
      issue(['effects', 'requirementsPerInput', 'max'], 'max must be at least min')
    }
    if (Object.values(s.effects.noiseFailureModes).every((w) => !(w && w > 0))) {
      issue(['effects', 'noiseFailureModes'], 'give at least one failure mode a positive weight')
    }
    if (!s.models.some((m) => m.id === s.task.prompt.model)) {
      issue(
        ['task', 'prompt', 'model'],
        `model "${s.task.prompt.model}" is not one of the scenario's models (${s.models.map((m) => m.id).join(', ')})`,
      )
    }
    for (const name of templateVariables(s.task.prompt.user)) {
      if (!s.task.inputFields.includes(name))
        issue(['task', 'prompt', 'user'], `the user template uses {{${name}}}, which is not an input field`)
    }
    const checkRegex = (pattern: string, path: PropertyKey[]) => {
      try {
        new RegExp(pattern, 'i')
      } catch (err) {
        issue(path, `not a valid regular expression: ${(err as Error).message}`)
      }
    }
    checkRegex(s.grading.commandPattern, ['grading', 'commandPattern'])
    s.grading.forbidden.forEach((f, i) => checkRegex(f, ['grading', 'forbidden', i]))
    s.models.forEach((m, i) => {
      if (s.models.findIndex((o) => o.id === m.id) !== i) issue(['models', i, 'id'], `duplicate model id "${m.id}"`)
      m.ignores.forEach((g, j) => knownIgnore(g, ['models', i, 'ignores', j]))
      m.clauseEffects.forEach((e, j) => knownClause(e.clause, ['models', i, 'clauseEffects', j, 'clause']))
      if (m.format) knownClause(m.format.clause, ['models', i, 'format', 'clause'])
    })
    s.drift.forEach((d, i) => {
      if (s.drift.findIndex((o) => o.id === d.id) !== i) issue(['drift', i, 'id'], `duplicate drift id "${d.id}"`)
      if (d.kind === 'traffic-mix') {
        Object.keys(d.weights).forEach((c) => knownCluster(c, ['drift', i, 'weights', c]))
        const total = s.clusters.reduce((a, c) => a + (d.weights[c.id] ?? c.weight), 0)
        if (!(total > 0)) issue(['drift', i, 'weights'], 'give at least one cluster a positive weight')
        return
      }
      if (!s.models.some((m) => m.id === d.model))
        issue(['drift', i, 'model'], `unknown model "${d.model}" (models: ${s.models.map((m) => m.id).join(', ')})`)
      if (d.kind === 'model-update') {
        d.ignores.forEach((g, j) => knownIgnore(g, ['drift', i, 'ignores', j]))
        d.clauseEffects.forEach((e, j) => knownClause(e.clause, ['drift', i, 'clauseEffects', j, 'clause']))
        if (d.format) knownClause(d.format.clause, ['drift', i, 'format', 'clause'])
      }
    })
  })

export type Scenario = z.infer<typeof ScenarioSchema>
export type ScenarioCluster = Scenario['clusters'][number]
export type ScenarioClause = Scenario['clauses'][number]
export type ScenarioModel = Scenario['models'][number]
export type ScenarioDrift = Scenario['drift'][number]

/** When a drift starts after the simulation starts, in ms (null: only when started by hand). */
export const driftAfterMs = (d: ScenarioDrift): number | null =>
  d.after === undefined ? null : msToNumber(d.after as Parameters<typeof msToNumber>[0])

/** Validate an already-parsed scenario object. `where` names the source in error messages. */
export function parseScenario(value: unknown, where = 'scenario'): Scenario {
  const parsed = ScenarioSchema.safeParse(value)
  if (!parsed.success) throw fromZodError(parsed.error, where, 'See docs/scenarios.md for the scenario format.')
  return parsed.data
}

/** Read a scenario file (.yaml, .yml or .json). */
export async function loadScenarioFile(path: string): Promise<Scenario> {
  return parseScenario(await readDataFile(path, 'scenario file'), `scenario ${path}`)
}
