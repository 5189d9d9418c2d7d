/** Similarity to the reference: normalised edit distance (fastest-levenshtein) and token overlap (F1). */
import { distance } from 'fastest-levenshtein'
import type { Check } from '../../core/grader-spec.js'
import { asText, at, result, tokens, type CheckInput } from './util.js'

type Of<T extends Check['type']> = Extract<Check, { type: T }>

export function editDistance(input: CheckInput, c: Of<'edit-distance'>) {
  const expected = c.value ?? asText(at(input.reference, c.referencePath))
  if (expected === null) return result(false, null, 'no reference text to compare with')
  const a = input.output.trim().toLowerCase()
  const b = expected.trim().toLowerCase()
  const longest = Math.max(a.length, b.length)
  const similarity = longest === 0 ? 1 : 1 - distance(a, b) / longest
  return result(
    similarity >= c.minSimilarity,
    similarity,
    `similarity ${similarity.toFixed(2)} (edit distance ${distance(a, b)})`,
  )
}

export function referenceOverlap(input: CheckInput, c: Of<'reference-overlap'>) {
  const expected = asText(at(input.reference, c.referencePath))
  if (expected === null) return result(false, null, 'no reference to compare with')
  const ref = new Set(tokens(expected))
  const out = new Set(tokens(input.output))
  if (ref.size === 0) return result(false, null, 'the reference has no words')
  const common = [...ref].filter((t) => out.has(t)).length
  const precision = out.size === 0 ? 0 : common / out.size
  const recall = common / ref.size
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall)
  return result(
    f1 >= c.minOverlap,
    f1,
    `token F1 ${f1.toFixed(2)} with the reference (${common} of ${ref.size} reference tokens)`,
  )
}
