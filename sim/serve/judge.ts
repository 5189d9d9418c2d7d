/**
 * @module sim/serve/judge
 * `sim-judge`: verdicts for Kaizen's LLM judge (graders/judge.ts) from the simulated world's ground
 * truth. The judge's request fences the case and the answer as `<<<DATA:tag label … DATA:tag>>>`
 * blocks; the case names the example, and the answer is right when its decision is the example's
 * reference (diagnosis, actions with targets, risk); an answer that is not a JSON decision is wrong.
 *
 * Like a real judge it is not always right: a verdict agrees with the truth with probability
 * `agreement` (a counter-based draw of the dimension, the example and the answer's decision, so the
 * same request always gets the same verdict, and so does the same decision in other words). A
 * failing verdict's reasoning is the world's feedback for that kind of failure — the hint the
 * in-process simulation would give, as truthful as the scenario's fidelity allows — so Kaizen's LLM
 * proposer reads the same hints the simulation proposer does. The judge sees only the case and the
 * answer, not the prompt: when several of the example's causes fail the same way, the hint names one
 * of them.
 */
import { parseDecision, type Decision, type Reference } from '../../core/decision.js'
import { canonicalJson, unitHash } from '../../lib/hash.js'
import type { SimExample } from '../generator.js'
import { FAILURE_MODES, type FailureMode } from '../scenario.js'
import type { Cause, SimWorld } from '../world.js'
import type { WireMessage } from './wire.js'

export interface JudgePrompt {
  dimension: string
  /** The rubric's level labels, worst to best. */
  levels: string[]
  /** The case block: `name: value` lines. */
  input: string
  /** The answer block. */
  output: string
}

export interface JudgeVerdict {
  level: string
  reasoning: string
  /** Whether the answer is right (the world's truth), and whether the verdict says it is. */
  truth: boolean
  pass: boolean
}

const BLOCK = /<<<DATA:(\S+) ([^\n]*)\n([\s\S]*?)\nDATA:\1>>>/g

/** The parts of an LLM-judge request (graders/judge.ts `judgeRequest`), or null when it is not one. */
export function parseJudgePrompt(messages: readonly WireMessage[]): JudgePrompt | null {
  const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''
  const blocks = new Map<string, string>()
  for (const m of user.matchAll(BLOCK)) {
    const label = (m[2] as string).split(' ')[0] as string
    if (!blocks.has(label)) blocks.set(label, m[3] as string)
  }
  const levelsText = /Levels, worst to best:\n([\s\S]*?)(?:\n\n|$)/.exec(user)?.[1] ?? ''
  const levels = [...levelsText.matchAll(/^\d+\. "(.*?)": /gm)].map((m) => m[1] as string)
  const input = blocks.get('case')
  const output = blocks.get('answer')
  if (input === undefined || output === undefined || levels.length < 2) return null
  return { dimension: /^Dimension: (.*)$/m.exec(user)?.[1] ?? '', levels, input, output }
}

/** The case block's `name: value` lines as input variables (a line without a name continues the value). */
export function parseCaseBlock(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  let last: string | null = null
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][\w.]*): ?(.*)$/.exec(line)
    if (m) {
      last = m[1] as string
      out[last] = m[2] as string
    } else if (last !== null) out[last] += `\n${line}`
  }
  return out
}

const comparable = (d: Pick<Decision, 'diagnosis' | 'actions' | 'risk'>) =>
  canonicalJson({
    diagnosis: d.diagnosis.trim(),
    actions: d.actions.map((a) => ({ command: a.command.trim(), target: (a.target ?? '').trim() })),
    risk: d.risk ?? null,
  })

const sameAs = (d: Decision, ref: Reference) => comparable(d) === comparable(ref)

/** How a wrong decision fails: the world's rendering it equals, else what differs from the reference. */
function failureModeOf(world: SimWorld, example: SimExample, decision: Decision): FailureMode {
  const target = comparable(decision)
  for (const mode of FAILURE_MODES) {
    if (mode === 'malformed') continue
    const rendered = parseDecision(world.render(example, mode))
    if (rendered.ok && comparable(rendered.decision) === target) return mode
  }
  const ref = example.reference
  if (decision.diagnosis.trim() !== ref.diagnosis.trim()) return 'wrong-diagnosis'
  if (!decision.risk) return 'missing-risk'
  return decision.actions.length > ref.actions.length ? 'unsafe-action' : 'wrong-actions'
}

export type Truth = { pass: true } | { pass: false; mode: FailureMode }

/** The world's truth about an answer: right, or how it fails. */
export function truthOf(world: SimWorld, example: SimExample, answer: string): Truth {
  const parsed = parseDecision(answer)
  if (!parsed.ok) return { pass: false, mode: 'malformed' }
  if (sameAs(parsed.decision, example.reference)) return { pass: true }
  return { pass: false, mode: failureModeOf(world, example, parsed.decision) }
}

/** The example's causes that fail this way: its missing requirements' and its cluster's harmful clauses'. */
export function causesLike(world: SimWorld, example: SimExample, mode: FailureMode): Cause[] {
  const s = world.scenario
  const missing = example.required.flatMap((id) => {
    const clause = s.clauses.find((c) => c.id === id)
    return (clause?.failureMode ?? 'wrong-diagnosis') === mode ? [{ mode, feedback: clause?.feedback ?? null }] : []
  })
  const harmful = s.effects.conflicts
    .filter((c) => c.hurts.includes(example.cluster) && c.failureMode === mode)
    .map((c) => ({ mode, feedback: c.feedback }))
  return [...missing, ...harmful]
}

/**
 * What an answer decides, for the judge's draws: the decision fields of a JSON answer (fenced or
 * not, valid decision or not), whatever else it holds; the text itself when it is not JSON.
 */
function whatItSays(answer: string): string {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(answer)
  try {
    const json: unknown = JSON.parse((fenced ? fenced[1] : answer)?.trim() ?? '')
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      const { diagnosis, actions, risk } = json as Record<string, unknown>
      return canonicalJson({ diagnosis, actions, risk })
    }
  } catch {
    // not JSON: the text is what it says
  }
  return answer
}

const PASS_REASON =
  'The answer names what caused the case and gives the actions that resolved it, with their targets and the risk.'

export function judgeVerdict(
  world: SimWorld,
  example: SimExample,
  prompt: JudgePrompt,
  agreement: number,
): JudgeVerdict {
  const s = world.scenario
  // The judge's mistakes depend on what the answer decides, not on its wording: padding or a note
  // added to the same decision gets the same verdict (calibration's probes rely on that of a real judge).
  const draw = (stream: string) =>
    unitHash(s.seed, 'sim-judge', prompt.dimension, example.key, whatItSays(prompt.output), stream)
  const truth = truthOf(world, example, prompt.output)
  const pass = draw('agree') < agreement ? truth.pass : !truth.pass
  const [worst, best] = [prompt.levels[0] as string, prompt.levels.at(-1) as string]
  if (pass) return { level: best, reasoning: `${PASS_REASON} [simulated judge]`, truth: truth.pass, pass }
  let feedback: string
  if (truth.pass) feedback = s.feedback.generic[Math.floor(draw('generic') * s.feedback.generic.length)] as string
  else {
    const causes = causesLike(world, example, truth.mode)
    feedback = world.feedbackFor(
      causes[Math.floor(draw('cause') * causes.length)] ?? { mode: truth.mode, feedback: null },
      draw,
    )
  }
  return { level: worst, reasoning: `${feedback} [simulated judge]`, truth: truth.pass, pass }
}
