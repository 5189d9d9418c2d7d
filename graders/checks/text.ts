/** Text checks: exact match, contains, regular expression, length. */
import { capped, MATCH_LIMIT } from '../types.js'
import type { Check } from '../../core/grader-spec.js'
import { asText, at, result, type CheckInput } from './util.js'

type Of<T extends Check['type']> = Extract<Check, { type: T }>

export function exact(input: CheckInput, c: Of<'exact'>) {
  const expected = c.value ?? asText(at(input.reference, c.referencePath))
  if (expected === null) return result(false, null, 'no expected value: the reference has nothing at that path')
  const norm = (s: string) => (c.caseSensitive ? s.trim() : s.trim().toLowerCase())
  const ok = norm(input.output) === norm(expected)
  return result(ok, ok ? 1 : 0, ok ? 'exact match' : `expected exactly "${expected.slice(0, 80)}"`)
}

export function contains(input: CheckInput, c: Of<'contains'>) {
  const hay = c.caseSensitive ? input.output : input.output.toLowerCase()
  const found = c.values.filter((v) => hay.includes(c.caseSensitive ? v : v.toLowerCase()))
  const ok = c.mode === 'all' ? found.length === c.values.length : found.length > 0
  const score = c.mode === 'all' ? found.length / c.values.length : ok ? 1 : 0
  const missing = c.values.filter((v) => !found.includes(v))
  return result(
    ok,
    score,
    ok
      ? `contains ${c.mode === 'all' ? 'all' : 'one'} of ${c.values.length} value(s)`
      : `missing: ${missing.slice(0, 5).join(', ')}`,
  )
}

export function regex(input: CheckInput, c: Of<'regex'>) {
  // Text is capped, bounding the cost of a pathological pattern.
  const hit = new RegExp(c.pattern, c.flags).test(capped(input.output))
  const ok = c.negate ? !hit : hit
  return result(
    ok,
    ok ? 1 : 0,
    `${hit ? 'matches' : 'does not match'} ` +
      `/${c.pattern}/${input.output.length > MATCH_LIMIT ? ` (first ${MATCH_LIMIT} characters)` : ''}`,
  )
}

export function length(input: CheckInput, c: Of<'length'>) {
  const n = c.unit === 'words' ? input.output.split(/\s+/).filter(Boolean).length : input.output.length
  const ok = (c.min === undefined || n >= c.min) && (c.max === undefined || n <= c.max)
  return result(ok, ok ? 1 : 0, `${n} ${c.unit}${ok ? '' : ` (allowed ${c.min ?? 0}–${c.max ?? '∞'})`}`)
}
