import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseCampaignConfig, withTaskDefaults } from '../../core/config.js'
import { isKaizenError } from '../../core/errors.js'
import { parseTaskFile, promptOf, taskFileJsonSchema, type TaskFileInput } from '../../core/task-file.js'
import { REPO_ROOT } from '../../runtime/env.js'

const valid: TaskFileInput = {
  id: 'support-triage',
  title: 'Support ticket triage',
  model: 'openai:gpt-4.1-mini',
  params: { temperature: 0.2, maxTokens: 300 },
  inputs: ['ticket', 'tier'],
  messages: [
    { role: 'system', content: 'You triage support tickets.' },
    { role: 'user', content: 'Ticket: {{ticket}}\nTier: {{ tier }}' },
  ],
  grader: { file: 'grader.yaml' },
  search: { proposerModel: 'openai:gpt-4.1', rolloutBudget: 400, budgetUsd: 5 },
  canary: { steps: [0.05, 0.25] },
  golden: [{ input: { ticket: 'Cannot log in', tier: 'gold' }, reference: { queue: 'auth' } }],
}

/** The problems a file is refused with: `path: message` lines. */
function problems(value: unknown): string[] {
  try {
    parseTaskFile(value)
  } catch (e) {
    assert.ok(isKaizenError(e) && e.code === 'INVALID_INPUT', String(e))
    return e.message
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/^- /, ''))
  }
  assert.fail('the file was accepted')
}

test('a task file gives its prompt; defaults fill what it leaves out', () => {
  const task = parseTaskFile(valid)
  assert.deepEqual(promptOf(task), {
    system: 'You triage support tickets.',
    user: 'Ticket: {{ticket}}\nTier: {{ tier }}',
    model: 'openai:gpt-4.1-mini',
    params: { temperature: 0.2, maxTokens: 300 },
  })
  assert.equal(task.description, '')
  const bare = parseTaskFile({ ...valid, params: undefined, golden: undefined, search: undefined, canary: undefined })
  assert.deepEqual(bare.params, { temperature: 0, maxTokens: 512 })
  assert.deepEqual(bare.golden, [])
})

test('an unknown template variable is named with its path and the declared ones', () => {
  const file = { ...valid, messages: [valid.messages[0], { role: 'user', content: 'Ticket: {{ticket}} {{customer}}' }] }
  assert.deepEqual(problems(file), [
    'messages[1].content: unknown variable {{customer}}; declared: ticket, tier (add it to inputs, or fix the name)',
  ])
})

test('every problem is listed at once, each with its path', () => {
  const file = {
    ...valid,
    id: 'Support Triage',
    inputs: [],
    messages: [{ role: 'user', content: 'hi' }],
    grader: { file: '' },
    search: { rounds: 2, budgetUsd: -1, proposalModel: 'x' },
    golden: [{ input: { ticket: 'x' }, reference: 'y' }],
    extra: true,
  }
  const found = problems(file)
  for (const path of ['id', 'inputs', 'messages', '(root)', 'search.budgetUsd', 'search.proposalModel'])
    assert.ok(
      found.some((p) => p.startsWith(`${path}: `)),
      `${path} not named in:\n${found.join('\n')}`,
    )
  assert.ok(
    found.some((p) => /search\.proposalModel: .*proposerModel/.test(p)),
    'a misspelled key names the right one',
  )
})

test('the messages are a system message then a user message that uses an input', () => {
  const swapped = { ...valid, messages: [valid.messages[1], valid.messages[0]] }
  const found = problems(swapped)
  assert.ok(found.includes('messages[0].role: the first message must be the system message'), found.join('\n'))
  assert.ok(found.includes('messages[1].role: the second message must be the user message'), found.join('\n'))
  const noVar = { ...valid, messages: [valid.messages[0], { role: 'user', content: 'Answer the ticket.' }] }
  assert.deepEqual(problems(noVar), [
    'messages[1].content: the user message uses no input variable; put e.g. {{ticket}} where the input goes',
  ])
})

test('a golden case must give every declared input', () => {
  const file = { ...valid, golden: [{ input: { ticket: 'x' }, reference: 'y' }] }
  assert.deepEqual(problems(file), ['golden[0].input: missing input variable tier'])
})

test('the published JSON Schema is the one generated from the zod schema (npm run schemas)', () => {
  const published = JSON.parse(readFileSync(join(REPO_ROOT, 'schemas', 'task.schema.json'), 'utf8'))
  assert.deepEqual(published, taskFileJsonSchema())
  const props = published.properties as Record<string, unknown>
  for (const key of ['id', 'model', 'params', 'inputs', 'messages', 'grader', 'search', 'canary', 'golden'])
    assert.ok(key in props, `${key} missing from the JSON Schema`)
})

test("a task's campaign defaults go under the settings a person gives, key by key", () => {
  const defaults = {
    search: { proposerModel: 'openai:gpt-4.1', rolloutBudget: 500, budgetUsd: 5 },
    canary: { steps: [0.05, 0.25] },
  }
  const merged = withTaskDefaults({ search: { rolloutBudget: 80 }, sample: { size: 120 } }, defaults)
  assert.deepEqual(merged, {
    search: { proposerModel: 'openai:gpt-4.1', rolloutBudget: 80, budgetUsd: 5 },
    canary: { steps: [0.05, 0.25] },
    sample: { size: 120 },
  })
  const config = parseCampaignConfig(merged)
  assert.equal(config.search.proposerModel, 'openai:gpt-4.1')
  assert.equal(config.search.rolloutBudget, 80)
  assert.deepEqual(config.canary.steps, [0.05, 0.25])
  // Nothing given: the task's defaults; no defaults: the input as it was.
  assert.deepEqual(withTaskDefaults(undefined, defaults), { search: defaults.search, canary: defaults.canary })
  const own = { search: { rounds: 2 } }
  assert.equal(withTaskDefaults(own, null), own)
  // A section that is not a mapping stays, so the parse refuses it by name.
  assert.deepEqual(withTaskDefaults({ search: 'fast' }, defaults), { search: 'fast', canary: defaults.canary })
  assert.throws(() => parseCampaignConfig(withTaskDefaults({ search: 'fast' }, defaults)), /search/)
})

test("a task's number of approvers is a floor: a campaign may ask for more, never for fewer", () => {
  const defaults = { canary: { approvals: 2 } }
  assert.equal(parseCampaignConfig(withTaskDefaults({}, defaults)).canary.approvals, 2)
  assert.equal(parseCampaignConfig(withTaskDefaults({ canary: { approvals: 1 } }, defaults)).canary.approvals, 2)
  assert.equal(parseCampaignConfig(withTaskDefaults({ canary: { approvals: 3 } }, defaults)).canary.approvals, 3)
  assert.equal(parseCampaignConfig({}).canary.approvals, 1, 'one approver unless a policy says otherwise')
})
