/**
 * @module core/import/langfuse
 * A Langfuse prompt, as its public API returns it (`GET /api/public/v2/prompts/{name}`), → a Kaizen task file.
 *
 * ```json
 * { "name": "movie-critic", "version": 3, "type": "text", "labels": ["production"],
 *   "prompt": "As a {{criticLevel}} movie critic, do you like {{movie}}?",
 *   "config": { "model": "gpt-4o", "temperature": 0.5, "max_tokens": 300 } }
 * ```
 *
 * - `prompt`: a text becomes the user message under a generic system message; a chat (`type: chat`, a list of
 *   `{ role, content }`) gives its system message and its last user message. Langfuse's `{{variable}}` is Kaizen's.
 *   Message placeholders (`{ type: placeholder, name }`) and other turns are listed in notes.
 * - `config.model` → `model` (as written; `options.model` overrides it or stands in when there is none),
 *   `config.temperature`, `max_tokens` → params; other config keys are listed in notes.
 * - A Langfuse prompt carries no grading: the grader is `options.grader` when given, else the placeholder
 *   `{ file: grader.yaml }`, and `needs: ['grader']` says the caller must supply it. Golden cases: `options.golden`.
 *
 * Pure module: no I/O.
 */
import { z } from 'zod'
import type { GraderSpecInput } from '../grader-spec.js'
import { parseTaskFile, type GoldenCaseInput, type TaskFileInput } from '../task-file.js'
import {
  ChatMessage,
  GRADER_PLACEHOLDER,
  importedTask,
  invalid,
  messagesFrom,
  paramsFrom,
  read,
  taskIdFrom,
  type ImportResult,
} from './common.js'

export interface LangfuseImportOptions {
  taskId?: string
  /** Where the prompt came from (a host or a file), for the task's description. */
  source?: string
  /** The task model, when the prompt's config has none (or to override it). */
  model?: string
  /** The grader: a spec, or `{ file }`. Absent: the placeholder `{ file: grader.yaml }` (and `needs: ['grader']`). */
  grader?: GraderSpecInput | { file: string }
  golden?: Array<z.input<typeof GoldenCaseInput>>
}

const Placeholder = z.looseObject({ type: z.literal('placeholder'), name: z.string() })

export const LangfusePrompt = z.looseObject({
  name: z.string().min(1),
  version: z.number().int().optional(),
  type: z.enum(['text', 'chat']).default('text'),
  prompt: z.union([z.string().min(1), z.array(z.union([Placeholder, ChatMessage])).min(1)]),
  config: z.record(z.string(), z.unknown()).nullish(),
  labels: z.array(z.string()).optional(),
  tags: z.array(z.string()).optional(),
})
export type LangfusePrompt = z.infer<typeof LangfusePrompt>

/** Config keys read here. */
const READ = new Set(['model', 'temperature', 'max_tokens', 'maxTokens', 'max_completion_tokens', 'max_output_tokens'])

/** A Langfuse prompt → a task file; the grader is the caller's (see the module doc). */
export function importLangfuse(prompt: unknown, options: LangfuseImportOptions = {}): ImportResult {
  const p = read(LangfusePrompt, prompt, 'Langfuse prompt')
  const notes: string[] = []
  if (p.type === 'text' && typeof p.prompt !== 'string') throw invalid('prompt', 'a text prompt must be text')
  if (p.type === 'chat' && typeof p.prompt === 'string') throw invalid('prompt', 'a chat prompt must be a list')
  const messages: ChatMessage[] | string =
    typeof p.prompt === 'string'
      ? p.prompt
      : p.prompt.flatMap((m, i) => {
          if (m.type !== 'placeholder') return [m as ChatMessage]
          notes.push(`prompt[${i}]: message placeholder "${m.name}" left out (Kaizen has no message slots)`)
          return []
        })
  const text = typeof messages === 'string' ? messages : messages.map((m) => m.content).join('\n')
  if (text.includes('@@@langfusePrompt:'))
    notes.push('the prompt references other Langfuse prompts (@@@langfusePrompt:...@@@): resolve them first')
  const { system, user, inputs } = messagesFrom(messages, 'prompt', notes)
  const config = p.config ?? {}
  const model = options.model ?? (typeof config.model === 'string' && config.model ? config.model : undefined)
  if (!model) throw invalid('config.model', 'the prompt names no model: pass the task model as the model option')
  const params = paramsFrom(config, 'config', notes)
  if (Object.keys(params).length === 0) notes.push("no temperature or max_tokens: Kaizen's defaults (0, 512) apply")
  const other = Object.keys(config).filter((k) => !READ.has(k))
  if (other.length > 0) notes.push(`config keys not imported: ${other.join(', ')}`)
  if (!options.grader) notes.push('a Langfuse prompt has no grading: supply the grader (grader.yaml)')
  const version = p.version === undefined ? '' : ` version ${p.version}`
  const labels = p.labels?.length ? ` (labels: ${p.labels.join(', ')})` : ''
  const task: TaskFileInput = {
    ...importedTask({
      id: options.taskId ?? taskIdFrom(p.name, 'imported-langfuse'),
      title: p.name,
      description:
        `Imported from Langfuse prompt "${p.name}"${version}${labels}` + (options.source ? ` (${options.source})` : ''),
      model,
      params,
      inputs,
      system,
      user,
      grader: options.grader ?? GRADER_PLACEHOLDER,
    }),
    ...(options.golden ? { golden: options.golden } : {}),
  }
  parseTaskFile(task, 'the imported task')
  return { task, unmapped: [], notes, needs: options.grader ? [] : ['grader'] }
}
