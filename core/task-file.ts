/**
 * @module core/task-file
 * The task definition file: everything Kaizen needs to know about a team's own prompt, in YAML or
 * JSON, with no scenario and no SQL. `kaizen task apply -f task.yaml` creates or updates the task
 * from it. The published JSON Schema (`schemas/task.schema.json`, generated from this schema by
 * `npm run schemas`) lets editors complete and check it.
 *
 * ```yaml
 * id: support-triage
 * title: Support ticket triage
 * model: gpt-4.1-mini            # provider-prefixed ids are allowed: openai:gpt-4.1-mini
 * params: { temperature: 0, maxTokens: 400 }
 * inputs: [ticket, customer_tier]
 * messages:
 *   - role: system
 *     content: You triage support tickets for ACME.
 *   - role: user
 *     content: "Ticket: {{ticket}}\nCustomer tier: {{customer_tier}}"
 * grader: { file: grader.yaml }  # or the grader spec inline
 * search: { proposerModel: gpt-4.1, rolloutBudget: 500, budgetUsd: 5 }
 * canary: { steps: [0.05, 0.25, 0.5] }
 * golden:
 *   - input: { ticket: "Cannot log in since the update", customer_tier: gold }
 *     reference: { queue: auth, priority: P2 }
 * ```
 *
 * Errors name the path and the fix, e.g. `messages[1].content: unknown variable {{ticket}};
 * declared: customer, tier`.
 *
 * Pure module: no I/O (the caller reads the files; `grader.file` is resolved by the caller).
 */
import { z } from 'zod'
import { CampaignConfig, StrictCampaignConfig } from './config.js'
import { KaizenError, formatPath } from './errors.js'
import { GraderSpec } from './grader-spec.js'
import { PromptParams, templateVariables, type PromptContent } from './prompt.js'
import { explainUnknownKeys } from './strict.js'

export const TASK_ID_RULE = 'use lowercase letters, digits, ., _ or - (at most 100, e.g. "support-triage")'
export const TaskId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, TASK_ID_RULE)

const VariableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'use letters, digits and _ (not starting with a digit), e.g. "ticket"')

const Message = z
  .object({
    role: z.enum(['system', 'user']),
    /** Text, with `{{variable}}` for an input variable. */
    content: z.string().min(1, 'a message needs content'),
  })
  .strict()

/** A golden case: an input the task must keep getting right, with the expected answer. */
export const GoldenCaseInput = z
  .object({
    input: z.record(z.string(), z.string()),
    /** The expected answer: text, or the JSON the checks compare against. */
    reference: z.union([z.string(), z.record(z.string(), z.unknown())]),
    note: z.string().max(500).optional(),
  })
  .strict()

/** Settings a campaign on this task starts from; checked against the campaign config's schema. */
const Defaults = z.record(z.string(), z.unknown())

export const TaskFile = z
  .object({
    /** Optional link to the published JSON Schema, for editors. */
    $schema: z.string().optional(),
    id: TaskId,
    title: z.string().min(1).max(200),
    description: z.string().max(4_000).default(''),
    /** The task model, provider-prefixed if needed (`openai:gpt-4.1-mini`, `anthropic:claude-sonnet-4`). */
    model: z.string().min(1).max(200),
    params: PromptParams.prefault({}),
    /** The input variables every request carries; templates may use only these. */
    inputs: z.array(VariableName).min(1, 'declare at least one input variable (e.g. inputs: [ticket])'),
    /** One system message (the instructions) and one user message (the input template), in that order. */
    messages: z.array(Message).length(2, 'give two messages: a system message, then a user message'),
    /** The grader spec inline, or `{ file: grader.yaml }` relative to the task file. */
    grader: z.union([z.object({ file: z.string().min(1) }).strict(), GraderSpec]),
    /** Search settings a campaign on this task starts from (its own config overrides them). */
    search: Defaults.optional(),
    /** Canary settings a campaign on this task starts from. */
    canary: Defaults.optional(),
    golden: z.array(GoldenCaseInput).max(1_000).default([]),
  })
  .strict()
  .superRefine((task, ctx) => {
    const [system, user] = task.messages
    if (system && system.role !== 'system')
      ctx.addIssue({
        code: 'custom',
        path: ['messages', 0, 'role'],
        message: 'the first message must be the system message',
      })
    if (user && user.role !== 'user')
      ctx.addIssue({
        code: 'custom',
        path: ['messages', 1, 'role'],
        message: 'the second message must be the user message',
      })
    const declared = new Set(task.inputs)
    task.messages.forEach((m, i) => {
      for (const name of templateVariables(m.content)) {
        const root = name.split('.')[0] as string
        if (!declared.has(root))
          ctx.addIssue({
            code: 'custom',
            path: ['messages', i, 'content'],
            message:
              `unknown variable {{${name}}}; declared: ${task.inputs.join(', ')} ` +
              '(add it to inputs, or fix the name)',
          })
      }
    })
    if (user && templateVariables(user.content).length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['messages', 1, 'content'],
        message: `the user message uses no input variable; put e.g. {{${task.inputs[0]}}} where the input goes`,
      })
    // The defaults are campaign settings: the same schema, unknown keys refused with a suggestion.
    const defaults = StrictCampaignConfig.safeParse({ search: task.search ?? {}, canary: task.canary ?? {} })
    if (!defaults.success)
      for (const issue of explainUnknownKeys(CampaignConfig, defaults.error.issues))
        ctx.addIssue({ ...issue, code: 'custom' })
    task.golden.forEach((g, i) => {
      const missing = task.inputs.filter((name) => !(name in g.input))
      if (missing.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['golden', i, 'input'],
          message: `missing input variable${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
        })
    })
  })
export type TaskFile = z.infer<typeof TaskFile>
export type TaskFileInput = z.input<typeof TaskFile>

/** Parse a task file's content (already read from YAML or JSON): every problem with its path. */
export function parseTaskFile(value: unknown, where = 'task file'): TaskFile {
  const parsed = TaskFile.safeParse(value)
  if (parsed.success) return parsed.data
  const lines = parsed.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`)
  throw new KaizenError('INVALID_INPUT', `${where} is invalid:\n- ${lines.join('\n- ')}`, {
    details: { fields: parsed.error.issues.map((i) => formatPath(i.path) || '(root)') },
  })
}

/** The prompt a task file defines, as a prompt version's content. */
export function promptOf(task: TaskFile): PromptContent {
  return {
    system: (task.messages[0] as { content: string }).content,
    user: (task.messages[1] as { content: string }).content,
    model: task.model,
    params: task.params,
  }
}

/** Every model a task file names, with where: the task model, the judge's, the proposer's. */
export function modelsOf(task: TaskFile, grader: GraderSpec): Array<{ path: string; model: string }> {
  const proposer = task.search?.['proposerModel']
  return [
    { path: 'model', model: task.model },
    ...(grader.judge ? [{ path: 'grader.judge.model', model: grader.judge.model }] : []),
    ...(typeof proposer === 'string' ? [{ path: 'search.proposerModel', model: proposer }] : []),
  ]
}

/** The JSON Schema of a task file (what editors read). */
export function taskFileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(TaskFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
}
