/** Operational checks: latency and cost of the call that produced the answer. */
import type { Check } from '../../core/grader-spec.js'
import { result, type CheckInput } from './util.js'

type Of<T extends Check['type']> = Extract<Check, { type: T }>

export function latency(input: CheckInput, c: Of<'latency'>) {
  if (input.latencyMs == null) return result(false, null, 'latency unknown')
  const ok = input.latencyMs <= c.maxMs
  return result(ok, ok ? 1 : 0, `${input.latencyMs} ms (limit ${c.maxMs} ms)`)
}

export function cost(input: CheckInput, c: Of<'cost'>) {
  if (input.costUsd == null) return result(false, null, 'cost unknown')
  const ok = input.costUsd <= c.maxUsd
  return result(ok, ok ? 1 : 0, `$${input.costUsd.toFixed(6)} (limit $${c.maxUsd})`)
}
