/**
 * @module core/import/promptfoo
 * A promptfoo config (`promptfooconfig.yaml`, already parsed) → a Kaizen task file, with every part that has no
 * Kaizen equivalent listed (`unmapped` for assertions, `notes` for the rest): nothing is dropped silently.
 *
 * - prompts: the first prompt whose text is at hand. A text becomes the user message under a generic system
 *   message; a chat (a JSON list of `{ role, content }`) gives its system message and its last user message.
 *   `file://` prompts are read from `options.files` (the caller reads them; a `.txt` file may hold several prompts
 *   separated by `---`). The other prompts are listed in notes.
 * - providers (or targets): the first one's id → `model` (`openai:chat:gpt-4.1-mini` → `openai:gpt-4.1-mini`),
 *   its `config.temperature` and `max_tokens` → params. `options.model` overrides it.
 * - tests[].vars (with defaultTest.vars) → golden case inputs; `inputs` are the variables the prompt uses.
 *
 * Assertions (defaultTest.assert applies to every test; values are rendered with each test's vars):
 *
 * | promptfoo                          | Kaizen check                                                           |
 * |------------------------------------|------------------------------------------------------------------------|
 * | equals                             | exact, case-sensitive (Kaizen trims); a JSON value: json-schema const  |
 * | contains / icontains               | contains, caseSensitive true / false                                   |
 * | contains-any, -all (and icontains) | contains, mode any / all                                               |
 * | regex                              | regex, flags '' (promptfoo's are none)                                 |
 * | is-json / contains-json            | json-schema with the given schema, else {} (any JSON)                  |
 * | levenshtein                        | edit-distance, minSimilarity never stricter than the max distance      |
 * | cost / latency                     | cost maxUsd / latency maxMs = threshold                                |
 * | llm-rubric                         | llm-judge: rubric = value, levels fails/passes (5 with a threshold)    |
 * | not-regex                          | regex, negate                                                          |
 * | not-equals, not-contains*          | regex, negate, over the escaped value(s): the same test                |
 * | not- of the others                 | unmapped: "the <check> check has no negated form"                      |
 * | anything else                      | unmapped, with its location and reason                                 |
 *
 * contains-json differs: promptfoo finds JSON anywhere in the text, Kaizen's json-schema check reads the whole
 * answer or a ```json block. is-json is a little looser in Kaizen (a ```json block passes).
 *
 * Which assertions become what:
 * - A test's own equals or levenshtein (or a defaultTest one whose value is a test variable, `{{expected}}`) gives
 *   the test's reference: the test becomes a golden case with that reference, and one dimension per such type
 *   reads every golden case's reference (exact / edit-distance without a value) instead of one per test. A test
 *   with no such assertion is not a golden case (a golden case needs a reference).
 * - Any other assertion that is the same (type, value, threshold, weight; the metric name may differ) in every
 *   test, or comes from defaultTest, is one grader-wide dimension. One found in only some tests is unmapped: a
 *   Kaizen grader applies every dimension to every answer, and these checks take no value from a golden case.
 * - An assertion under a `transform` is unmapped (Kaizen checks read the answer as it is).
 * - llm-rubric's judge is the assertion's provider, else the test's or defaultTest's options.provider, else
 *   `options.judgeModel`; with none it is unmapped (no placeholder judge is invented).
 * - Dimension names come from `metric`, else the type; weights from `weight`. With no dimension at all the grader
 *   is the placeholder `{ file: grader.yaml }` and `needs` says so.
 *
 * promptfoo passes a test only when every assertion passes; Kaizen scores the weighted mean of the dimensions
 * against the grader's passThreshold (mark a dimension veto to make it required).
 *
 * Pure module: no I/O.
 */
import { z } from 'zod'
import { parseTaskFile, type TaskFileInput } from '../task-file.js'
import {
  ChatMessage,
  GRADER_PLACEHOLDER,
  importedTask,
  invalid,
  messagesFrom,
  modelFromProviderId,
  paramsFrom,
  read,
  taskIdFrom,
  type ImportResult,
} from './common.js'
import { gradingOf, Test, type IndexedTest } from './promptfoo-grading.js'

export interface PromptfooImportOptions {
  taskId?: string
  /** Where the config came from (a path), for the task's description. */
  source?: string
  /** The text of files the config references, read by the caller: keyed by path, with or without `file://`. */
  files?: Record<string, string>
  /** The task model, when the provider is not a model (`python:provider.py`) or to override it. */
  model?: string
  /** The judge for llm-rubric assertions when the config names no grading provider. */
  judgeModel?: string
}

const PromptEntry = z.union([
  z.string().min(1),
  z.array(ChatMessage).min(1),
  z.looseObject({ raw: z.string().min(1).optional(), id: z.string().min(1).optional() }),
])
const ProviderEntry = z.union([
  z.string().min(1),
  z.looseObject({ id: z.string().min(1), config: z.record(z.string(), z.unknown()).optional() }),
])
const Providers = z.union([z.string().min(1), z.array(ProviderEntry).min(1), z.record(z.string(), z.unknown())])

export const PromptfooConfig = z.looseObject({
  description: z.string().optional(),
  prompts: z.union([z.string().min(1), z.array(PromptEntry).min(1), z.record(z.string(), z.unknown())]),
  providers: Providers.optional(),
  targets: Providers.optional(),
  tests: z.union([z.string(), z.array(z.union([z.string(), Test]))]).optional(),
  defaultTest: z.union([z.string(), Test]).optional(),
})
export type PromptfooConfig = z.infer<typeof PromptfooConfig>

/** Top-level keys read here, or with nothing to import (output, sharing, env...). */
const QUIET = new Set(['description', 'prompts', 'providers', 'targets', 'tests', 'defaultTest', 'tags', 'env'])
for (const k of ['outputPath', 'sharing', 'metadata', 'writeLatestResults', 'evaluateOptions', 'commandLineOptions'])
  QUIET.add(k)
const WHY: Record<string, string> = {
  scenarios: 'groups of vars crossed with tests; list them as tests to import them',
  derivedMetrics: 'metrics computed from the named scores; Kaizen scores the weighted dimensions',
  redteam: 'red-team generation; Kaizen has its own safety gates (injection, pii, refusal)',
  nunjucksFilters: 'custom template filters; Kaizen renders only {{variable}}',
  extensions: 'hooks that run code around the eval',
}

/** A promptfoo config → a task file, and everything that did not map. See the module doc for the rules. */
export function importPromptfoo(config: unknown, options: PromptfooImportOptions = {}): ImportResult {
  const cfg = read(PromptfooConfig, config, 'promptfoo config')
  const notes: string[] = []
  for (const key of Object.keys(cfg).filter((k) => !QUIET.has(k)))
    notes.push(`${key}: not imported (${WHY[key] ?? 'no Kaizen equivalent'})`)
  const { where, prompt } = choosePrompt(cfg.prompts, options.files ?? {}, notes)
  const { system, user, inputs } = messagesFrom(prompt, where, notes)
  const { model, params } = modelOf(cfg, options.model, notes)
  const defaults = defaultTestOf(cfg.defaultTest, notes)
  const tests = testsOf(cfg.tests, notes)
  const grading = gradingOf(tests, defaults, inputs, options.judgeModel, notes)
  const needsGrader = grading.dimensions.length === 0
  if (needsGrader) notes.push('no assertion maps to a Kaizen check: the grader is a placeholder (grader.yaml)')
  if (grading.dimensions.length > 0 && grading.dimensions.every((d) => d.weight === 0)) {
    notes.push('every assertion has weight 0: the dimensions get weight 1')
    grading.dimensions.forEach((d) => (d.weight = 1))
  }
  const title = cfg.description?.trim() || 'Imported promptfoo config'
  const task: TaskFileInput = {
    ...importedTask({
      id: options.taskId ?? taskIdFrom(cfg.description, 'imported-promptfoo'),
      title,
      description: `Imported from promptfoo${options.source ? ` (${options.source})` : ''}.`,
      model,
      params,
      inputs,
      system,
      user,
      grader: GRADER_PLACEHOLDER,
    }),
    grader: needsGrader
      ? GRADER_PLACEHOLDER
      : {
          kind: 'grader',
          name: 'promptfoo',
          dimensions: grading.dimensions,
          ...(grading.judge ? { judge: { model: grading.judge } } : {}),
        },
    golden: grading.golden,
  }
  parseTaskFile(task, 'the imported task')
  return { task, unmapped: grading.unmapped, notes, needs: needsGrader ? ['grader'] : [] }
}

type Prompt = string | ChatMessage[]

/** A prompt text that is a JSON chat (`[{"role": ..., "content": ...}]`) is a chat; any other text is text. */
function promptOfText(text: string): Prompt {
  if (!text.trim().startsWith('[')) return text
  try {
    const chat = z.array(ChatMessage).min(1).safeParse(JSON.parse(text))
    return chat.success ? chat.data : text
  } catch {
    return text
  }
}

/** The prompts a file holds: a `.json` chat, a `.txt`/`.md` text (several separated by `---` lines). */
function promptsOfFile(path: string, text: string): Prompt[] | null {
  if (/\.(js|ts|mjs|cjs|py|rb|go)(:\w+)?$/.test(path)) return null
  if (/\.json$/.test(path)) return [promptOfText(text)]
  return text
    .split(/^---$/m)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map(promptOfText)
}

/** The first prompt whose text is at hand; the others (and the files not read) go to notes. */
function choosePrompt(
  prompts: PromptfooConfig['prompts'],
  files: Record<string, string>,
  notes: string[],
): { where: string; prompt: Prompt } {
  const entries: Array<[string, unknown]> =
    typeof prompts === 'string'
      ? [['prompts', prompts]]
      : Array.isArray(prompts)
        ? prompts.map((p, i) => [`prompts[${i}]`, p])
        : Object.keys(prompts).map((k) => [`prompts[${JSON.stringify(k)}]`, k])
  const found: Array<{ where: string; prompt: Prompt }> = []
  for (const [where, entry] of entries) {
    const text = typeof entry === 'object' && !Array.isArray(entry) ? (entry as { raw?: string; id?: string }) : null
    const value = text ? (text.raw ?? text.id ?? '') : (entry as string | ChatMessage[])
    if (Array.isArray(value)) {
      found.push({ where, prompt: value })
      continue
    }
    if (!value.startsWith('file://')) {
      found.push({ where, prompt: promptOfText(value) })
      continue
    }
    const path = value.slice('file://'.length)
    const content = files[value] ?? files[path]
    const read = content === undefined ? null : promptsOfFile(path, content)
    if (content === undefined) notes.push(`${where}: ${value} not read (pass its text in files to import it)`)
    else if (read === null) notes.push(`${where}: ${value} is a prompt function: not imported`)
    else
      read.forEach((prompt, k) => found.push({ where: read.length > 1 ? `${where} prompt ${k + 1}` : where, prompt }))
  }
  const chosen = found[0]
  if (!chosen) throw invalid('prompts', 'no prompt text at hand: pass the text of the file:// prompts in files')
  for (const other of found.slice(1)) notes.push(`${other.where}: not imported: a Kaizen task has one prompt`)
  return chosen
}

/** The task model and params from the first provider (or `model`). */
function modelOf(cfg: PromptfooConfig, override: string | undefined, notes: string[]) {
  const given = cfg.providers ?? cfg.targets
  const key = cfg.providers ? 'providers' : 'targets'
  const list: Array<{ id: string; config?: Record<string, unknown> | undefined }> =
    given === undefined
      ? []
      : typeof given === 'string'
        ? [{ id: given }]
        : Array.isArray(given)
          ? given.map((p) => (typeof p === 'string' ? { id: p } : p))
          : Object.entries(given).map(([id, v]) => ({
              id,
              config: (v as { config?: Record<string, unknown> })?.config,
            }))
  list.slice(1).forEach((p, i) => notes.push(`${key}[${i + 1}] (${p.id}): not imported: a Kaizen task has one model`))
  const first = list[0]
  const params = paramsFrom(first?.config, `${key}[0].config`, notes)
  if (Object.keys(params).length === 0) notes.push("no temperature or max_tokens: Kaizen's defaults (0, 512) apply")
  if (override) return { model: override, params }
  if (!first) throw invalid(key, 'no provider: pass the task model as the model option')
  const model = modelFromProviderId(first.id)
  if (!model) throw invalid(`${key}[0]`, `${first.id} is not a model (code or an endpoint): pass the model option`)
  return { model, params }
}

function defaultTestOf(defaultTest: PromptfooConfig['defaultTest'], notes: string[]): Test {
  if (typeof defaultTest !== 'string') return defaultTest ?? {}
  notes.push(`defaultTest: ${defaultTest} not read (inline it to import its assertions)`)
  return {}
}

function testsOf(tests: PromptfooConfig['tests'], notes: string[]): IndexedTest[] {
  if (typeof tests === 'string') {
    notes.push(`tests: ${tests} not read (inline the tests to import them)`)
    return []
  }
  const list: IndexedTest[] = []
  ;(tests ?? []).forEach((t, i) => {
    if (typeof t === 'string') notes.push(`tests[${i}]: ${t} not read (inline the tests to import them)`)
    else {
      if (t.threshold !== undefined) notes.push(`tests[${i}].threshold: not imported (Kaizen's passThreshold applies)`)
      list.push({ at: i, test: t })
    }
  })
  return list
}
