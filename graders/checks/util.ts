/** Helpers shared by the deterministic checks. */
import type { GradeResult } from '../types.js'

export interface CheckInput {
  output: string
  input: Record<string, string>
  reference: unknown
  latencyMs?: number | null
  costUsd?: number | null
}

export const result = (pass: boolean, score: number | null, reason: string): GradeResult => ({ pass, score, reason })

/** Follow a dotted path (`actions.0.command`) into a JSON value. */
export function at(value: unknown, path: string | undefined): unknown {
  if (!path) return value
  let cur: unknown = value
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined) return undefined
    cur = (cur as Record<string, unknown>)[Array.isArray(cur) ? Number(part) : part]
  }
  return cur
}

export function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** The output as JSON (a ```json fence is allowed), or undefined. */
export function outputJson(output: string): unknown {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(output)
  try {
    return JSON.parse((fenced ? fenced[1] : output)?.trim() ?? '')
  } catch {
    return undefined
  }
}

export const tokens = (s: string): string[] =>
  s
    .toLowerCase()
    .split(/[^\p{L}\p{N}.]+/u)
    .filter((t) => t.length > 0)
