/**
 * @module graders/engine
 * Grade one answer with a grader spec: run the safety checks and every dimension, then combine.
 *
 *   any gate or veto dimension fails → score 0, pass false (the reason names it);
 *   otherwise score = weighted mean of the dimensions that could be graded (null ones are
 *   dropped, the weights renormalised, and the count reported); no gradable dimension → null.
 *
 * The first build's deterministic DQ specs (`kind: dq`) are graded exactly as they were.
 */
import { KaizenError } from '../core/errors.js'
import { modelFamily } from '../providers/family.js'
import { decisionCorrectness, decisionSpecificity, decisionValidity } from './checks/decision.js'
import { cost, latency } from './checks/operational.js'
import { editDistance, referenceOverlap } from './checks/similarity.js'
import { jsonSchema, numeric } from './checks/structured.js'
import { contains, exact, length, regex } from './checks/text.js'
import type { CheckInput } from './checks/util.js'
import { gradeDq } from './dq.js'
import { injectionCheck } from './safety/injection.js'
import { piiCheck } from './safety/pii.js'
import { refusalCheck } from './safety/refusal.js'
import { at } from './checks/util.js'
import { judgeRequest, readVerdict, type JudgeCaller, type JudgeResult } from './judge.js'
import { comparePairwise, pairwiseRequest } from './pairwise.js'
import type { CompletionRequest } from '../providers/types.js'
import type { Dimension, GraderSpec, StoredSpec } from '../core/grader-spec.js'
import type { GradeResult } from './types.js'

export interface GradeItem extends CheckInput {
  /** The model that produced the answer (for the judge-family check). */
  model?: string
}

export interface GraderResult extends GradeResult {
  dimensions: Record<string, GradeResult>
  gates: Record<string, GradeResult>
  /** Dimensions that could not be graded (null), e.g. judge errors. */
  excluded: string[]
  /** A judge was unavailable for now: the result should not be stored. */
  transient: boolean
}

export interface GradeOptions {
  judge?: JudgeCaller
}

function deterministic(d: Dimension, item: CheckInput, spec: GraderSpec): GradeResult {
  const c = d.check
  const decision = () => {
    if (!spec.decision)
      throw new KaizenError('INVALID_INPUT', `dimension "${d.name}" needs the grader's decision settings`)
    return spec.decision
  }
  switch (c.type) {
    case 'exact':
      return exact(item, c)
    case 'contains':
      return contains(item, c)
    case 'regex':
      return regex(item, c)
    case 'json-schema':
      return jsonSchema(item, c)
    case 'numeric':
      return numeric(item, c)
    case 'edit-distance':
      return editDistance(item, c)
    case 'reference-overlap':
      return referenceOverlap(item, c)
    case 'length':
      return length(item, c)
    case 'latency':
      return latency(item, c)
    case 'cost':
      return cost(item, c)
    case 'decision-validity':
      return decisionValidity(item, decision())
    case 'decision-specificity':
      return decisionSpecificity(item, decision(), c.passAt)
    case 'decision-correctness':
      return decisionCorrectness(item, decision(), c.passAt)
    case 'llm-judge':
    case 'llm-pairwise':
      throw new KaizenError('INTERNAL', `${c.type} is not deterministic`)
  }
}

/** Judge hygiene: a judge of the task model's own family is refused when the spec asks. */
export function judgeFamilyProblem(spec: GraderSpec, taskModel: string | undefined): string | null {
  if (!spec.judge?.requireDifferentFamily || !taskModel) return null
  const judge = modelFamily(spec.judge.model)
  const task = modelFamily(taskModel)
  if (judge === null || task === null)
    return (
      `cannot tell the families of judge ${spec.judge.model} and task model ${taskModel} apart; name a judge ` +
      `of a known, different family`
    )
  return judge === task
    ? `the judge ${spec.judge.model} is of the same family (${judge}) as the task model ${taskModel}; choose a ` +
        `judge of another family`
    : null
}

/** The judge requests grading this item will make (for a batch to look its cache up in one query). */
export function judgeRequestsFor(spec: StoredSpec, item: GradeItem): CompletionRequest[] {
  if (spec.kind === 'dq' || !spec.judge || judgeFamilyProblem(spec, item.model)) return []
  const judge = spec.judge
  return spec.dimensions.flatMap((d) => {
    if (d.check.type === 'llm-judge') return [judgeRequest(d.name, d.check, judge, item)]
    if (d.check.type === 'llm-pairwise') {
      const withRef = { ...item, reference: at(item.reference, d.check.referencePath) ?? null }
      if (withRef.reference == null) return []
      return [
        pairwiseRequest(d.name, d.check, judge, withRef, 'answer-first'),
        pairwiseRequest(d.name, d.check, judge, withRef, 'reference-first'),
      ]
    }
    return []
  })
}

export async function grade(spec: StoredSpec, item: GradeItem, options: GradeOptions = {}): Promise<GraderResult> {
  if (spec.kind === 'dq') {
    const ref = item.reference as Parameters<typeof gradeDq>[0]['reference']
    const r = gradeDq({ output: item.output, input: item.input, reference: ref ?? null }, spec)
    return {
      ...r,
      dimensions: r.dimensions,
      gates: {},
      excluded: r.dimensions.correctness.score === null ? ['correctness'] : [],
      transient: false,
    }
  }
  const gates: Record<string, GradeResult> = {}
  if (spec.gates.injection) gates.injection = injectionCheck(item.output, item.input)
  if (spec.gates.pii) gates.pii = piiCheck(item.output, item.input, spec.gates.pii === true ? [] : spec.gates.pii.allow)
  if (spec.gates.refusal) gates.refusal = refusalCheck(item.output, item.input)

  const familyProblem = judgeFamilyProblem(spec, item.model)
  const dimensions: Record<string, GradeResult> = {}
  let transient = false
  await Promise.all(
    spec.dimensions.map(async (d) => {
      if (d.check.type !== 'llm-judge' && d.check.type !== 'llm-pairwise') {
        dimensions[d.name] = deterministic(d, item, spec)
        return
      }
      if (familyProblem) {
        dimensions[d.name] = { pass: false, score: null, reason: `judge not used: ${familyProblem}` }
        return
      }
      if (!options.judge || !spec.judge) {
        dimensions[d.name] = { pass: false, score: null, reason: 'judge error: no judge configured in this process' }
        return
      }
      if (d.check.type === 'llm-pairwise') {
        const r = await comparePairwise(
          d.name,
          d.check,
          spec.judge,
          { ...item, reference: at(item.reference, d.check.referencePath) ?? null },
          options.judge,
        )
        if (r.transient) transient = true
        dimensions[d.name] = { pass: r.pass, score: r.score, reason: r.reason }
        return
      }
      const reply = await options.judge(judgeRequest(d.name, d.check, spec.judge, item))
      const verdict: JudgeResult = readVerdict(d.check, reply)
      if (verdict.transient) transient = true
      const { nullKind: _k, transient: _t, ...rest } = verdict
      dimensions[d.name] = rest
    }),
  )
  const dim = (name: string) => dimensions[name] as GradeResult
  const excluded = spec.dimensions.filter((d) => dim(d.name).score === null).map((d) => d.name)

  const failedGate = Object.entries(gates).find(([, g]) => !g.pass)
  if (failedGate)
    return {
      pass: false,
      score: 0,
      reason: `vetoed by the ${failedGate[0]} gate: ${failedGate[1].reason}`,
      dimensions,
      gates,
      excluded,
      transient,
    }
  const vetoed = spec.dimensions.find((d) => d.veto && dim(d.name).score !== null && !dim(d.name).pass)
  if (vetoed)
    return {
      pass: false,
      score: 0,
      reason: `vetoed by ${vetoed.name}: ${dim(vetoed.name).reason}`,
      dimensions,
      gates,
      excluded,
      transient,
    }

  let weight = 0
  let sum = 0
  for (const d of spec.dimensions) {
    const r = dimensions[d.name] as GradeResult
    if (r.score === null) continue
    weight += d.weight
    sum += d.weight * r.score
  }
  // A veto dimension that could not be graded leaves the answer ungradable: safety is not assumed.
  const vetoUnknown = spec.dimensions.find((d) => d.veto && dim(d.name).score === null)
  if (weight === 0 || vetoUnknown) {
    const why = vetoUnknown ? `${vetoUnknown.name} (a veto) could not be graded` : 'no dimension could be graded'
    return {
      pass: false,
      score: null,
      reason: `${why}: ${excluded.map((n) => `${n}: ${dim(n).reason}`).join('; ')}`,
      dimensions,
      gates,
      excluded,
      transient,
    }
  }
  const score = sum / weight
  const weak = spec.dimensions
    .filter((d) => dim(d.name).score !== null && !dim(d.name).pass)
    .map((d) => `${d.name}: ${dim(d.name).reason}`)
  const note = excluded.length > 0 ? ` (${excluded.length} dimension(s) not graded: ${excluded.join(', ')})` : ''
  return {
    pass: score >= spec.passThreshold,
    score,
    reason: (weak.length === 0 ? 'passes every dimension' : weak.join('; ')) + note,
    dimensions,
    gates,
    excluded,
    transient,
  }
}
