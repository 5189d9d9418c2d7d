/**
 * @module sim/serve/proposer
 * `sim-proposer`: rewrites for Kaizen's LLM proposer (proposers/llm.ts) by the simulation proposer's
 * own logic (sim/proposer.ts): a reflection request ("Current instructions: <<< … >>>", failures
 * with "Feedback: …") adds the instruction the feedback says is missing or removes the one it
 * blames; a blind-edit request ("Instructions: <<< … >>>", "Change: …") gets the simulation
 * proposer's random edit. Hints are found inside the feedback (a grader's reason quotes the judge's
 * reasoning). The instructions are read as the model the request names reads them (a wording that
 * tier ignores is missing, so the rewrite rewords it), and "the output is not JSON" from a tier that
 * needs a plain format instruction asks for that instruction. The draws are seeded from the request text:
 * the same request, the same rewrite. A grouping request ("Sentences:" and numbered sentences; designed
 * search) is answered with the sentences grouped by the clause they state, those stating none the frame.
 */
import type { PromptContent } from '../../core/prompt.js'
import { Rng } from '../../core/rng.js'
import { SimulationProposer } from '../proposer.js'
import { normalizeText, type SimWorld } from '../world.js'
import type { WireMessage } from './wire.js'

export interface ProposerPrompt {
  kind: 'reflect' | 'mutate' | 'group'
  /** The instructions to improve (a grouping request: its sentences, joined). */
  parent: string
  /** A grouping request's numbered sentences, in order; otherwise empty. */
  sentences: string[]
  /** The model the request says runs the instructions (proposers/llm.ts `forModel`), as named there. */
  model: string | null
  /** Each shown failure's feedback ("(none)" left out). */
  feedback: string[]
  /** The whole request, the seed of the draws. */
  text: string
}

export interface Rewrite {
  critique: string
  instructions: string
}

/** The first line of the LLM proposer's grouping request (proposers/llm.ts `GROUPING_REQUEST`). */
const GROUPING_REQUEST = 'Sentences:'

const FEEDBACK = /\nFeedback: ([\s\S]*?)(?=\n\nCase \d+ \(score [^)]*\):\n|\n\nReply with JSON: |$)/g

/** The parts of an LLM-proposer request, or null when it is not one. */
export function parseProposerPrompt(messages: readonly WireMessage[]): ProposerPrompt | null {
  const user = messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''
  const model = /^The instructions are run by the model (\S+)\.$/m.exec(user)?.[1] ?? null
  const text = messages.map((m) => `${m.role}: ${m.content}`).join('\n')
  if (user.startsWith(`${GROUPING_REQUEST}\n`)) {
    const list = user.slice(GROUPING_REQUEST.length + 1).split('\n\n')[0] as string
    const sentences = [...list.matchAll(/^(\d+)\. (.*)$/gm)].map((m) => m[2] as string)
    return { kind: 'group', parent: sentences.join(' '), sentences, model, feedback: [], text }
  }
  const parent = /<<<\n([\s\S]*?)\n>>>/.exec(user)?.[1]
  if (parent === undefined) return null
  const kind = user.startsWith('Current instructions:') ? 'reflect' : user.startsWith('Instructions:') ? 'mutate' : null
  if (kind === null) return null
  const feedback =
    kind === 'reflect'
      ? [...user.matchAll(FEEDBACK)].map((m) => (m[1] as string).trim()).filter((f) => f !== '' && f !== '(none)')
      : []
  return { kind, parent, sentences: [], model, feedback, text }
}

/** The scenario a proposer request is about: its seed instructions, clauses and hints found in the request. */
export function pickWorld(worlds: readonly SimWorld[], prompt: ProposerPrompt): SimWorld {
  const parent = normalizeText(prompt.parent)
  const score = (w: SimWorld) => {
    const s = w.scenario
    const hints = [
      ...s.clauses.flatMap((c) => (c.feedback ? [c.feedback] : [])),
      ...s.effects.conflicts.map((c) => c.feedback),
    ]
    const seed = parent.includes(normalizeText(s.task.prompt.system)) ? 100 : 0
    return (
      seed +
      w.parseClauses(prompt.parent).length +
      hints.filter((h) => prompt.feedback.some((f) => f.includes(h))).length
    )
  }
  let best = worlds[0] as SimWorld
  for (const w of worlds.slice(1)) if (score(w) > score(best)) best = w
  return best
}

/** The simulation proposer's rewrite of the request's instructions (unchanged: it found no edit). */
/**
 * The answer to a grouping request (proposers/llm.ts `group`): the sentence numbers of each clause of
 * the world the sentences state, and of the sentences that state none (the frame).
 */
export function grouping(
  world: SimWorld,
  prompt: ProposerPrompt,
): { instructions: Array<{ sentences: number[] }>; frame: number[] } {
  const groups = new SimulationProposer(world).group(prompt.sentences)
  const number = (s: string) => prompt.sentences.indexOf(s) + 1
  return {
    instructions: groups.instructions.map((g) => ({ sentences: g.map(number) })),
    frame: groups.fixed.map(number),
  }
}

export function rewrite(world: SimWorld, prompt: ProposerPrompt, options: { hallucination?: number } = {}): Rewrite {
  const proposer = new SimulationProposer(world, { ...options, feedbackMatch: 'contains' })
  const rng = Rng.fromSeed('sim-proposer', world.scenario.seed, prompt.text)
  // The instructions are read as the model that runs them reads them (a tier of this world, named
  // `openai:sim-small` or `incident-triage/sim-small` by the task); another name: the task's own model.
  const tier = prompt.model
    ?.replace(/^[a-z]+:/, '')
    .split('/')
    .at(-1)
  const parent: PromptContent = {
    ...world.scenario.task.prompt,
    ...(tier && world.scenario.models.some((m) => m.id === tier) ? { model: tier } : {}),
    system: prompt.parent,
  }
  // "The output is not JSON" (a JSON-schema check's reason), read for a tier that needs a plain
  // format instruction, asks for that instruction (as a reflection model told the model would read it).
  const format = world.scenario.models.find((m) => m.id === parent.model)?.format
  const failures = prompt.feedback.map((f, i) => ({
    itemId: `case-${i + 1}`,
    score: 0,
    feedback: format && /\bnot (valid )?JSON\b/i.test(f) ? `${f} ${format.feedback}` : f,
  }))
  const proposal = prompt.kind === 'reflect' ? proposer.propose(parent, failures, rng) : proposer.mutate(parent, rng)
  if (!proposal) return { critique: '[simulation] no edit found for these instructions', instructions: prompt.parent }
  const critique =
    proposal.operator === 'reflect'
      ? `[simulation] the feedback says: ${proposal.feedbackUsed.join(' ')}`
      : '[simulation] no feedback names an edit these instructions lack; one blind edit'
  return { critique, instructions: proposal.content.system }
}
