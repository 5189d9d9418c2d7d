/**
 * A small real-provider task and its world behind an OpenAI-compatible server (bench:scale, the
 * fan-out and chaos tests): a task model, an LLM judge and a proposer that behave like a real
 * task, deterministically (the same request gets the same answer in every run, whatever the
 * arrival order, so any number of workers does the same work).
 *
 * - Each ticket needs some of six instructions (which ones: a hash of the ticket).
 * - The task model's answer carries a marker for every one of those instructions its system
 *   prompt contains.
 * - The judge grades the answer poor / partial / good by how many of the needed markers it has,
 *   with a little deterministic noise, and says what was missing (the search's feedback).
 * - The proposer adds an instruction named in the feedback (reflection), or makes the edit asked
 *   for (blind edits); now and then it adds a sentence that helps nothing.
 */
import { createHash } from 'node:crypto'
import type { Db } from '../../db/client.js'
import { activateGrader } from '../../db/queries/graders.js'
import { moveLabel } from '../../db/queries/labels.js'
import { createPromptVersion } from '../../db/queries/prompts.js'
import { tasks, traffic } from '../../db/schema.js'
import { GraderSpec } from '../../core/grader-spec.js'
import type { LlmCall, LlmReply } from './llm-server.js'

export const TASK_MODEL = 'bench-task'
export const JUDGE_MODEL = 'bench-judge'
export const PROPOSER_MODEL = 'bench-proposer'

export const CLAUSES = [
  { id: 'service', text: 'Name the affected service.', missing: 'the affected service was not named' },
  { id: 'command', text: 'Give the exact command to run.', missing: 'no exact command to run' },
  { id: 'severity', text: 'State the severity as P1, P2 or P3.', missing: 'the severity was not stated' },
  { id: 'page', text: 'Say who to page.', missing: 'nobody to page was named' },
  { id: 'runbook', text: 'Link the runbook.', missing: 'no runbook link' },
  { id: 'verify', text: 'Say how to verify the fix.', missing: 'no way to verify the fix' },
] as const

const FILLERS = ['Be polite.', 'Use plain words.', 'Avoid jargon.', 'Be brief.', 'Write in English.', 'Stay calm.']

export const SEED_SYSTEM = 'You triage incident tickets. Answer in a few sentences.'

/** A uniform number in [0, 1) from the parts. */
function u(...parts: string[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32BE(0) / 2 ** 32
}

/** The instructions a ticket needs (one to three of them). */
export function needs(ticket: string): string[] {
  const ids = CLAUSES.map((c) => c.id).filter((id) => u(ticket, 'needs', id) < 0.35)
  return ids.length > 0 ? ids : [CLAUSES[Math.floor(u(ticket, 'one') * CLAUSES.length)]!.id]
}

const fenced = (text: string, label: string): string =>
  new RegExp(`<<<DATA:\\S+ ${label.replace(/[()]/g, '\\$&')}\\n([\\s\\S]*?)\\nDATA:`).exec(text)?.[1] ?? ''

function answerTask(call: LlmCall): LlmReply {
  const system = call.system ?? ''
  const ticket = call.messages.at(-1)?.content ?? ''
  const present = CLAUSES.filter((c) => system.includes(c.text)).map((c) => `[${c.id}]`)
  return {
    kind: 'text',
    text: `Triage of ${ticket.slice(0, 80)}: ${present.join(' ') || 'look into it'}`,
    inputTokens: 120,
    outputTokens: 40,
  }
}

function judge(call: LlmCall): LlmReply {
  const user = call.messages.at(-1)?.content ?? ''
  const input = fenced(user, 'case (the input the answer responds to)')
  const answer = fenced(user, 'answer (to be graded)')
  const ticket = input.replace(/^ticket: /, '')
  const needed = needs(ticket)
  const missing = needed.filter((id) => !answer.includes(`[${id}]`))
  let level = missing.length === 0 ? 2 : missing.length < needed.length ? 1 : 0
  // A judge is not perfect: one verdict in ten is a level off.
  const noise = u(input, answer, 'noise')
  if (noise < 0.05) level = Math.max(0, level - 1)
  else if (noise < 0.1) level = Math.min(2, level + 1)
  const reasoning =
    missing.length === 0
      ? 'complete and actionable'
      : `missing: ${missing.map((id) => CLAUSES.find((c) => c.id === id)!.missing).join('; ')}`
  return {
    kind: 'json',
    value: { reasoning, level: ['poor', 'partial', 'good'][level] },
    inputTokens: 300,
    outputTokens: 30,
  }
}

function propose(call: LlmCall): LlmReply {
  const user = call.messages.at(-1)?.content ?? ''
  const parent = /<<<\n([\s\S]*?)\n>>>/.exec(user)?.[1] ?? SEED_SYSTEM
  const absent = CLAUSES.filter((c) => !parent.includes(c.text))
  const draw = u(user)
  let instructions = parent
  if (user.includes('Failures:')) {
    const named = absent.filter((c) => user.includes(c.missing))
    const pool = named.length > 0 ? named : absent
    if (draw < 0.25 || pool.length === 0)
      instructions = `${parent} ${FILLERS[Math.floor(u(user, 'filler') * FILLERS.length)]}`
    else instructions = `${parent} ${pool[Math.floor(u(user, 'pick') * pool.length)]!.text}`
  } else if (user.includes('remove the least useful sentence')) {
    const sentences = parent.split(/(?<=\.)\s+/)
    if (sentences.length > 1) sentences.splice(1 + Math.floor(draw * (sentences.length - 1)), 1)
    instructions = sentences.join(' ')
  } else {
    const options = [...absent.map((c) => c.text), ...FILLERS]
    instructions = `${parent} ${options[Math.floor(draw * options.length)]}`
  }
  return {
    kind: 'json',
    value: { critique: 'the instructions miss what the failures needed', instructions },
    inputTokens: 600,
    outputTokens: 120,
  }
}

/** Answers every request of the benchmark's task, judge and proposer. */
export function worldResponder(call: LlmCall): LlmReply {
  if (call.model === JUDGE_MODEL) return judge(call)
  if (call.model === PROPOSER_MODEL) return propose(call)
  return answerTask(call)
}

const SERVICES = ['payments-api', 'checkout', 'search', 'auth', 'inventory', 'notifications', 'billing', 'gateway']
const SYMPTOMS = [
  '5xx after deploy',
  'latency spike',
  'pods crash-looping',
  'queue backlog growing',
  'disk almost full',
  'certificate expiring',
  'error rate doubled',
  'memory leak suspected',
]
const REGIONS = ['in europe', 'in the americas', 'in asia', 'in one zone', 'everywhere', 'for some tenants']
const WHEN = ['since this morning', 'after the migration', 'during the sale', 'overnight', 'after a config change']
/** Distinct tickets, up to 1,920 (near-duplicates would be dropped by a campaign's sampling). */
export const ticketOf = (i: number) =>
  `${SERVICES[i % 8]}: ${SYMPTOMS[Math.floor(i / 8) % 8]} ${REGIONS[Math.floor(i / 64) % 6]} ` +
  `${WHEN[Math.floor(i / 384) % 5]}`
export const MAX_RECORDS = 1_920

/**
 * The task in a database: its seed prompt in production, an LLM-judge grader, and `records`
 * answered production requests with a known outcome (written directly, as an import would).
 */
export async function seedWireTask(
  db: Db,
  options: { taskId: string; records: number; latencyMs?: number },
): Promise<{ seedVersionId: string; graderVersionId: string }> {
  if (options.records > MAX_RECORDS) throw new Error(`at most ${MAX_RECORDS} distinct records`)
  const taskId = options.taskId
  await db.insert(tasks).values({
    id: taskId,
    title: 'Incident triage (wire)',
    description: 'incident triage on a real-provider wire',
    scenarioId: null,
    inputFields: ['ticket'],
  })
  const seed = await createPromptVersion(db, {
    taskId,
    content: {
      system: SEED_SYSTEM,
      user: 'Ticket: {{ticket}}',
      model: TASK_MODEL,
      params: { temperature: 0, maxTokens: 200 },
    },
    origin: 'human',
    createdBy: 'test',
  })
  await moveLabel(db, {
    moveKey: `wire:${taskId}:prod`,
    taskId,
    label: 'production',
    toVersionId: seed.id,
    weight: 1,
    canaryId: null,
    reason: 'seed',
    actor: 'test',
  })
  const graderVersionId = await activateGrader(db, {
    taskId,
    actor: 'test',
    source: 'test/helpers/wire-world',
    spec: GraderSpec.parse({
      kind: 'grader',
      name: 'usefulness',
      dimensions: [
        {
          name: 'actionable',
          check: {
            type: 'llm-judge',
            rubric: 'Could the on-call engineer act on this triage as written?',
            levels: [
              { label: 'poor', description: 'misses what this ticket needs' },
              { label: 'partial', description: 'some of what this ticket needs' },
              { label: 'good', description: 'everything this ticket needs' },
            ],
            includeReference: false,
          },
        },
      ],
      judge: { model: JUDGE_MODEL, redactInstructions: false },
      gates: { injection: false, pii: false, refusal: false },
    }),
  })
  const now = Date.now()
  const rows = Array.from({ length: options.records }, (_, i) => ({
    id: `${taskId}-${String(i).padStart(5, '0')}`,
    taskId,
    promptVersionId: seed.id,
    routingKey: `user-${i}`,
    input: { ticket: ticketOf(i) },
    output: `Triage of ticket ${i}: look into it`,
    reference: { diagnosis: 'see ticket', keywords: ['ticket'], actions: [{ type: 'investigate' }] } as never,
    provider: 'openai',
    model: TASK_MODEL,
    simulated: false,
    latencyMs: options.latencyMs ?? 0,
    createdAt: new Date(now - (options.records - i) * 1_000),
  }))
  for (let i = 0; i < rows.length; i += 500) await db.insert(traffic).values(rows.slice(i, i + 500))
  return { seedVersionId: seed.id, graderVersionId }
}
