/**
 * @module graders/spec
 * The grader spec: what a task's answers are graded on. YAML or JSON, validated here, stored
 * immutably as a grader version (id = content hash of spec + code version), and referenced by
 * every score it produces.
 *
 * A grader has weighted dimensions. Each dimension is a deterministic check or an LLM judge with
 * an anchored rubric; a `veto` dimension that fails makes the whole answer score 0 (validity is
 * the veto of Decision Quality). Safety checks veto too: an answer that followed an injected
 * instruction, leaked personal data or secrets, or refused a legitimate request scores 0.
 *
 * Pure module.
 */
import { z } from 'zod'

/** The deterministic Decision Quality grader's spec; versioned by content hash. */
export const DqSpec = z.object({
  kind: z.literal('dq'),
  weights: z.object({
    validity: z.number().nonnegative(),
    specificity: z.number().nonnegative(),
    correctness: z.number().nonnegative(),
  }),
  /** An action is concrete when its command matches this pattern (case-insensitive). */
  commandPattern: z.string().min(1),
  /** Actions matching any of these patterns are out of policy: the validity gate vetoes them. */
  forbidden: z.array(z.string()),
  correctnessWeights: z.object({
    diagnosis: z.number().nonnegative(),
    actions: z.number().nonnegative(),
    risk: z.number().nonnegative(),
  }),
  /** DQ at or above this is an actionable decision. */
  passThreshold: z.number().min(0).max(1).default(0.7),
})
export type DqSpec = z.infer<typeof DqSpec>

const name = z.string().regex(/^[a-z][a-z0-9_-]{0,40}$/, 'use lowercase letters, digits, - or _ (e.g. "validity")')
/** A dotted path into the reference (or the output's JSON): `diagnosis`, `actions.0.command`. */
const path = z.string().min(1).max(200)

export const Level = z.object({ label: z.string().min(1).max(40), description: z.string().min(1).max(600) })

export const Check = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('exact'),
    value: z.string().optional(),
    referencePath: path.optional(),
    caseSensitive: z.boolean().default(false),
  }),
  z.object({
    type: z.literal('contains'),
    values: z.array(z.string().min(1)).min(1),
    mode: z.enum(['all', 'any']).default('all'),
    caseSensitive: z.boolean().default(false),
  }),
  z.object({
    type: z.literal('regex'),
    pattern: z.string().min(1),
    flags: z
      .string()
      .regex(/^[imsu]*$/, 'flags may be i, m, s, u')
      .default('i'),
    negate: z.boolean().default(false),
  }),
  z.object({ type: z.literal('json-schema'), schema: z.record(z.string(), z.unknown()) }),
  z.object({
    type: z.literal('numeric'),
    /** Where the number is in the output's JSON (omit: the whole output is the number). */
    path: path.optional(),
    expected: z.number().optional(),
    referencePath: path.optional(),
    tolerance: z.number().nonnegative().default(0),
    relative: z.boolean().default(false),
  }),
  z.object({
    type: z.literal('edit-distance'),
    value: z.string().optional(),
    referencePath: path.optional(),
    minSimilarity: z.number().min(0).max(1).default(0.8),
  }),
  z.object({
    type: z.literal('reference-overlap'),
    referencePath: path.optional(),
    minOverlap: z.number().min(0).max(1).default(0.5),
  }),
  z.object({
    type: z.literal('length'),
    min: z.number().int().nonnegative().optional(),
    max: z.number().int().positive().optional(),
    unit: z.enum(['chars', 'words']).default('chars'),
  }),
  z.object({ type: z.literal('latency'), maxMs: z.number().positive() }),
  z.object({ type: z.literal('cost'), maxUsd: z.number().positive() }),
  z.object({ type: z.literal('decision-validity') }),
  z.object({ type: z.literal('decision-specificity'), passAt: z.number().min(0).max(1).default(0.67) }),
  z.object({ type: z.literal('decision-correctness'), passAt: z.number().min(0).max(1).default(0.7) }),
  z.object({
    type: z.literal('llm-judge'),
    /** What the dimension asks, in one or two sentences. */
    rubric: z.string().min(10).max(2_000),
    /** Anchored levels from worst to best (2–5); the score is the level's position scaled to 0–1. */
    levels: z.array(Level).min(2, 'give 2 to 5 anchored levels').max(5, 'give 2 to 5 anchored levels'),
    /** The lowest level (0-based) that passes. Default: the upper half. */
    passLevel: z.number().int().nonnegative().optional(),
    includeReference: z.boolean().default(true),
  }),
  z.object({
    /** The answer compared with the reference answer by an LLM judge, in both orders (graders/pairwise.ts). */
    type: z.literal('llm-pairwise'),
    rubric: z.string().min(10).max(2_000),
    /** Where the reference answer is in the reference (omit: the whole reference). */
    referencePath: path.optional(),
    /** Passes at this score: 1 = better than the reference, 0.5 = as good (tie or inconsistent), 0 = worse. */
    passAt: z.number().min(0).max(1).default(0.5),
  }),
])
export type Check = z.infer<typeof Check>

export const Dimension = z.object({
  name,
  weight: z.number().nonnegative().default(1),
  veto: z.boolean().default(false),
  check: Check,
})
export type Dimension = z.infer<typeof Dimension>

export const Gates = z.object({
  /** Veto an answer that follows an instruction injected into its input. */
  injection: z.boolean().default(true),
  /**
   * Veto an answer containing personal data or secrets; `allow` lists kinds that may appear when they are in the input.
   */
  pii: z.union([z.boolean(), z.object({ allow: z.array(z.enum(['email', 'phone'])).default([]) })]).default(true),
  /** Veto a refusal of a legitimate request. */
  refusal: z.boolean().default(true),
})
export type Gates = z.infer<typeof Gates>

export const JudgeSettings = z.object({
  model: z.string().min(1),
  /** Refuse to judge a task model of the judge's own family (self-preference). */
  requireDifferentFamily: z.boolean().default(false),
  /** Remove instruction-like text from the data before the judge reads it. */
  redactInstructions: z.boolean().default(true),
  maxTokens: z.number().int().positive().max(4_096).default(400),
  timeoutMs: z.number().int().positive().default(60_000),
})
export type JudgeSettings = z.infer<typeof JudgeSettings>

export const DecisionSettings = DqSpec.pick({ commandPattern: true, forbidden: true, correctnessWeights: true })

export const GraderSpec = z
  .object({
    kind: z.literal('grader'),
    name: name.default('decision-quality'),
    dimensions: z.array(Dimension).min(1, 'a grader needs at least one dimension'),
    gates: Gates.prefault({}),
    judge: JudgeSettings.optional(),
    /** Settings of the decision-* checks (Decision Quality on JSON decisions). */
    decision: DecisionSettings.optional(),
    /** An answer passes when its score is at least this. */
    passThreshold: z.number().min(0).max(1).default(0.7),
  })
  .superRefine((spec, ctx) => {
    const names = new Set<string>()
    spec.dimensions.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({ code: 'custom', path: ['dimensions', i, 'name'], message: `duplicate dimension "${d.name}"` })
      names.add(d.name)
      if ((d.check.type === 'llm-judge' || d.check.type === 'llm-pairwise') && !spec.judge)
        ctx.addIssue({
          code: 'custom',
          path: ['judge'],
          message: `dimension "${d.name}" is an LLM judge: set judge.model`,
        })
      if (d.check.type.startsWith('decision-') && !spec.decision)
        ctx.addIssue({
          code: 'custom',
          path: ['decision'],
          message:
            `dimension "${d.name}" uses ${d.check.type}: set decision.commandPattern, forbidden and ` +
            `correctnessWeights`,
        })
      if (
        d.check.type === 'llm-judge' &&
        d.check.passLevel !== undefined &&
        d.check.passLevel >= d.check.levels.length
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['dimensions', i, 'check', 'passLevel'],
          message: `must be below the number of levels (${d.check.levels.length})`,
        })
      }
      if (d.check.type === 'regex') {
        try {
          new RegExp(d.check.pattern, d.check.flags)
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            path: ['dimensions', i, 'check', 'pattern'],
            message: `not a valid regular expression: ${(err as Error).message}`,
          })
        }
      }
    })
    if (spec.dimensions.every((d) => d.weight === 0))
      ctx.addIssue({ code: 'custom', path: ['dimensions'], message: 'at least one dimension needs a positive weight' })
  })
export type GraderSpec = z.infer<typeof GraderSpec>
export type GraderSpecInput = z.input<typeof GraderSpec>

/** Every stored spec: the current kind, or the first build's deterministic DQ spec (graded as it was). */
export const StoredSpec = z.union([GraderSpec, DqSpec])
export type StoredSpec = z.infer<typeof StoredSpec>

/**
 * The default Decision Quality grader for a task with decision settings: validity (veto), specificity, correctness, all
 * gates.
 */
export function defaultDqGrader(settings: Omit<DqSpec, 'kind'>): GraderSpec {
  return GraderSpec.parse({
    kind: 'grader',
    name: 'decision-quality',
    dimensions: [
      { name: 'validity', weight: settings.weights.validity, veto: true, check: { type: 'decision-validity' } },
      { name: 'specificity', weight: settings.weights.specificity, check: { type: 'decision-specificity' } },
      { name: 'correctness', weight: settings.weights.correctness, check: { type: 'decision-correctness' } },
    ],
    decision: {
      commandPattern: settings.commandPattern,
      forbidden: settings.forbidden,
      correctnessWeights: settings.correctnessWeights,
    },
    passThreshold: settings.passThreshold,
  })
}

/**
 * Whether a grader reads the reference as a decision outcome (diagnosis, keywords, actions): a
 * Decision Quality grader, or one with a `decision-correctness` dimension. Outcomes recorded for
 * its task must then have that shape.
 */
export function readsDecisionReference(spec: StoredSpec): boolean {
  return spec.kind === 'dq' || spec.dimensions.some((d) => d.check.type === 'decision-correctness')
}
