/**
 * @module sim/generator
 * Deterministic inputs with ground truth: everything about an example (its cluster, variables,
 * description, hidden difficulty, the clauses it needs, what resolved it) is a function of the
 * scenario seed and the example's key. The same key gives the same example in every process.
 */
import { renderTemplate } from '../core/prompt.js'
import type { Reference } from '../core/decision.js'
import { normalHash, unitHash } from '../lib/hash.js'
import { clusterWeightsFor } from './mix.js'
import type { Scenario, ScenarioCluster, Variable } from './scenario.js'

export interface SimExample {
  /** Stable identity of the example inside its scenario, e.g. `live:000042`. */
  key: string
  cluster: string
  /** Every variable, visible or hidden (records are nested: `release.version`). */
  variables: Record<string, unknown>
  /** What the application sends: the scenario's input fields. */
  input: Record<string, string>
  reference: Reference
  /** Hidden: base logit of success (difficulty). */
  base: number
  /** Hidden: the clauses this example needs. */
  required: string[]
}

function pickWeighted(weights: readonly number[], u: number): number {
  const total = weights.reduce((a, b) => a + b, 0)
  let x = u * total
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i] as number
    if (x < 0) return i
  }
  return weights.length - 1
}

function drawVariable(spec: Variable, vars: Record<string, unknown>, draw: () => number): unknown {
  switch (spec.kind) {
    case 'choice':
      return spec.values[Math.floor(draw() * spec.values.length)]
    case 'int':
      return String(spec.min + Math.floor(draw() * (spec.max - spec.min + 1)))
    case 'id': {
      const n = Math.floor(draw() * 10 ** spec.digits)
      return `${spec.prefix}${String(n).padStart(spec.digits, '0')}`
    }
    case 'template':
      return renderTemplate(spec.template, vars, 'a scenario variable template')
  }
}

/** Draw every variable of a cluster (global ones first), optionally keeping some fixed. */
export function drawVariables(
  scenario: Scenario,
  cluster: ScenarioCluster,
  key: string,
  fixed: Record<string, unknown> = {},
): Record<string, unknown> {
  const vars: Record<string, unknown> = {}
  const specs = { ...scenario.variables, ...cluster.variables }
  for (const [name, spec] of Object.entries(specs)) {
    vars[name] = name in fixed ? fixed[name] : drawVariable(spec, vars, () => unitHash(scenario.seed, 'var', key, name))
  }
  const summaries = cluster.summaries
  const summary = summaries[Math.floor(unitHash(scenario.seed, 'summary', key) * summaries.length)] as string
  vars.summary = renderTemplate(summary, vars, `a summary of cluster "${cluster.id}"`)
  return vars
}

export function renderReference(cluster: ScenarioCluster, vars: Record<string, unknown>): Reference {
  const r = (t: string) => renderTemplate(t, vars, `the reference of cluster "${cluster.id}"`)
  return {
    diagnosis: r(cluster.reference.diagnosis),
    keywords: cluster.reference.keywords.map(r),
    actions: cluster.reference.actions.map((a) => ({ command: r(a.command), target: r(a.target) })),
    risk: cluster.reference.risk,
  }
}

/**
 * @example
 * const ex = generateExample(scenario, 'live:000001')
 * ex.input   // { incident_id: 'INC-04211', service: 'auth-service', summary: '…' }
 * ex.reference.actions[0].command // 'kubectl rollout undo deployment/auth-service …'
 */
export function generateExample(scenario: Scenario, key: string): SimExample {
  const clusterIndex = pickWeighted(clusterWeightsFor(scenario, key), unitHash(scenario.seed, 'cluster', key))
  const cluster = scenario.clusters[clusterIndex] as ScenarioCluster
  const variables = drawVariables(scenario, cluster, key)
  const input: Record<string, string> = {}
  for (const field of scenario.task.inputFields) input[field] = String(variables[field])

  const { min, max } = scenario.effects.requirementsPerInput
  const upper = Math.min(max, cluster.requirements.length)
  const lower = Math.min(min, upper)
  const count = lower + Math.floor(unitHash(scenario.seed, 'req-count', key) * (upper - lower + 1))
  const required = [...cluster.requirements]
    .map((id) => ({ id, u: unitHash(scenario.seed, 'req-order', key, id) }))
    .sort((a, b) => a.u - b.u)
    .slice(0, count)
    .map((r) => r.id)

  return {
    key,
    cluster: cluster.id,
    variables,
    input,
    reference: renderReference(cluster, variables),
    base: scenario.effects.baseLogit.mean + scenario.effects.baseLogit.sd * normalHash(scenario.seed, 'base', key),
    required,
  }
}
