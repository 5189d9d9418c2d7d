/**
 * @module core/strict
 * Strict variants of zod schemas, derived from the schemas themselves (no field is restated):
 * `strictDeep(schema)` refuses unknown keys at every level of nested objects, keeping every
 * default and refinement. `explainUnknownKeys` turns zod's "unrecognized keys" issues into one
 * issue per key, at the key's full path, with a "did you mean …" hint drawn from the keys the
 * schema knows there.
 *
 * User input (config files, flags, API bodies) is parsed strictly; data written by earlier
 * builds (workflow inputs, stored rows) is parsed with the lenient schema it was written for.
 *
 * Pure module: safe to import from workflow code.
 */
import { closest, distance } from 'fastest-levenshtein'
import { z } from 'zod'

// zod 4's definitions, as far as this module reads them.
type Def = {
  type: string
  shape?: Record<string, z.ZodType>
  innerType?: z.ZodType
  element?: z.ZodType
  options?: z.ZodType[]
}
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def
const cloneWith = <T extends z.ZodType>(schema: T, def: Record<string, unknown>): T =>
  (schema as unknown as { clone(def: unknown): T }).clone(def)

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'])

/** The same schema with every nested object strict (unknown keys refused); defaults and refinements kept. */
export function strictDeep<T extends z.ZodType>(schema: T): T {
  const def = defOf(schema)
  if (def.type === 'object' && def.shape) {
    const shape = Object.fromEntries(Object.entries(def.shape).map(([k, v]) => [k, strictDeep(v)]))
    return cloneWith(schema, { ...def, shape, catchall: z.never() })
  }
  if (WRAPPERS.has(def.type) && def.innerType)
    return cloneWith(schema, { ...def, innerType: strictDeep(def.innerType) })
  if (def.type === 'array' && def.element) return cloneWith(schema, { ...def, element: strictDeep(def.element) })
  return schema
}

/** The schema without optional/default/nullable wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema
  for (let def = defOf(s); WRAPPERS.has(def.type) && def.innerType; def = defOf(s)) s = def.innerType
  return s
}

/** The sub-schema at a path (`['search', 'rounds']`), or null when the schema has none there. */
export function schemaAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): z.ZodType | null {
  let s: z.ZodType | undefined = schema
  for (const part of path) {
    const def = defOf(unwrap(s))
    if (def.type === 'object' && def.shape && typeof part === 'string') s = def.shape[part]
    else if (def.type === 'array' && def.element && typeof part === 'number') s = def.element
    else return null
    if (!s) return null
  }
  return s
}

/** The keys an object schema knows at a path (empty when it is not an object). */
export function keysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  const s = schemaAt(schema, path)
  const def = s ? defOf(unwrap(s)) : null
  // A union of objects (e.g. a discriminated union): the keys of any of its options.
  if (def?.type === 'union' && def.options)
    return [...new Set(def.options.flatMap((o) => Object.keys(defOf(unwrap(o)).shape ?? {})))]
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : []
}

/** "did you mean …" for a mistyped key, from the keys known at that place (null: nothing close). */
export function didYouMean(key: string, known: readonly string[]): string | null {
  if (known.length === 0) return null
  const best = closest(key, known as string[])
  // Close enough to be a typo: a few edits, and fewer than half the key's length.
  const d = distance(key.toLowerCase(), best.toLowerCase())
  return d <= Math.max(1, Math.min(3, Math.floor(best.length / 2))) ? best : null
}

/**
 * zod's issues with every "unrecognized keys" issue replaced by one issue per unknown key, at the
 * key's full path (`search.serach`), saying which key was probably meant.
 */
export function explainUnknownKeys(schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue): z.core.$ZodIssue[] => {
    if (issue.code !== 'unrecognized_keys') return [issue]
    const known = keysAt(schema, issue.path)
    return issue.keys.map((key) => {
      const hint = didYouMean(key, known)
      const message = hint
        ? `unknown setting "${key}"; did you mean "${hint}"?`
        : `unknown setting "${key}"; the settings here are: ${known.join(', ') || '(none)'}`
      return { ...issue, keys: [key], path: [...issue.path, key], message } as z.core.$ZodIssue
    })
  })
}
