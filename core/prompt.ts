/**
 * @module core/prompt
 * What a prompt version is: instructions, an input template, the model and its parameters.
 * A prompt version is immutable; its identity is the content hash of this object
 * (see `lib/hash.ts#promptContentHash`).
 *
 * Pure module: safe to import from workflow code.
 */
import { z } from 'zod'
import { KaizenError } from './errors.js'

export const PromptParams = z.object({
  temperature: z.number().min(0).max(2).default(0),
  maxTokens: z.number().int().positive().max(32_768).default(512),
})
export type PromptParams = z.infer<typeof PromptParams>

/** A worked example shown to the model before the real input (few-shot): an input and the answer to imitate. */
export const Demonstration = z.object({
  input: z.record(z.string(), z.string()),
  output: z.string().min(1, 'a demonstration needs the answer to imitate'),
})
export type Demonstration = z.infer<typeof Demonstration>

/** Most demonstrations a prompt version may carry. */
export const MAX_DEMONSTRATIONS = 8

export const PromptContent = z.object({
  /** Instructions (the system message). Search strategies edit this. */
  system: z.string().min(1, 'the system instructions must not be empty'),
  /** The user message template; `{{name}}` is replaced by the input variable `name`. */
  user: z.string().min(1, 'the user template must not be empty'),
  /** Model id, e.g. `sim-standard`, `gpt-4.1-mini`, `claude-sonnet-4`. */
  model: z.string().min(1),
  params: PromptParams.prefault({}),
  /**
   * Few-shot demonstrations, sent as user/assistant turns before the real input (absent: none).
   * Search strategies choose them from high-DQ production traffic of the training split.
   */
  examples: z.array(Demonstration).max(MAX_DEMONSTRATIONS, `at most ${MAX_DEMONSTRATIONS} demonstrations`).optional(),
})
export type PromptContent = z.infer<typeof PromptContent>

/** Rough token count: ~4 characters per token, as for English text with common tokenizers. */
export const approxTokens = (text: string): number => Math.ceil(text.length / 4)

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

const VAR = /\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g

/** Variable names a template uses, in order of first use. */
export function templateVariables(template: string): string[] {
  const names: string[] = []
  for (const m of template.matchAll(VAR)) if (!names.includes(m[1] as string)) names.push(m[1] as string)
  return names
}

function lookup(vars: Record<string, unknown>, path: string): unknown {
  let cur: unknown = vars
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

/**
 * Replace `{{name}}` (or `{{a.b}}`) with the variable's value. A missing variable is an error
 * naming it: a silently empty slot would change what the model sees.
 *
 * @example
 * renderTemplate('Incident {{id}}', { id: 'INC-1' }) // 'Incident INC-1'
 */
export function renderTemplate(template: string, vars: Record<string, unknown>, where = 'template'): string {
  return template.replace(VAR, (_, name: string) => {
    const value = lookup(vars, name)
    if (value === undefined || value === null) {
      throw new KaizenError(
        'INVALID_INPUT',
        `${where} uses {{${name}}} but the input has no "${name}" (inputs: ${Object.keys(vars).join(', ') || 'none'})`,
      )
    }
    return typeof value === 'string' ? value : JSON.stringify(value)
  })
}

/**
 * The chat messages a prompt version sends for one input: instructions, demonstrations (user/assistant turns), the
 * input.
 */
export function renderMessages(prompt: PromptContent, input: Record<string, unknown>): ChatMessage[] {
  const demos = (prompt.examples ?? []).flatMap((d, i): ChatMessage[] => [
    {
      role: 'user',
      content: renderTemplate(prompt.user, d.input, `demonstration ${i + 1} (the prompt's user template)`),
    },
    { role: 'assistant', content: d.output },
  ])
  return [
    { role: 'system', content: prompt.system },
    ...demos,
    { role: 'user', content: renderTemplate(prompt.user, input, "the prompt's user template") },
  ]
}

/** One sentence per line, so a line diff of two prompts shows which instructions changed. */
export const sentencePerLine = (text: string) => `${text.replace(/([.!?])\s+/g, '$1\n').trim()}\n`
