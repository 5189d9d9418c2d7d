/**
 * @module core/import/common
 * What every importer shares: the result shape, reading input with zod (errors name the path), provider ids to
 * Kaizen model ids, model parameters, and turning a prompt (one text, or chat messages) into the task file's
 * system and user messages.
 *
 * Pure module: no I/O.
 */
import { z } from 'zod'
import { fromZodError, KaizenError } from '../errors.js'
import { templateVariables } from '../prompt.js'
import type { TaskFileInput } from '../task-file.js'

/** Something in the source that has no Kaizen equivalent: where it is, what it was, and why it was left out. */
export interface Unmapped {
  /** Where in the source, e.g. `tests[3].assert[1]`. */
  location: string
  /** The assertion type (or the source feature) left out, e.g. `javascript`. */
  assertion: string
  reason: string
}

export interface ImportResult {
  /** A task file; it passes `parseTaskFile`. */
  task: TaskFileInput
  /** Everything of the source's grading that is not in the task, each with its location and reason. */
  unmapped: Unmapped[]
  /** Decisions the import made and parts of the source it did not carry (each with its location). */
  notes: string[]
  /** What the caller must still supply: `grader` when the task's grader is a `{ file: grader.yaml }` placeholder. */
  needs: Array<'grader'>
}

/** The system message of a prompt that had none (a plain text prompt becomes the user message). */
export const GENERIC_SYSTEM = 'You are a helpful assistant.'

/** Where a grader the caller must still write is expected (relative to the task file). */
export const GRADER_PLACEHOLDER = { file: 'grader.yaml' } as const

/** Parse `value` with `schema`; a mismatch is INVALID_INPUT naming every bad path (`tests[0].assert[1].type: ...`). */
export function read<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.flatMap(deepest)
  throw fromZodError(new z.ZodError(issues), where)
}

type Issue = z.core.$ZodIssue
/**
 * A union's mismatch as the issues of the option that got furthest, then had the fewest problems
 * (`tests[0].assert[0].type` rather than `tests`), so a value meant as the object form is explained as one.
 */
function deepest(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue]
  const depth = (list: Issue[]) => Math.max(...list.map((i) => i.path.length))
  const closer = (a: Issue[], b: Issue[]) => depth(b) > depth(a) || (depth(b) === depth(a) && b.length < a.length)
  const best = issue.errors.reduce((a, b) => (closer(a, b) ? b : a))
  if (depth(best) === 0) return [issue]
  return best.flatMap(deepest).map((i) => ({ ...i, path: [...issue.path, ...i.path] }))
}

export function invalid(where: string, message: string): KaizenError {
  return new KaizenError('INVALID_INPUT', `${where}: ${message}`, { details: { fields: [where] } })
}

/** A valid task id from free text (`Support triage v2` → `support-triage-v2`), or `fallback`. */
export function taskIdFrom(text: string | undefined, fallback: string): string {
  const slug = (text ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 100)
    .replace(/-+$/, '')
  return slug || fallback
}

/** Segments of a provider id that name an API flavour, not the model (`openai:chat:gpt-4o`). */
const API_KINDS = new Set(['chat', 'completion', 'completions', 'messages', 'responses'])
/** Provider ids that are code or endpoints, not models. */
const NOT_A_MODEL = /^(file|exec|python|golang|ruby|http|https|ws|wss|webhook|script|mcp|sequence):|^(echo|browser)$/

/**
 * A provider-prefixed model id as Kaizen's provider registry reads it, from a promptfoo provider id:
 * `openai:gpt-4.1-mini` and `openai:chat:gpt-4.1-mini` → `openai:gpt-4.1-mini`,
 * `anthropic:messages:claude-sonnet-4` → `anthropic:claude-sonnet-4`. Null when the provider is code
 * or an endpoint (`python:provider.py`, `https://...`, `file://...`).
 */
export function modelFromProviderId(id: string): string | null {
  if (NOT_A_MODEL.test(id) || /\.(js|ts|mjs|cjs|py|rb|go|ya?ml|json)$/.test(id)) return null
  const [provider, ...rest] = id.split(':')
  if (rest.length > 1 && API_KINDS.has(rest[0] as string)) rest.shift()
  const model = rest.join(':')
  if (!provider) return null
  return model ? `${provider}:${model}` : provider
}

/** Kaizen's model parameters from a provider's or prompt's config (`temperature`, `max_tokens`, `maxTokens`). */
export function paramsFrom(
  config: Record<string, unknown> | undefined,
  where: string,
  notes: string[],
): { temperature?: number; maxTokens?: number } {
  const params: { temperature?: number; maxTokens?: number } = {}
  const t = config?.temperature
  if (typeof t === 'number' && t >= 0 && t <= 2) params.temperature = t
  else if (t !== undefined) notes.push(`${where}.temperature ${JSON.stringify(t)} is not 0–2: left at Kaizen's default`)
  const key = ['max_tokens', 'maxTokens', 'max_completion_tokens', 'max_output_tokens'].find((k) => config?.[k] != null)
  const m = key ? config?.[key] : undefined
  if (typeof m === 'number' && Number.isInteger(m) && m > 0 && m <= 32_768) params.maxTokens = m
  else if (m !== undefined) notes.push(`${where}.${key} ${JSON.stringify(m)} is not 1–32768: left at Kaizen's default`)
  return params
}

/** A chat message as the sources write it (content is text; other parts are refused by the schema). */
export const ChatMessage = z.looseObject({ role: z.string(), content: z.string() })
export type ChatMessage = z.infer<typeof ChatMessage>

/** Nunjucks beyond `{{variable}}`: filters, tags, comments. Kaizen renders only `{{variable}}`. */
const NUNJUCKS = /\{%|\{#|\{\{[^}]*\|/

/**
 * The task's system and user messages from a prompt: a text becomes the user message under a generic system
 * message; a chat gives its system messages (joined) and its last user message. Everything else is noted.
 */
export function messagesFrom(
  prompt: string | ChatMessage[],
  where: string,
  notes: string[],
): { system: string; user: string; inputs: string[] } {
  let system: string
  let user: string
  if (typeof prompt === 'string') {
    system = GENERIC_SYSTEM
    user = prompt
    notes.push(
      `${where} is one text: it is the user message, under the generic system message "${GENERIC_SYSTEM}"; ` +
        'move its instructions into the system message to let the search edit them apart from the input',
    )
  } else {
    const systems = prompt.filter((m) => m.role === 'system' || m.role === 'developer')
    const lastUser = prompt.map((m) => m.role).lastIndexOf('user')
    if (lastUser < 0) throw invalid(where, 'the chat has no user message; Kaizen puts the input in the user message')
    user = (prompt[lastUser] as ChatMessage).content
    system = systems.map((m) => m.content).join('\n\n')
    if (systems.length === 0) {
      system = GENERIC_SYSTEM
      notes.push(`${where} has no system message: the task uses the generic "${GENERIC_SYSTEM}"`)
    }
    const others = prompt.filter((m, i) => i !== lastUser && !systems.includes(m))
    if (others.length > 0)
      notes.push(
        `${where}: ${others.length} other message(s) (${others.map((m) => m.role).join(', ')}) left out: ` +
          'a Kaizen task has one system and one user message',
      )
    if (systems.length > 1) notes.push(`${where}: ${systems.length} system messages joined into one`)
  }
  if (!system.trim()) system = GENERIC_SYSTEM
  if (templateVariables(user).length === 0)
    throw invalid(where, 'the user message uses no {{variable}}; Kaizen puts the input there (e.g. {{question}})')
  if (NUNJUCKS.test(system) || NUNJUCKS.test(user))
    notes.push(
      `${where} uses template filters or tags ({% %}, {{ x | f }}): Kaizen renders only {{variable}}; rewrite them`,
    )
  const inputs = [...new Set([...templateVariables(system), ...templateVariables(user)].map((v) => v.split('.')[0]))]
  return { system, user, inputs: inputs as string[] }
}

/** A variable's value as a golden case input (text), or null when it has none (a list, a file reference). */
export function varText(value: unknown): string | null {
  if (value === null || value === undefined || Array.isArray(value)) return null
  if (typeof value === 'string') return value.startsWith('file://') ? null : value
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

/** The task file an import writes: one system and one user message, params only when the source gave some. */
export function importedTask(t: {
  id: string
  title: string
  description: string
  model: string
  params: Record<string, number>
  inputs: string[]
  system: string
  user: string
  grader: TaskFileInput['grader']
}): TaskFileInput {
  return {
    id: t.id,
    title: t.title.slice(0, 200),
    description: t.description,
    model: t.model,
    ...(Object.keys(t.params).length > 0 ? { params: t.params } : {}),
    inputs: t.inputs,
    messages: [
      { role: 'system', content: t.system },
      { role: 'user', content: t.user },
    ],
    grader: t.grader,
  }
}
