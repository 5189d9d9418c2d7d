/**
 * @module proposers/llm
 * The LLM proposer: meta-prompts that critique a prompt from its failures and rewrite it
 * (reflection, ProTeGi's "textual gradients" and GEPA's reflective mutation), or make one blind
 * change (for the strategies that use no feedback). Any configured provider can serve it; calls go
 * through the model client, so they are cached, limited, retried and paid for (purpose
 * `proposer`, the campaign's second ledger). Answers are structured (JSON schema / tool call) and
 * validated with zod; a proposal that breaks the prompt's template variables, passes the sentence
 * or token cap, or is empty is dropped (null), never shipped.
 */
import { z } from 'zod'
import { templateVariables, type PromptContent } from '../core/prompt.js'
import type { Rng } from '../core/rng.js'
import { sentences } from '../core/search/edits.js'
import type { InstructionGroups, ItemScore, Proposal, Proposer } from '../core/search/types.js'
import { replyJson } from '../graders/judge.js'
import type { CallContext, ModelClient } from '../providers/client.js'
import { approxTokens } from '../core/prompt.js'
import type { CompletionRequest } from '../providers/types.js'
import type { Redactor } from '../privacy/redact.js'

export interface Failure {
  /** The case the prompt failed on (input variables). */
  input: Record<string, string>
  score: number | null
  /** What the grader (or a person) said was wrong. */
  feedback: string | null
}

export interface LlmProposerSettings {
  model: string
  maxSentences: number
  maxPromptTokens: number
  /** Failures shown to the proposer per reflection. */
  maxFailures?: number
  maxTokens?: number
}

const REWRITE = {
  type: 'object',
  properties: {
    critique: { type: 'string', description: 'What in the instructions caused these failures (the textual gradient).' },
    instructions: { type: 'string', description: 'The complete revised instructions.' },
  },
  required: ['critique', 'instructions'],
  additionalProperties: false,
} as const

const Rewrite = z.object({ critique: z.string(), instructions: z.string().min(1) })

const GROUPING = {
  type: 'object',
  properties: {
    instructions: {
      type: 'array',
      description: 'One entry per instruction: the numbers of the sentences that give it.',
      items: {
        type: 'object',
        properties: { sentences: { type: 'array', items: { type: 'integer' } } },
        required: ['sentences'],
        additionalProperties: false,
      },
    },
    frame: {
      type: 'array',
      description: 'The numbers of the sentences that frame the prompt rather than instruct.',
      items: { type: 'integer' },
    },
  },
  required: ['instructions', 'frame'],
  additionalProperties: false,
} as const

const Grouping = z.object({
  instructions: z.array(z.object({ sentences: z.array(z.number().int()) })),
  frame: z.array(z.number().int()),
})

/** The first line of a grouping request (`kaizen sim serve` recognises it). */
export const GROUPING_REQUEST = 'Sentences:'

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s)

/**
 * The model the instructions are written for: models differ in what they follow (one needs a plain
 * format instruction, another ignores a wording), so the proposer is told which one reads them.
 */
export const forModel = (model: string) => `The instructions are run by the model ${model}.`

export class LlmProposer implements Proposer {
  constructor(
    private readonly models: ModelClient,
    private readonly settings: LlmProposerSettings,
    private readonly ctx: Omit<CallContext, 'purpose'>,
    /** Keeps personal data and secrets out of what the proposer is sent (failures quote traffic and answers). */
    private readonly redactor?: Redactor,
    /** The input variables of a scored item, shown with its failure (`propose`); unknown: none shown. */
    private readonly inputOf: (itemId: string) => Record<string, string> | undefined = () => undefined,
  ) {}

  private request(
    system: string,
    user: string,
    seed: number,
    format: { name: string; description: string; schema: object } = {
      name: 'rewrite',
      description: 'The critique and the revised instructions.',
      schema: REWRITE,
    },
    temperature = 0.7,
  ): CompletionRequest {
    return {
      model: this.settings.model,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: user },
      ],
      // A little temperature, and the draw as the replicate: each proposal is its own cached call.
      params: { temperature, maxTokens: this.settings.maxTokens ?? 1_500 },
      replicate: seed,
      responseFormat: { ...format, schema: format.schema as Record<string, unknown> },
    }
  }

  private async ask<T>(request: CompletionRequest, schema: z.ZodType<T>): Promise<T | null> {
    const sent = this.redactor ? await this.redactor.request(request) : request
    const { record } = await this.models.complete(sent, { ...this.ctx, purpose: 'proposer' })
    if (record.error !== null || record.output === null) return null
    const parsed = schema.safeParse(replyJson(record.output))
    return parsed.success ? parsed.data : null
  }

  /** Keep the prompt usable: same template variables, within the caps, actually different. */
  private accept(parent: PromptContent, instructions: string): PromptContent | null {
    const system = instructions.trim()
    if (system === '' || system === parent.system.trim()) return null
    if (sentences(system).length > this.settings.maxSentences) return null
    if (approxTokens(system) > this.settings.maxPromptTokens) return null
    const before = new Set(templateVariables(parent.system))
    const after = new Set(templateVariables(system))
    if (before.size !== after.size || [...before].some((v) => !after.has(v))) return null
    return { ...parent, system }
  }

  /** Reflection on scored items: `reflect` with each failure's input looked up. */
  propose(parent: PromptContent, failures: readonly ItemScore[], rng: Rng): Promise<Proposal | null> {
    const shown = failures.map((f) => ({ input: this.inputOf(f.itemId) ?? {}, score: f.score, feedback: f.feedback }))
    return this.reflect(parent, shown, rng)
  }

  async reflect(parent: PromptContent, failures: readonly Failure[], rng: Rng): Promise<Proposal | null> {
    const shown = failures.slice(0, this.settings.maxFailures ?? 4)
    const cases = shown
      .map(
        (f, i) =>
          `Case ${i + 1} (score ${f.score === null ? 'n/a' : f.score.toFixed(2)}):\n${clip(
            Object.entries(f.input)
              .map(([k, v]) => `${k}: ${v}`)
              .join('\n'),
            1_200,
          )}\nFeedback: ${f.feedback ?? '(none)'}`,
      )
      .join('\n\n')
    const system =
      'You improve the instructions of an LLM prompt used in production. ' +
      'You read cases where the current instructions produced a poor answer, ' +
      'with feedback on what was wrong, and write a critique of the instructions, ' +
      'then revised instructions that fix the general cause. ' +
      'Do not copy case details into the instructions; write general rules, for the model that runs them. ' +
      'Keep every {{variable}} placeholder. ' +
      `Use at most ${this.settings.maxSentences} sentences.`
    const user =
      `Current instructions:\n<<<\n${parent.system}\n>>>\n\n${forModel(parent.model)}\n\n` +
      `Failures:\n\n${cases}\n\n` +
      'Reply with JSON: {"critique": "...", "instructions": "..."}.'
    const answer = await this.ask(this.request(system, user, rng.int(1_000_000)), Rewrite)
    const content = answer ? this.accept(parent, answer.instructions) : null
    return content
      ? { content, operator: 'llm-reflect', feedbackUsed: shown.map((f) => f.feedback ?? '').filter(Boolean) }
      : null
  }

  async mutate(parent: PromptContent, rng: Rng): Promise<Proposal | null> {
    const moves = [
      'add one new sentence that could help',
      'remove the least useful sentence',
      'rephrase one sentence to be more specific',
    ]
    const move = rng.pick(moves)
    const system =
      'You edit the instructions of an LLM prompt. ' +
      'Make exactly the one change asked for and keep everything else as it is. ' +
      `Keep every {{variable}} placeholder. Use at most ${this.settings.maxSentences} sentences.`
    const user =
      `Instructions:\n<<<\n${parent.system}\n>>>\n\n${forModel(parent.model)}\n\nChange: ${move}.\n\n` +
      'Reply with JSON: {"critique": "<the change you made>", "instructions": "..."}.'
    const answer = await this.ask(this.request(system, user, rng.int(1_000_000)), Rewrite)
    const content = answer ? this.accept(parent, answer.instructions) : null
    return content ? { content, operator: 'llm-edit', feedbackUsed: [] } : null
  }

  /**
   * Sentences grouped by the instruction they give (designed search, core/search/designed.ts): one
   * call, at temperature 0, answered with sentence numbers. A sentence the answer leaves out, or
   * places twice, is settled by the strategy (an instruction of its own; its first place); a failed
   * or malformed answer groups nothing.
   */
  async group(found: readonly string[], model: string): Promise<InstructionGroups> {
    const system =
      'You sort the sentences of the instructions of an LLM prompt. ' +
      'Sentences that give the same instruction in other words belong to one group; ' +
      'each instruction is its own group. ' +
      'Sentences that only frame the prompt (a role, where the input goes) rather than tell the model what to do ' +
      'are the frame. Place every sentence once.'
    const list = found.map((s, i) => `${i + 1}. ${s}`).join('\n')
    const user =
      `${GROUPING_REQUEST}\n${list}\n\n${forModel(model)}\n\n` +
      'Reply with JSON: {"instructions": [{"sentences": [1, 4]}, {"sentences": [2]}], "frame": [3]}.'
    const format = { name: 'grouping', description: 'The sentences grouped by instruction.', schema: GROUPING }
    const answer = await this.ask(this.request(system, user, 0, format, 0), Grouping)
    const at = (n: number) => found[n - 1]
    const pick = (ns: readonly number[]) => ns.map(at).filter((s): s is string => s !== undefined)
    if (!answer) return { instructions: [], fixed: [] }
    return {
      instructions: answer.instructions.map((g) => pick(g.sentences)).filter((g) => g.length > 0),
      fixed: pick(answer.frame),
    }
  }
}
