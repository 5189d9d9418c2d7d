/**
 * @module sim/proposer
 * The simulated reflection model: reads the failures' textual feedback, and edits the prompt's
 * instructions the way a reflection LLM would, by adding the instruction the feedback says is
 * missing or removing the one it blames. Its only information is the feedback text, so when the
 * scenario's feedback fidelity is 0 it is no better than random edits (a sanity check the search
 * benchmark uses). It never exceeds the task's clause limit. It reads the parent as the parent's
 * model does: an instruction in a wording that model ignores is missing, and adding it rewords it.
 */
import type { PromptContent } from '../core/prompt.js'
import type { Rng } from '../core/rng.js'
import type { InstructionGroups, ItemScore, Proposal, Proposer } from '../core/search/types.js'
import { normalizeText, type SimWorld } from './world.js'

export interface SimulationProposerOptions {
  /** Probability of an unhelpful "hallucinated" edit instead of following the feedback. */
  hallucination?: number
  /**
   * How a failure's feedback is read: `exact` (the default: the feedback is one hint, as the
   * simulation provider gives it) or `contains` (every hint quoted in it counts, as in a grader's
   * reason that joins several dimensions' verdicts; `kaizen sim serve`).
   */
  feedbackMatch?: 'exact' | 'contains'
}

type Edit = { kind: 'add' | 'remove'; clause: string }

export class SimulationProposer implements Proposer {
  private readonly hallucination: number
  private readonly feedbackMatch: 'exact' | 'contains'
  private readonly hints = new Map<string, Edit>()

  constructor(
    private readonly world: SimWorld,
    options: SimulationProposerOptions = {},
  ) {
    this.hallucination = options.hallucination ?? 0.1
    this.feedbackMatch = options.feedbackMatch ?? 'exact'
    for (const c of world.scenario.clauses) if (c.feedback) this.hints.set(c.feedback, { kind: 'add', clause: c.id })
    for (const c of world.scenario.effects.conflicts) this.hints.set(c.feedback, { kind: 'remove', clause: c.clause })
    for (const m of world.scenario.models)
      if (m.format) this.hints.set(m.format.feedback, { kind: 'add', clause: m.format.clause })
  }

  propose(parent: PromptContent, failures: readonly ItemScore[], rng: Rng): Proposal | null {
    const votes = new Map<string, { edit: Edit; count: number; feedback: string }>()
    for (const f of failures) {
      for (const { edit, hint } of this.hintsIn(f.feedback)) {
        const key = `${edit.kind}:${edit.clause}`
        const v = votes.get(key)
        if (v) v.count++
        else votes.set(key, { edit, count: 1, feedback: hint })
      }
    }
    // What the parent's model acts on: a clause written in a wording the model ignores counts as missing.
    const present = this.world.parseClauses(parent.system, parent.model)
    const useful = [...votes.values()].filter((v) => (v.edit.kind === 'add') !== present.includes(v.edit.clause))
    if (useful.length > 0 && rng.float() >= this.hallucination) {
      const top = Math.max(...useful.map((v) => v.count))
      const choice = rng.pick(useful.filter((v) => v.count === top))
      const system = this.apply(parent.system, choice.edit, rng)
      if (system !== parent.system)
        return { content: { ...parent, system }, operator: 'reflect', feedbackUsed: [choice.feedback] }
    }
    const system = this.randomEdit(parent.system, rng)
    return system === parent.system
      ? null
      : { content: { ...parent, system }, operator: 'random-edit', feedbackUsed: [] }
  }

  /** The hints a failure's feedback gives, each with the edit it asks for (one vote per edit). */
  private hintsIn(feedback: string | null): Array<{ edit: Edit; hint: string }> {
    if (!feedback) return []
    if (this.feedbackMatch === 'exact') {
      const edit = this.hints.get(feedback)
      return edit ? [{ edit, hint: feedback }] : []
    }
    const found = new Map<string, { edit: Edit; hint: string }>()
    for (const [hint, edit] of this.hints)
      if (feedback.includes(hint)) found.set(`${edit.kind}:${edit.clause}`, { edit, hint })
    return [...found.values()]
  }

  /** A blind edit (no feedback): add, remove or swap a clause. */
  mutate(parent: PromptContent, rng: Rng): Proposal | null {
    const system = this.randomEdit(parent.system, rng)
    return system === parent.system
      ? null
      : { content: { ...parent, system }, operator: 'random-edit', feedbackUsed: [] }
  }

  /**
   * Sentences grouped by the scenario clause they state (in any wording, whether or not a model
   * acts on it); a sentence that states none frames the prompt.
   */
  group(found: readonly string[]): InstructionGroups {
    const byClause = new Map<string, string[]>()
    const fixed: string[] = []
    for (const s of found) {
      const clause = this.world.parseClauses(s)[0]
      if (clause === undefined) fixed.push(s)
      else byClause.set(clause, [...(byClause.get(clause) ?? []), s])
    }
    return { instructions: [...byClause.values()], fixed }
  }

  private apply(system: string, edit: Edit, rng: Rng): string {
    if (edit.kind === 'remove') return this.removeClause(system, edit.clause)
    // Already written but not acted on (a wording the model ignores): say it another way.
    const norm = normalizeText(system)
    const written = this.paraphrases(edit.clause).filter((p) => norm.includes(normalizeText(p)))
    const others = this.paraphrases(edit.clause).filter((p) => !written.includes(p))
    const base = written.length > 0 && others.length > 0 ? this.removeClause(system, edit.clause) : system
    let out = `${base.trim()} ${rng.pick(others.length > 0 ? others : this.paraphrases(edit.clause))}`
    const limit = this.world.scenario.task.maxClauses
    const present = this.world.parseClauses(out)
    if (present.length > limit) out = this.removeClause(out, rng.pick(present.filter((c) => c !== edit.clause)))
    return out
  }

  /** Add a random clause, remove one, or swap a paraphrase. */
  randomEdit(system: string, rng: Rng): string {
    const present = this.world.parseClauses(system)
    const absent = this.world.scenario.clauses.map((c) => c.id).filter((id) => !present.includes(id))
    const limit = this.world.scenario.task.maxClauses
    const moves = [
      ...(absent.length > 0 && present.length < limit ? ['add'] : []),
      ...(present.length > 0 ? ['remove', 'swap'] : []),
    ]
    if (moves.length === 0) return system
    const move = rng.pick(moves)
    if (move === 'add') return this.apply(system, { kind: 'add', clause: rng.pick(absent) }, rng)
    const clause = rng.pick(present)
    const without = this.removeClause(system, clause)
    return move === 'remove' ? without : `${without.trim()} ${rng.pick(this.paraphrases(clause))}`
  }

  private paraphrases(clause: string): string[] {
    return this.world.scenario.clauses.find((c) => c.id === clause)?.paraphrases ?? []
  }

  /** Remove every paraphrase of the clause from the text (case-insensitive, whole sentence). */
  private removeClause(system: string, clause: string): string {
    let out = system
    for (const p of this.paraphrases(clause)) {
      const escaped = p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+')
      out = out.replace(new RegExp(`\\s*${escaped}`, 'gi'), '')
    }
    // Instructions cannot become empty: keep the prompt as it was.
    return out.trim() === '' ? system : out.trim()
  }
}
