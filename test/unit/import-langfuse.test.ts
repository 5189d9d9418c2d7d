import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { importLangfuse } from '../../core/import/langfuse.js'
import { parseTaskFile } from '../../core/task-file.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { refusal } from '../helpers/refusal.js'

const dir = join(REPO_ROOT, 'test/fixtures/import')
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, name), 'utf8'))

test('both fixtures import to task files that parseTaskFile accepts', () => {
  for (const name of ['langfuse-text.json', 'langfuse-chat.json']) {
    const { task } = importLangfuse(fixture(name))
    assert.doesNotThrow(() => parseTaskFile(task, name), name)
  }
})

test('a text prompt: the user message under a generic system message; model and params from its config', () => {
  const result = importLangfuse(fixture('langfuse-text.json'), { source: 'cloud.langfuse.com' })
  assert.deepEqual(result.task, {
    id: 'movie-critic',
    title: 'movie-critic',
    description:
      'Imported from Langfuse prompt "movie-critic" version 3 (labels: production, latest) (cloud.langfuse.com)',
    model: 'gpt-4o',
    params: { temperature: 0.5, maxTokens: 300 },
    inputs: ['criticLevel', 'movie'],
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'As a {{criticLevel}} movie critic, do you like {{movie}}? Answer in two sentences.' },
    ],
    grader: { file: 'grader.yaml' },
  })
  assert.deepEqual(result.needs, ['grader'])
  assert.deepEqual(result.unmapped, [])
  assert.ok(result.notes.includes('config keys not imported: supported_languages'))
  assert.ok(result.notes.some((n) => n.startsWith('prompt is one text: it is the user message')))
})

test('a chat prompt: its system and user messages; a message placeholder is noted', () => {
  const { task, notes, needs } = importLangfuse(fixture('langfuse-chat.json'))
  assert.equal(task.id, 'support-triage')
  assert.equal(task.model, 'anthropic:claude-sonnet-4')
  assert.deepEqual(task.params, { temperature: 0, maxTokens: 200 })
  assert.deepEqual(task.inputs, ['company', 'ticket', 'tier'])
  assert.deepEqual(task.messages, [
    { role: 'system', content: 'You triage support tickets for {{company}}. Answer with a queue name.' },
    { role: 'user', content: 'Ticket: {{ticket}}\nCustomer tier: {{tier}}' },
  ])
  assert.deepEqual(needs, ['grader'])
  assert.ok(notes.includes('prompt[1]: message placeholder "history" left out (Kaizen has no message slots)'))
  assert.ok(notes.includes('config keys not imported: response_format'))
})

test('the caller supplies the grader, golden cases, the model and the id', () => {
  const grader = {
    kind: 'grader' as const,
    name: 'triage',
    dimensions: [{ name: 'queue', check: { type: 'exact' as const, referencePath: 'queue' } }],
  }
  const golden = [{ input: { company: 'ACME', ticket: 'Cannot log in', tier: 'gold' }, reference: { queue: 'auth' } }]
  const result = importLangfuse(fixture('langfuse-chat.json'), {
    grader,
    golden,
    model: 'openai:gpt-4.1-mini',
    taskId: 'triage',
  })
  assert.deepEqual(result.needs, [])
  assert.deepEqual(result.task.grader, grader)
  assert.deepEqual(result.task.golden, golden)
  assert.equal(result.task.model, 'openai:gpt-4.1-mini')
  assert.equal(result.task.id, 'triage')
  assert.ok(!result.notes.some((n) => n.includes('no grading')))
})

test('bad input is INVALID_INPUT naming the path', () => {
  const text = fixture('langfuse-text.json')
  assert.match(
    refusal(() => importLangfuse({ ...text, config: {} })),
    /^config\.model: .*model option/,
  )
  assert.equal(importLangfuse({ ...text, config: null }, { model: 'gpt-4.1' }).task.model, 'gpt-4.1')
  assert.match(
    refusal(() => importLangfuse({ ...text, type: 'chat' })),
    /^prompt: a chat prompt must be a list/,
  )
  assert.match(
    refusal(() => importLangfuse({ name: 'x', type: 'chat', prompt: [{ role: 'user' }] })),
    /prompt\[0\]\.content: /,
  )
  assert.match(
    refusal(() => importLangfuse({ prompt: 'Hi {{x}}' })),
    /name: /,
  )
  assert.match(
    refusal(() => importLangfuse({ ...text, prompt: 'No variables at all' })),
    /^prompt: the user message uses no \{\{variable\}\}/,
  )
  const noUser = { name: 'x', type: 'chat', prompt: [{ role: 'system', content: 'Hi {{x}}' }], config: { model: 'm' } }
  assert.match(
    refusal(() => importLangfuse(noUser)),
    /^prompt: the chat has no user message/,
  )
})
