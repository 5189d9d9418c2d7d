/**
 * @module core/import/promptfoo-assertions
 * One promptfoo assertion → one Kaizen check, or the reason there is none. One function per assertion family;
 * `core/import/promptfoo.ts` decides which assertions become grader dimensions and which read a golden case's
 * reference. The table (promptfoo → Kaizen) is in that module's doc.
 *
 * Pure module.
 */
import type { z } from 'zod'
import type { Check } from '../grader-spec.js'

export type CheckInput = z.input<typeof Check>

/** An assertion as promptfoo's config writes it (the fields this import reads). */
export interface Assertion {
  type: string
  value?: unknown
  threshold?: number | undefined
  weight?: number | undefined
  metric?: string | undefined
  provider?: unknown
  transform?: unknown
}

export type Mapping = { check: CheckInput; name: string } | { reason: string }

/** promptfoo's default maximum edit distance for `levenshtein`. */
export const LEVENSHTEIN_DEFAULT = 5

/** `not-contains` → `{ base: 'contains', negated: true }`. */
export function splitNot(type: string): { base: string; negated: boolean } {
  return type.startsWith('not-') ? { base: type.slice(4), negated: true } : { base: type, negated: false }
}

const CONTAINS = new Set(['contains', 'icontains', 'contains-any', 'icontains-any', 'contains-all', 'icontains-all'])

/** Why the assertion types Kaizen has no check for are left out (others: a generic reason). */
const NO_CHECK: Array<[RegExp, string]> = [
  [/^(javascript|python|ruby|webhook)$/, 'runs custom code; Kaizen graders are declarative (write a check for it)'],
  [/^(similar|similar:.*)$/, 'embedding similarity: Kaizen has no embedding check (edit-distance is the closest)'],
  [
    /^(model-graded-closedqa|factuality|g-eval|answer-relevance|context-.*|select-best|max-score|search-rubric)$/,
    'a model-graded metric with its own prompt; rewrite it as an llm-rubric',
  ],
  [/^assert-set$/, 'a group of assertions with its own threshold: Kaizen dimensions are not grouped'],
]

export const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The check for one assertion given a fixed value (not a golden case's reference). */
export function mapAssertion(a: Assertion, judgeModel: string | undefined): Mapping {
  const { base, negated } = splitNot(a.type)
  const name = a.metric ?? a.type
  const mapped = (check: CheckInput): Mapping => ({ check, name })
  if (base === 'equals') return equalsCheck(a.value, negated, mapped)
  if (CONTAINS.has(base)) return containsCheck(base, a.value, negated, mapped)
  if (base === 'regex') return regexCheck(a.value, negated, mapped)
  if (negated && ['is-json', 'contains-json', 'levenshtein', 'cost', 'latency', 'llm-rubric'].includes(base))
    return { reason: `the ${kaizenCheckOf(base)} check has no negated form` }
  if (base === 'is-json' || base === 'contains-json') return jsonCheck(a.value, mapped)
  if (base === 'levenshtein') return levenshteinCheck(a.value, a.threshold, mapped)
  if (base === 'cost' || base === 'latency') return operationalCheck(base, a.threshold, mapped)
  if (base === 'llm-rubric') return rubricCheck(a.value, a.threshold, judgeModel, mapped)
  const known = NO_CHECK.find(([pattern]) => pattern.test(base))
  return { reason: known ? known[1] : `Kaizen has no check like promptfoo's ${a.type}` }
}

function kaizenCheckOf(base: string): string {
  if (base === 'is-json' || base === 'contains-json') return 'json-schema'
  if (base === 'levenshtein') return 'edit-distance'
  return base === 'llm-rubric' ? 'llm-judge' : base
}

type Mapped = (check: CheckInput) => Mapping

const text = (v: unknown): string | null => (typeof v === 'string' || typeof v === 'number' ? String(v) : null)

/** equals → exact (case-sensitive); a JSON value → json-schema `const`; not-equals → regex `^value$`, negated. */
function equalsCheck(value: unknown, negated: boolean, mapped: Mapped): Mapping {
  if (value !== null && typeof value === 'object') {
    if (negated) return { reason: 'the json-schema check has no negated form' }
    return mapped({ type: 'json-schema', schema: { const: value } })
  }
  const v = text(value)
  if (v === null) return { reason: 'equals needs a value' }
  if (negated) return mapped({ type: 'regex', pattern: `^${escapeRegex(v)}$`, flags: '', negate: true })
  return mapped({ type: 'exact', value: v, caseSensitive: true })
}

/** The values of a contains-any/-all: a list, or promptfoo's comma-separated text. */
function containsValues(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [value]
  return list.map((v) => (text(v) ?? '').trim()).filter((v) => v.length > 0)
}

/**
 * contains / icontains (-any, -all) → contains. The negated forms, which the contains check lacks, become a
 * negated regex over the escaped values: the same test (none of them / not all of them appear).
 */
function containsCheck(base: string, value: unknown, negated: boolean, mapped: Mapped): Mapping {
  const caseSensitive = !base.startsWith('i')
  const single = base === 'contains' || base === 'icontains'
  const values = single ? [text(value)].filter((v): v is string => !!v) : containsValues(value)
  if (values.length === 0) return { reason: `${base} needs a value` }
  const mode = base.endsWith('-any') ? 'any' : 'all'
  if (!negated) return mapped({ type: 'contains', values, mode, caseSensitive })
  const escaped = values.map(escapeRegex)
  const pattern =
    mode === 'any' || values.length === 1 ? escaped.join('|') : `^${escaped.map((v) => `(?=[\\s\\S]*${v})`).join('')}`
  return mapped({ type: 'regex', pattern, flags: caseSensitive ? '' : 'i', negate: true })
}

/** regex → regex (promptfoo compiles without flags: case-sensitive); not-regex → negate. */
function regexCheck(value: unknown, negated: boolean, mapped: Mapped): Mapping {
  if (typeof value !== 'string' || value === '') return { reason: 'regex needs a pattern' }
  try {
    new RegExp(value)
  } catch (err) {
    return { reason: `not a valid regular expression: ${(err as Error).message}` }
  }
  return mapped({ type: 'regex', pattern: value, flags: '', negate: negated })
}

/** is-json / contains-json → json-schema with the given schema, or `{}` (any JSON). */
function jsonCheck(value: unknown, mapped: Mapped): Mapping {
  if (value === undefined || value === null || value === '') return mapped({ type: 'json-schema', schema: {} })
  if (typeof value === 'object' && !Array.isArray(value))
    return mapped({ type: 'json-schema', schema: value as Record<string, unknown> })
  if (typeof value === 'string' && value.startsWith('file://'))
    return { reason: `the schema is in a file (${value}) this import does not read; inline it as an object` }
  try {
    const schema: unknown = JSON.parse(String(value))
    if (schema && typeof schema === 'object' && !Array.isArray(schema))
      return mapped({ type: 'json-schema', schema: schema as Record<string, unknown> })
  } catch {
    // not JSON: said below
  }
  return { reason: 'the schema is text that is not a JSON object (YAML text?); give it as an object' }
}

/**
 * The edit-distance similarity that is never stricter than promptfoo's maximum distance `threshold` for an expected
 * text of `length` characters: Kaizen passes when distance ≤ (1 − minSimilarity) × the longer text's length.
 */
export function minSimilarityFor(threshold: number | undefined, length: number): number {
  const max = threshold && threshold > 0 ? threshold : LEVENSHTEIN_DEFAULT
  return length === 0 ? 0 : Math.max(0, Math.min(1, +(1 - max / length).toFixed(4)))
}

/** levenshtein with a fixed value → edit-distance (promptfoo's threshold is a distance; see minSimilarityFor). */
function levenshteinCheck(value: unknown, threshold: number | undefined, mapped: Mapped): Mapping {
  const v = text(value)
  if (v === null) return { reason: 'levenshtein needs a text value' }
  return mapped({ type: 'edit-distance', value: v, minSimilarity: minSimilarityFor(threshold, v.length) })
}

/** cost → cost (maxUsd = threshold); latency → latency (maxMs = threshold). */
function operationalCheck(base: 'cost' | 'latency', threshold: number | undefined, mapped: Mapped): Mapping {
  if (threshold === undefined || !(threshold > 0)) return { reason: `${base} needs a positive threshold` }
  return mapped(base === 'cost' ? { type: 'cost', maxUsd: threshold } : { type: 'latency', maxMs: threshold })
}

const TWO_LEVELS = [
  { label: 'fails', description: 'The answer does not meet the rubric.' },
  { label: 'passes', description: 'The answer meets the rubric.' },
]
const FIVE_LEVELS = [
  { label: 'none', description: 'The answer meets none of the rubric.' },
  { label: 'little', description: 'The answer meets a little of the rubric.' },
  { label: 'half', description: 'The answer meets about half of the rubric.' },
  { label: 'most', description: 'The answer meets most of the rubric.' },
  { label: 'all', description: 'The answer fully meets the rubric.' },
]

/**
 * llm-rubric → llm-judge: the rubric is the value; levels fails/passes, or, with a threshold (promptfoo's 0–1
 * score to pass), five levels scored 0, .25, .5, .75, 1 passing from the first at or above the threshold.
 */
function rubricCheck(value: unknown, threshold: number | undefined, judge: string | undefined, mapped: Mapped) {
  if (typeof value !== 'string' || value.trim() === '') return { reason: 'llm-rubric needs a text rubric' }
  if (!judge)
    return {
      reason:
        'no judge model: promptfoo would use its default grader; set defaultTest.options.provider or pass judgeModel',
    }
  const rubric = (value.trim().length < 10 ? `The answer meets this rubric: ${value.trim()}` : value.trim()).slice(
    0,
    2_000,
  )
  const graded = threshold !== undefined && threshold > 0 && threshold <= 1
  const levels = graded ? FIVE_LEVELS : TWO_LEVELS
  const passLevel = graded ? Math.ceil(threshold * 4) : 1
  return mapped({ type: 'llm-judge', rubric, levels, passLevel, includeReference: false })
}
