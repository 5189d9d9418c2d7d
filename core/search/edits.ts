/**
 * @module core/search/edits
 * Edits on instruction text that need no model: a prompt's instructions as a list of sentences
 * (clauses), crossover of two parents' sentences, a GEPA-style merge of two lineages against
 * their common ancestor, and sentence drops. Used by the edit-based evolution strategy and by
 * merges; the sentences themselves come from proposers.
 *
 * Pure module: no I/O.
 */
import type { Rng } from '../rng.js'

/** Sentences of an instruction text, trimmed, in order (a sentence ends with . ! ? or a line break). */
export function sentences(text: string): string[] {
  return (text.match(/[^.!?\n]+[.!?]*/g) ?? []).map((s) => s.trim()).filter((s) => s.length > 0)
}

/** A sentence's identity: lower-case words and digits, single spaces. */
export const sentenceKey = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
const key = sentenceKey

export const joinSentences = (parts: readonly string[]): string => parts.join(' ')

function unique(parts: readonly string[]): string[] {
  const seen = new Set<string>()
  return parts.filter((p) => {
    const k = key(p)
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/**
 * Uniform crossover of sentences: sentences both parents share are kept; each other sentence of
 * either parent is kept with probability ½; at most `maxSentences`. Null when the child equals a parent.
 */
export function crossover(a: string, b: string, rng: Rng, maxSentences: number): string | null {
  const sa = sentences(a)
  const sb = sentences(b)
  const inB = new Set(sb.map(key))
  const shared = sa.filter((s) => inB.has(key(s)))
  const sharedKeys = new Set(shared.map(key))
  const others = unique([...sa, ...sb].filter((s) => !sharedKeys.has(key(s)))).filter(() => rng.float() < 0.5)
  let child = unique([...shared, ...others])
  while (child.length > maxSentences) child = child.filter((_, i) => i !== rng.int(child.length))
  if (child.length === 0) return null
  const text = joinSentences(child)
  return key(text) === key(a) || key(text) === key(b) ? null : text
}

/**
 * GEPA-style merge of two descendants of a common ancestor: start from the ancestor, apply what
 * each lineage added and removed. Null when it gives nothing new.
 */
export function merge(ancestor: string, a: string, b: string, maxSentences: number): string | null {
  const s0 = sentences(ancestor)
  const k0 = new Set(s0.map(key))
  const sa = sentences(a)
  const sb = sentences(b)
  const ka = new Set(sa.map(key))
  const kb = new Set(sb.map(key))
  const removed = new Set([...k0].filter((k) => !ka.has(k) || !kb.has(k)))
  const added = [...sa, ...sb].filter((s) => !k0.has(key(s)))
  const child = unique([...s0.filter((s) => !removed.has(key(s))), ...added])
  if (child.length === 0 || child.length > maxSentences) return null
  const text = joinSentences(child)
  return key(text) === key(a) || key(text) === key(b) ? null : text
}

/** Drop one sentence at random (null when only one is left). */
export function dropSentence(text: string, rng: Rng): string | null {
  const s = sentences(text)
  if (s.length <= 1) return null
  const i = rng.int(s.length)
  return joinSentences(s.filter((_, j) => j !== i))
}

/** Word n-grams of a text (lower case), for the copy guard. */
export function ngrams(text: string, n: number): Set<string> {
  const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? []
  const out = new Set<string>()
  for (let i = 0; i + n <= words.length; i++) out.add(words.slice(i, i + n).join(' '))
  return out
}

/**
 * Does the prompt copy a training input? True when it shares a run of `n` words with an input that
 * the seed prompt does not share too (instructions may legitimately quote their own vocabulary).
 */
export function copiesTraining(
  prompt: string,
  seedPrompt: string,
  trainingInputs: readonly string[],
  n = 8,
): string | null {
  const grams = ngrams(prompt, n)
  if (grams.size === 0) return null
  const seedGrams = ngrams(seedPrompt, n)
  for (const input of trainingInputs) {
    for (const g of ngrams(input, n)) if (grams.has(g) && !seedGrams.has(g)) return g
  }
  return null
}
