/** Structured checks: JSON Schema (ajv) and numbers within a tolerance. */
import { Ajv, type ValidateFunction } from 'ajv'
import type { Check } from '../../core/grader-spec.js'
import { at, outputJson, result, type CheckInput } from './util.js'

type Of<T extends Check['type']> = Extract<Check, { type: T }>

const ajv = new Ajv({ allErrors: false, strict: false })
const compiled = new Map<string, ValidateFunction>()

export function jsonSchema(input: CheckInput, c: Of<'json-schema'>) {
  const key = JSON.stringify(c.schema)
  let validate = compiled.get(key)
  if (!validate) {
    validate = ajv.compile(c.schema)
    compiled.set(key, validate)
  }
  const value = outputJson(input.output)
  if (value === undefined) return result(false, 0, 'the output is not JSON')
  const ok = validate(value)
  const err = validate.errors?.[0]
  return result(
    ok,
    ok ? 1 : 0,
    ok
      ? 'matches the JSON schema'
      : `does not match the JSON schema: ${err?.instancePath || '(root)'} ${err?.message ?? ''}`,
  )
}

export function numeric(input: CheckInput, c: Of<'numeric'>) {
  const raw = c.path ? at(outputJson(input.output), c.path) : input.output.trim()
  const actual = typeof raw === 'number' ? raw : Number(String(raw ?? '').replace(/[,\s$€£]/g, ''))
  const expectedRaw = c.expected ?? at(input.reference, c.referencePath)
  const expected = typeof expectedRaw === 'number' ? expectedRaw : Number(expectedRaw)
  if (expectedRaw === undefined || !Number.isFinite(expected)) return result(false, null, 'no expected number')
  if (!Number.isFinite(actual)) return result(false, 0, `no number in the output${c.path ? ` at ${c.path}` : ''}`)
  const diff = Math.abs(actual - expected)
  const allowed = c.relative ? c.tolerance * Math.abs(expected) : c.tolerance
  const ok = diff <= allowed
  return result(
    ok,
    ok ? 1 : 0,
    `${actual} vs expected ${expected} (difference ${+diff.toPrecision(6)}, allowed ${+allowed.toPrecision(6)})`,
  )
}
