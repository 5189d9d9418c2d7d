/**
 * @module sim/world
 * The hidden model behind the simulation provider. A prompt's instructions are parsed back into
 * the scenario's clauses (exact paraphrase matching, minus the wordings the tier ignores); the
 * probability that the simulated model answers an example well is a logistic function of the
 * clauses present (requirements of the example's cluster, generic wins, conflicts, synergy pairs,
 * a length cost) and the model tier (its ability, its own clause effects, its need of a format
 * instruction).
 *
 * Every draw is counter-based: sha256(seed, prompt text, example, replicate, stream), so a run
 * replays exactly, yet a different prompt text (even a paraphrase) is a different draw.
 */
import type { Decision } from '../core/decision.js'
import { normalHash, unitHash } from '../lib/hash.js'
import { drawVariables, generateExample, renderReference, type SimExample } from './generator.js'
import type { FailureMode, Scenario, ScenarioCluster, ScenarioModel } from './scenario.js'
import { approxTokens, renderTemplate } from '../core/prompt.js'

/** Lower-case words separated by single spaces, padded so matches respect word boundaries. */
export function normalizeText(text: string): string {
  return ` ${text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()} `
}

export interface SimResponse {
  success: boolean
  /** Exact probability of success for this prompt, example and model. */
  probability: number
  failureMode: FailureMode | null
  /** Textual feedback on a failure, as truthful as the scenario's fidelity allows. */
  feedback: string | null
  /** What the simulated model "says": a JSON decision, or prose for malformed answers. */
  text: string
  error: boolean
}

/** What explains a failure: its failure mode and the truthful feedback naming it (null: none). */
export type Cause = { mode: FailureMode; feedback: string | null }

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x))

export class SimWorld {
  private readonly phrases: Array<{ clause: string; text: string }>
  private readonly parseCache = new Map<string, string[]>()
  private readonly exampleCache = new Map<string, SimExample>()
  private readonly summaryPatterns: Array<{ cluster: string; pattern: RegExp }>
  readonly fidelity: number

  constructor(
    readonly scenario: Scenario,
    options: { fidelity?: number } = {},
  ) {
    this.fidelity = options.fidelity ?? scenario.feedback.fidelity
    this.phrases = scenario.clauses.flatMap((c) => c.paraphrases.map((p) => ({ clause: c.id, text: normalizeText(p) })))
    // A cluster is recognised in text by its summary templates, with every {{variable}} a wildcard.
    this.summaryPatterns = scenario.clusters.flatMap((c) =>
      c.summaries.map((t) => ({
        cluster: c.id,
        pattern: new RegExp(
          t
            .split(/\{\{[^}]*\}\}/)
            .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
            .join('.+?'),
        ),
      })),
    )
  }

  /** Instructions are read outside the demonstrations' inputs. */
  private withoutDemos(promptText: string, demos: readonly string[]): string {
    let out = promptText
    for (const d of demos) out = out.split(d).join(' ')
    return out
  }

  /** The cluster a demonstration's input belongs to, recognised from its text (null: none). */
  clusterOf(text: string): string | null {
    return this.summaryPatterns.find((p) => p.pattern.test(text))?.cluster ?? null
  }

  /**
   * Clause ids whose paraphrase appears in the text, in scenario order. With a model: only the
   * wordings that tier acts on (`models[].ignores`); the others are read as absent.
   */
  parseClauses(text: string, modelId?: string): string[] {
    const cacheKey = modelId === undefined ? text : `${modelId}\u0000${text}`
    const cached = this.parseCache.get(cacheKey)
    if (cached) return cached
    const norm = normalizeText(text)
    const ignored = modelId === undefined ? [] : this.model(modelId).ignores
    const found = new Set<string>()
    for (const p of this.phrases) {
      if (!norm.includes(p.text)) continue
      const ignores = (g: (typeof ignored)[number]) =>
        g.clause === p.clause && (g.phrasing === undefined || normalizeText(g.phrasing) === p.text)
      if (ignored.some(ignores)) continue
      found.add(p.clause)
    }
    const out = this.scenario.clauses.map((c) => c.id).filter((id) => found.has(id))
    if (this.parseCache.size > 50_000) this.parseCache.clear()
    this.parseCache.set(cacheKey, out)
    return out
  }

  example(key: string): SimExample {
    let ex = this.exampleCache.get(key)
    if (!ex) {
      ex = generateExample(this.scenario, key)
      if (this.exampleCache.size > 200_000) this.exampleCache.clear()
      this.exampleCache.set(key, ex)
    }
    return ex
  }

  model(id: string): ScenarioModel {
    const m = this.scenario.models.find((x) => x.id === id)
    if (!m)
      throw new Error(
        `simulated model "${id}" is not in scenario ${this.scenario.id} ` +
          `(${this.scenario.models.map((x) => x.id).join(', ')})`,
      )
    return m
  }

  /** Tokens a tier counts for a request and its answer: the shared count (~4 characters a token) × its `tokens`. */
  usage(modelId: string, promptText: string, answerText: string): { inputTokens: number; outputTokens: number } {
    const t = this.model(modelId).tokens
    return {
      inputTokens: Math.ceil(approxTokens(promptText) * t.input),
      outputTokens: Math.ceil(approxTokens(answerText) * t.output),
    }
  }

  /** The logit of success, term by term (exposed for tests and the benchmark's exact objective). */
  logit(
    example: SimExample,
    clauses: readonly string[],
    modelId: string,
    demoClusters: readonly (string | null)[] = [],
  ): number {
    const s = this.scenario
    const e = s.effects
    const present = new Set(clauses)
    let x = example.base + this.model(modelId).ability
    for (const r of example.required) if (present.has(r)) x += e.requirementWeight
    for (const c of present) x += e.clusterNoiseSd * normalHash(s.seed, 'cluster-effect', example.cluster, c)
    for (const g of e.generic) if (present.has(g.clause)) x += g.weight
    for (const c of e.conflicts) {
      if (!present.has(c.clause)) continue
      if (c.hurts.includes(example.cluster)) x -= c.weight
      else if (c.helps.includes(example.cluster)) x += c.helpWeight
    }
    for (const syn of e.synergies) {
      const n = (present.has(syn.clauses[0]) ? 1 : 0) + (present.has(syn.clauses[1]) ? 1 : 0)
      if (n === 2) x += syn.together
      else if (n === 1) x += syn.alone
    }
    x -= e.length.costPerClause * Math.max(0, present.size - e.length.freeClauses)
    const model = this.model(modelId)
    for (const m of model.clauseEffects) if (present.has(m.clause)) x += m.weight
    if (model.format && !present.has(model.format.clause)) x -= model.format.weight
    const own = demoClusters.filter((c) => c === example.cluster).length
    x += e.demonstrations.weight * 2 * (1 - 0.5 ** own) - e.demonstrations.costPerDemo * demoClusters.length
    return x
  }

  probability(
    example: SimExample,
    clauses: readonly string[],
    modelId: string,
    demoClusters: readonly (string | null)[] = [],
  ): number {
    return sigmoid(this.logit(example, clauses, modelId, demoClusters))
  }

  /** What explains a failure: missing requirements, harmful clauses and a missing format instruction, else noise. */
  private causes(example: SimExample, present: ReadonlySet<string>, modelId: string): Cause[] {
    const s = this.scenario
    const out: Cause[] = []
    const format = this.model(modelId).format
    if (format && !present.has(format.clause)) out.push({ mode: 'malformed', feedback: format.feedback })
    for (const r of example.required) {
      if (present.has(r)) continue
      const clause = s.clauses.find((c) => c.id === r)
      out.push({ mode: clause?.failureMode ?? 'wrong-diagnosis', feedback: clause?.feedback ?? null })
    }
    for (const c of s.effects.conflicts) {
      if (present.has(c.clause) && c.hurts.includes(example.cluster))
        out.push({ mode: c.failureMode, feedback: c.feedback })
    }
    return out
  }

  private noiseMode(draw: number): FailureMode {
    const entries = Object.entries(this.scenario.effects.noiseFailureModes).filter(([, w]) => (w ?? 0) > 0) as Array<
      [FailureMode, number]
    >
    const total = entries.reduce((a, [, w]) => a + w, 0)
    let x = draw * total
    for (const [mode, w] of entries) {
      x -= w
      if (x < 0) return mode
    }
    return (entries[entries.length - 1] as [FailureMode, number])[0]
  }

  /**
   * The simulated model's answer to one request.
   * @param promptText every message the model sees, concatenated (instructions and input)
   * @param demos the demonstrations' inputs as the model saw them (few-shot turns before the input)
   */
  respond(
    promptText: string,
    example: SimExample,
    modelId: string,
    replicate: number,
    demos: readonly string[] = [],
  ): SimResponse {
    const seed = this.scenario.seed
    const draw = (stream: string) => unitHash(seed, modelId, promptText, example.key, replicate, stream)
    const clauses = this.parseClauses(demos.length > 0 ? this.withoutDemos(promptText, demos) : promptText, modelId)
    const probability = this.probability(
      example,
      clauses,
      modelId,
      demos.map((d) => this.clusterOf(d)),
    )
    if (draw('error') < this.model(modelId).errorRate) {
      return { success: false, probability, failureMode: null, feedback: null, text: '', error: true }
    }
    if (draw('success') < probability) {
      return {
        success: true,
        probability,
        failureMode: null,
        feedback: null,
        text: this.render(example, null),
        error: false,
      }
    }
    const causes = this.causes(example, new Set(clauses), modelId)
    const cause: Cause =
      causes.length > 0
        ? (causes[Math.floor(draw('cause') * causes.length)] as Cause)
        : { mode: this.noiseMode(draw('noise')), feedback: null }
    return {
      success: false,
      probability,
      failureMode: cause.mode,
      feedback: this.feedbackFor(cause, draw),
      text: this.render(example, cause.mode),
      error: false,
    }
  }

  /**
   * With probability = fidelity the feedback names the true cause; otherwise it misleads or says nothing useful.
   * `draw` gives the counter-based uniforms (streams `fb-generic`, `fb-truth`, `fb-mislead`, `fb-pick`).
   */
  feedbackFor(cause: Cause, draw: (stream: string) => number): string {
    const s = this.scenario
    const generic = s.feedback.generic[Math.floor(draw('fb-generic') * s.feedback.generic.length)] as string
    if (draw('fb-truth') < this.fidelity) return cause.feedback ?? generic
    const hints = [
      ...s.clauses.flatMap((c) => (c.feedback ? [c.feedback] : [])),
      ...s.effects.conflicts.map((c) => c.feedback),
    ]
    if (hints.length > 0 && draw('fb-mislead') < 0.5) return hints[Math.floor(draw('fb-pick') * hints.length)] as string
    return generic
  }

  /** A plausible wrong answer: the reference of another cluster, for this case's service. */
  private decoy(example: SimExample): { reference: SimExample['reference']; cluster: ScenarioCluster } {
    const others = this.scenario.clusters.filter((c) => c.id !== example.cluster)
    if (others.length === 0)
      return { reference: example.reference, cluster: this.scenario.clusters[0] as ScenarioCluster }
    const cluster = others[
      Math.floor(unitHash(this.scenario.seed, 'decoy', example.key) * others.length)
    ] as ScenarioCluster
    const shared = Object.fromEntries(Object.keys(this.scenario.variables).map((k) => [k, example.variables[k]]))
    const vars = drawVariables(this.scenario, cluster, `${example.key}#decoy`, shared)
    return { reference: renderReference(cluster, vars), cluster }
  }

  /** Render the answer text for an outcome (null = success). */
  render(example: SimExample, mode: FailureMode | null): string {
    const s = this.scenario
    const ref = example.reference
    const pick = <T>(items: readonly T[], stream: string) =>
      items[Math.floor(unitHash(s.seed, 'render', example.key, stream) * items.length)] as T
    const fill = (t: string) => renderTemplate(t, example.variables, 'a scenario output template')
    let decision: Decision
    switch (mode) {
      case null:
        decision = { diagnosis: ref.diagnosis, actions: ref.actions, risk: ref.risk }
        break
      case 'wrong-diagnosis': {
        const d = this.decoy(example).reference
        decision = { diagnosis: d.diagnosis, actions: d.actions, risk: d.risk }
        break
      }
      case 'wrong-actions':
        decision = { diagnosis: ref.diagnosis, actions: this.decoy(example).reference.actions, risk: ref.risk }
        break
      case 'vague-actions':
        decision = {
          diagnosis: ref.diagnosis,
          actions: [pick(s.output.vagueActions, 'vague-1'), pick(s.output.vagueActions, 'vague-2')]
            .filter((a, i, all) => all.indexOf(a) === i)
            .map((a) => ({ command: fill(a), target: '' })),
          risk: ref.risk,
        }
        break
      case 'missing-risk':
        decision = { diagnosis: ref.diagnosis, actions: ref.actions.slice(0, Math.max(1, ref.actions.length - 1)) }
        break
      case 'unsafe-action': {
        const u = pick(s.output.unsafeActions, 'unsafe')
        decision = {
          diagnosis: ref.diagnosis,
          actions: [...ref.actions, { command: fill(u.command), target: fill(u.target) }],
          risk: ref.risk,
        }
        break
      }
      case 'malformed':
        return fill(pick(s.output.malformed, 'malformed'))
    }
    return JSON.stringify(decision, null, 2)
  }
}
