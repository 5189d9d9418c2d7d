/**
 * @module core/import/promptfoo-grading
 * promptfoo's tests and assertions → a Kaizen grader's dimensions and golden cases (the rules are in
 * `core/import/promptfoo.ts`'s doc). Pure module.
 */
import { z } from 'zod'
import { modelFromProviderId, varText, type Unmapped } from './common.js'
import {
  mapAssertion,
  minSimilarityFor,
  splitNot,
  type Assertion as AssertionFields,
  type CheckInput,
} from './promptfoo-assertions.js'

export const Assertion = z.looseObject({
  type: z.string().min(1),
  value: z.unknown().optional(),
  threshold: z.number().optional(),
  weight: z.number().nonnegative().optional(),
  metric: z.string().optional(),
  provider: z.unknown().optional(),
  transform: z.unknown().optional(),
})
const TestOptions = z.looseObject({ provider: z.unknown().optional(), transform: z.unknown().optional() })
export const Test = z.looseObject({
  description: z.string().optional(),
  vars: z.record(z.string(), z.unknown()).optional(),
  assert: z.array(Assertion).optional(),
  options: TestOptions.optional(),
  threshold: z.number().optional(),
})
export type Test = z.infer<typeof Test>
/** A test and its index in the config's `tests` (entries that are file references are not tests here). */
export interface IndexedTest {
  at: number
  test: Test
}

export interface Dimension {
  name: string
  weight: number
  check: CheckInput
}
export interface Golden {
  input: Record<string, string>
  reference: string
  note?: string
}
export interface Grading {
  dimensions: Dimension[]
  golden: Golden[]
  /** The judge model of the llm-judge dimensions, if any. */
  judge: string | undefined
  unmapped: Unmapped[]
}

/** One assertion as it applies to one test: its values rendered with the test's vars. */
interface Item {
  where: string
  test: number
  a: AssertionFields
  /** The value used `{{variables}}` of the test. */
  templated: boolean
  transform: boolean
  judge: string | undefined
}

const VAR = /\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g
const lookup = (vars: Record<string, unknown>, path: string): unknown =>
  path.split('.').reduce<unknown>((cur, k) => (cur && typeof cur === 'object' ? (cur as never)[k] : undefined), vars)

/** An assertion value with the test's `{{variables}}` filled in (promptfoo renders values with the test's vars). */
function render(value: unknown, vars: Record<string, unknown>): unknown {
  if (typeof value === 'string')
    return value.replace(VAR, (m, name: string) => {
      const v = lookup(vars, name)
      return v === undefined ? m : typeof v === 'string' ? v : JSON.stringify(v)
    })
  return Array.isArray(value) ? value.map((v) => render(v, vars)) : value
}

/** A judge model from a promptfoo grading provider: `openai:gpt-4.1`, `{ id }`, or `{ text: { id } }`. */
export function judgeOf(provider: unknown): string | undefined {
  if (typeof provider === 'string') return modelFromProviderId(provider) ?? undefined
  if (provider && typeof provider === 'object') {
    const p = provider as { id?: unknown; text?: unknown }
    return judgeOf(p.id ?? p.text)
  }
  return undefined
}

/** Every assertion of every test (defaultTest's included), with the values each test gives it. */
function itemsOf(tests: IndexedTest[], defaults: Test, judgeModel: string | undefined): Item[] {
  const items: Item[] = []
  const runs: IndexedTest[] = tests.length > 0 ? tests : [{ at: 0, test: {} }]
  for (const { at: i, test } of runs) {
    const vars = { ...defaults.vars, ...test.vars }
    const transform = (test.options?.transform ?? defaults.options?.transform) !== undefined
    const judge = judgeOf(test.options?.provider) ?? judgeOf(defaults.options?.provider) ?? judgeModel
    const add = (a: AssertionFields, where: string) => {
      const value = render(a.value, vars)
      items.push({
        where,
        test: i,
        a: { ...a, value },
        templated: JSON.stringify(value) !== JSON.stringify(a.value),
        transform: transform || a.transform !== undefined,
        judge: judgeOf(a.provider) ?? judge,
      })
    }
    ;(defaults.assert ?? []).forEach((a, j) => add(a, `defaultTest.assert[${j}]`))
    ;(test.assert ?? []).forEach((a, j) => add(a, `tests[${i}].assert[${j}]`))
  }
  return items
}

/** An equals/levenshtein with a text value that is the test's own (test-level, or templated): a reference. */
function givesReference(item: Item): boolean {
  const { base, negated } = splitNot(item.a.type)
  const value = item.a.value
  const isText = typeof value === 'string' || typeof value === 'number'
  return (base === 'equals' || base === 'levenshtein') && !negated && isText && !item.transform
    ? !item.where.startsWith('defaultTest') || item.templated
    : false
}

/** Grader dimensions, golden cases and what is left out, from promptfoo's tests. */
export function gradingOf(
  tests: IndexedTest[],
  defaults: Test,
  inputs: string[],
  judgeModel: string | undefined,
  notes: string[],
): Grading {
  const items = itemsOf(tests, defaults, judgeModel)
  const unmapped = new Map<string, Unmapped>()
  const leaveOut = (item: Item, reason: string) => {
    if (!unmapped.has(item.where)) unmapped.set(item.where, { location: item.where, assertion: item.a.type, reason })
  }
  const dimensions: Array<Dimension & { judge?: string | undefined }> = []
  const refs = referencesOf(items.filter(givesReference), leaveOut)
  dimensions.push(...referenceDimensions(refs, notes))
  // Same assertion (type, rendered value, settings; any metric name) in every test → one grader-wide dimension.
  const groups = new Map<string, Item[]>()
  for (const item of items.filter((i) => !givesReference(i))) {
    const { type, value, threshold, weight } = item.a
    const key = JSON.stringify([type, value, threshold, weight, item.judge, item.transform])
    groups.set(key, [...(groups.get(key) ?? []), item])
  }
  const runs = Math.max(tests.length, 1)
  for (const group of groups.values()) {
    const first = group[0] as Item
    const mapping: ReturnType<typeof mapAssertion> = first.transform
      ? { reason: 'transforms the output first (transform): Kaizen checks read the answer as it is' }
      : mapAssertion(first.a, first.judge)
    const covered = new Set(group.map((i) => i.test)).size
    if ('reason' in mapping) group.forEach((i) => leaveOut(i, mapping.reason))
    else if (covered === runs)
      dimensions.push({ name: mapping.name, weight: first.a.weight ?? 1, check: mapping.check, judge: first.judge })
    else
      for (const i of group)
        leaveOut(
          i,
          i.templated && i.where.startsWith('defaultTest')
            ? `its value uses each test's vars, so it differs between tests: the ${mapping.check.type} check ` +
                'takes one value for every answer'
            : `only in ${covered} of ${runs} tests: a Kaizen grader applies every dimension to every answer, ` +
                `and the ${mapping.check.type} check takes no value from a golden case`,
        )
  }
  const judges = [...new Set(dimensions.filter((d) => d.check.type === 'llm-judge').map((d) => d.judge))]
  if (judges.length > 1) notes.push(`llm-rubric assertions name ${judges.length} judges: the grader uses ${judges[0]}`)
  return {
    dimensions: uniqueNames(dimensions.map(({ name, weight, check }) => ({ name, weight, check }))),
    golden: goldenOf(tests, defaults, refs, inputs, notes),
    judge: judges[0],
    unmapped: [...unmapped.values()].sort((x, y) => order(x.location) - order(y.location)),
  }
}

/** Source order: defaultTest's assertions, then each test's. */
function order(location: string): number {
  const [test, assertion] = (location.match(/\d+/g) ?? []).map(Number)
  return location.startsWith('defaultTest') ? (test ?? 0) : ((test ?? 0) + 1) * 10_000 + (assertion ?? 0)
}

interface Reference {
  value: string
  /** Assertion types that read it, with their first item. */
  by: Map<string, Item>
  thresholds: Array<number | undefined>
}

/** Each test's reference: the value of its first equals/levenshtein; a different second value is left out. */
function referencesOf(items: Item[], leaveOut: (i: Item, reason: string) => void): Map<number, Reference> {
  const refs = new Map<number, Reference>()
  for (const item of items) {
    const value = String(item.a.value)
    const ref: Reference = refs.get(item.test) ?? { value, by: new Map(), thresholds: [] }
    refs.set(item.test, ref)
    if (ref.value !== value) {
      const from = [...ref.by.values()][0]?.where
      leaveOut(item, `tests[${item.test}] already takes its reference from ${from}: a golden case has one reference`)
      continue
    }
    if (!ref.by.has(item.a.type)) ref.by.set(item.a.type, item)
    if (item.a.type === 'levenshtein') ref.thresholds.push(item.a.threshold)
  }
  return refs
}

/** One dimension per type that reads the reference: equals → exact, levenshtein → edit-distance. */
function referenceDimensions(refs: Map<number, Reference>, notes: string[]): Dimension[] {
  const types = [...new Set([...refs.values()].flatMap((r) => [...r.by.keys()]))]
  return types.map((type) => {
    const using = [...refs.entries()].filter(([, r]) => r.by.has(type))
    const first = (using[0] as [number, Reference])[1].by.get(type) as Item
    if (using.length < refs.size)
      notes.push(
        `dimension "${first.a.metric ?? type}" reads every answer's reference; in promptfoo only ` +
          `${using.map(([t]) => `tests[${t}]`).join(', ')} asserted ${type}`,
      )
    const name = first.a.metric ?? type
    const weight = first.a.weight ?? 1
    if (type === 'equals') return { name, weight, check: { type: 'exact', caseSensitive: true } }
    // Never stricter than promptfoo for any case: the lowest similarity over the tests.
    const minSimilarity = Math.min(
      ...using.flatMap(([, r]) => r.thresholds.map((t) => minSimilarityFor(t, r.value.length))),
    )
    notes.push(
      `levenshtein's threshold is a maximum edit distance; the edit-distance dimension passes at similarity ≥ ` +
        `${minSimilarity} (never stricter than promptfoo on these references, and case-insensitive)`,
    )
    return { name, weight, check: { type: 'edit-distance', minSimilarity } }
  })
}

/** Golden cases: the tests with a reference, their inputs the prompt's variables. */
function goldenOf(
  tests: IndexedTest[],
  defaults: Test,
  refs: Map<number, Reference>,
  inputs: string[],
  notes: string[],
): Golden[] {
  const golden: Golden[] = []
  const without = tests.filter((t) => !refs.has(t.at))
  if (without.length > 0)
    notes.push(
      `${without.length} of ${tests.length} tests give no reference (no equals or levenshtein of their own): ` +
        'not golden cases',
    )
  for (const { at: i, test } of tests) {
    const ref = refs.get(i)
    if (!ref) continue
    const vars = { ...defaults.vars, ...test.vars }
    const input: Record<string, string> = {}
    const missing = inputs.filter((name) => {
      const text = varText(vars[name])
      if (text !== null) input[name] = text
      return text === null
    })
    if (missing.length > 0) {
      notes.push(`tests[${i}]: not a golden case: no text value for ${missing.join(', ')} (missing, a list or a file)`)
      continue
    }
    const description = test.description
    golden.push({ input, reference: ref.value, ...(description ? { note: description.slice(0, 500) } : {}) })
  }
  if (golden.length > 1_000) notes.push(`${golden.length} golden cases: the first 1000 are kept`)
  return golden.slice(0, 1_000)
}

/** Valid, unique dimension names (`not-contains`, `contains-2`, a metric's name made valid). */
function uniqueNames(dimensions: Dimension[]): Dimension[] {
  const seen = new Set<string>()
  return dimensions.map((d) => {
    const base =
      d.name
        .toLowerCase()
        .replace(/[^a-z0-9_-]+/g, '-')
        .replace(/^[^a-z]+/, '')
        .slice(0, 36)
        .replace(/-+$/, '') || 'check'
    let name = base
    for (let n = 2; seen.has(name); n++) name = `${base}-${n}`
    seen.add(name)
    return { ...d, name }
  })
}
