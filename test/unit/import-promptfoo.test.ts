import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { Check } from '../../core/grader-spec.js'
import { modelFromProviderId } from '../../core/import/common.js'
import { importPromptfoo, type PromptfooImportOptions } from '../../core/import/promptfoo.js'
import { parseTaskFile } from '../../core/task-file.js'
import { regex } from '../../graders/checks/text.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { refusal } from '../helpers/refusal.js'

const dir = join(REPO_ROOT, 'test/fixtures/import')
const fixture = (name: string): unknown => parse(readFileSync(join(dir, name), 'utf8'))
const selfGradingFiles = { 'prompts.txt': readFileSync(join(dir, 'promptfoo-self-grading-prompts.txt'), 'utf8') }

const FIXTURES: Array<[string, PromptfooImportOptions]> = [
  ['promptfoo-assertions.yaml', {}],
  ['promptfoo-getting-started.yaml', {}],
  ['promptfoo-self-grading.yaml', { files: selfGradingFiles }],
  ['promptfoo-self-grading.yaml', { files: selfGradingFiles, judgeModel: 'anthropic:claude-sonnet-4' }],
]

test('every fixture imports to a task file that parseTaskFile accepts', () => {
  for (const [name, options] of FIXTURES) {
    const { task } = importPromptfoo(fixture(name), options)
    assert.doesNotThrow(() => parseTaskFile(task, name), name)
  }
})

test('each mapped assertion gives its dimension; reference assertions read the golden reference', () => {
  const { task } = importPromptfoo(fixture('promptfoo-assertions.yaml'), { source: 'promptfooconfig.yaml' })
  assert.equal(task.id, 'capital-cities')
  assert.equal(task.model, 'openai:gpt-4.1-mini')
  assert.deepEqual(task.params, { temperature: 0.2, maxTokens: 50 })
  assert.deepEqual(task.inputs, ['country'])
  assert.deepEqual(task.messages, [
    { role: 'system', content: "You answer geography questions with the city's name." },
    { role: 'user', content: 'What is the capital of {{country}}?' },
  ])
  const grader = task.grader as { dimensions: Array<{ name: string; weight: number; check: unknown }> }
  const two = [
    { label: 'fails', description: 'The answer does not meet the rubric.' },
    { label: 'passes', description: 'The answer meets the rubric.' },
  ]
  const dims = Object.fromEntries(grader.dimensions.map((d) => [d.name, d.check]))
  assert.deepEqual(dims, {
    // The tests' own equals / levenshtein: one dimension each, reading the golden reference.
    equals: { type: 'exact', caseSensitive: true },
    levenshtein: { type: 'edit-distance', minSimilarity: 0.8 },
    // defaultTest: grader-wide.
    'equals-2': { type: 'exact', value: 'Paris', caseSensitive: true },
    'not-equals': { type: 'regex', pattern: "^I don't know$", flags: '', negate: true },
    contains: { type: 'contains', values: ['Paris'], mode: 'all', caseSensitive: true },
    'not-contains': { type: 'regex', pattern: 'London', flags: '', negate: true },
    icontains: { type: 'contains', values: ['paris'], mode: 'all', caseSensitive: false },
    'not-icontains': { type: 'regex', pattern: 'sorry', flags: 'i', negate: true },
    'contains-any': { type: 'contains', values: ['Paris', 'Lyon'], mode: 'any', caseSensitive: true },
    'not-contains-any': { type: 'regex', pattern: 'Berlin|Madrid', flags: '', negate: true },
    'contains-all': { type: 'contains', values: ['Paris', 'France'], mode: 'all', caseSensitive: true },
    'not-contains-all': { type: 'regex', pattern: '^(?=[\\s\\S]*foo)(?=[\\s\\S]*bar)', flags: '', negate: true },
    'icontains-all': { type: 'contains', values: ['paris'], mode: 'all', caseSensitive: false },
    'not-icontains-any': { type: 'regex', pattern: 'error|fail', flags: 'i', negate: true },
    regex: { type: 'regex', pattern: '^[A-Z]', flags: '', negate: false },
    'not-regex': { type: 'regex', pattern: '\\d', flags: '', negate: true },
    'is-json': { type: 'json-schema', schema: {} },
    'contains-json': { type: 'json-schema', schema: { type: 'object', required: ['city'] } },
    'levenshtein-2': { type: 'edit-distance', value: 'Paris', minSimilarity: 0.6 },
    cost: { type: 'cost', maxUsd: 0.002 },
    latency: { type: 'latency', maxMs: 3000 },
    'llm-rubric': {
      type: 'llm-judge',
      rubric: 'Names the capital city and nothing else',
      levels: two,
      passLevel: 1,
      includeReference: false,
    },
    concise: {
      type: 'llm-judge',
      rubric: 'Is concise',
      levels: [
        { label: 'none', description: 'The answer meets none of the rubric.' },
        { label: 'little', description: 'The answer meets a little of the rubric.' },
        { label: 'half', description: 'The answer meets about half of the rubric.' },
        { label: 'most', description: 'The answer meets most of the rubric.' },
        { label: 'all', description: 'The answer fully meets the rubric.' },
      ],
      passLevel: 3,
      includeReference: false,
    },
  })
  assert.equal(grader.dimensions.find((d) => d.name === 'concise')?.weight, 2)
  assert.deepEqual((task.grader as { judge?: unknown }).judge, { model: 'openai:gpt-4.1' })
  assert.deepEqual(task.golden, [
    { input: { country: 'France' }, reference: 'Paris', note: 'France' },
    { input: { country: 'Japan' }, reference: 'Tokyo' },
    { input: { country: 'Spain' }, reference: 'Madrid' },
  ])
})

test('the assertions with no Kaizen check are listed, each with its location and reason', () => {
  const { unmapped, notes } = importPromptfoo(fixture('promptfoo-assertions.yaml'))
  assert.deepEqual(
    unmapped.map((u) => [u.location, u.assertion]),
    [
      ['defaultTest.assert[15]', 'not-is-json'],
      ['defaultTest.assert[17]', 'not-contains-json'],
      ['defaultTest.assert[19]', 'not-levenshtein'],
      ['defaultTest.assert[21]', 'not-cost'],
      ['defaultTest.assert[23]', 'not-latency'],
      ['defaultTest.assert[26]', 'not-llm-rubric'],
      ['defaultTest.assert[27]', 'javascript'],
      ['defaultTest.assert[28]', 'similar'],
      ['defaultTest.assert[29]', 'model-graded-closedqa'],
      ['defaultTest.assert[30]', 'cost'],
      ['tests[0].assert[2]', 'contains'],
      ['tests[1].assert[1]', 'contains'],
      ['tests[3].assert[1]', 'levenshtein'],
    ],
  )
  const reason = (location: string) => unmapped.find((u) => u.location === location)?.reason
  assert.equal(reason('defaultTest.assert[15]'), 'the json-schema check has no negated form')
  assert.equal(reason('defaultTest.assert[19]'), 'the edit-distance check has no negated form')
  assert.equal(reason('defaultTest.assert[26]'), 'the llm-judge check has no negated form')
  assert.equal(reason('defaultTest.assert[30]'), 'cost needs a positive threshold')
  assert.match(reason('tests[0].assert[2]') ?? '', /^only in 1 of 5 tests: a Kaizen grader applies every dimension/)
  assert.match(reason('tests[1].assert[1]') ?? '', /transform/)
  assert.match(reason('tests[3].assert[1]') ?? '', /already takes its reference from tests\[3\]\.assert\[0\]/)
  for (const expected of [
    /^scenarios: not imported/,
    /^derivedMetrics: not imported/,
    /^prompts\[1\]: not imported/,
    /^providers\[1\] \(anthropic:messages:claude-sonnet-4\): not imported/,
    /^dimension "levenshtein" reads every answer's reference; in promptfoo only tests\[0\]/,
    /^1 of 5 tests give no reference/,
    /^tests\[4\]: not a golden case: no text value for country/,
  ])
    assert.ok(
      notes.some((n) => expected.test(n)),
      `${expected} in:\n${notes.join('\n')}`,
    )
})

test('the negated contains forms behave as promptfoo: none of / not all of the values', () => {
  const { task } = importPromptfoo(fixture('promptfoo-assertions.yaml'))
  const dims = (task.grader as { dimensions: Array<{ name: string; check: unknown }> }).dimensions
  const run = (name: string, output: string) => {
    const check = Check.parse(dims.find((d) => d.name === name)?.check)
    assert.equal(check.type, 'regex')
    return regex({ output, input: {}, reference: null }, check as Extract<Check, { type: 'regex' }>).pass
  }
  assert.equal(run('not-contains-all', 'foo and bar'), false)
  assert.equal(run('not-contains-all', 'bar\nthen foo'), false)
  assert.equal(run('not-contains-all', 'only foo'), true)
  assert.equal(run('not-contains-any', 'Madrid'), false)
  assert.equal(run('not-contains-any', 'madrid'), true)
  assert.equal(run('not-icontains-any', 'It FAILED'), false)
  assert.equal(run('not-equals', "I don't know"), false)
  assert.equal(run('not-equals', "I don't know yet"), true)
})

test("promptfoo's getting-started example: test-specific contains are unmapped; the grader is a placeholder", () => {
  const result = importPromptfoo(fixture('promptfoo-getting-started.yaml'))
  assert.equal(result.task.model, 'openai:gpt-4.1')
  assert.deepEqual(result.task.inputs, ['language', 'input'])
  assert.deepEqual(result.task.messages, [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Convert this English to {{language}}: {{input}}' },
  ])
  assert.deepEqual(result.task.grader, { file: 'grader.yaml' })
  assert.deepEqual(result.needs, ['grader'])
  assert.deepEqual(
    result.unmapped.map((u) => [u.location, u.assertion]),
    [
      ['tests[0].assert[0]', 'contains'],
      ['tests[1].assert[0]', 'icontains'],
    ],
  )
  assert.ok(result.notes.some((n) => n.startsWith('prompts[0] is one text: it is the user message')))
})

test("promptfoo's self-grading example: a file prompt given by the caller, defaultTest's rubric, the judge", () => {
  const withJudge = importPromptfoo(fixture('promptfoo-self-grading.yaml'), {
    files: selfGradingFiles,
    judgeModel: 'anthropic:claude-sonnet-4',
  })
  assert.equal(withJudge.task.model, 'openai:gpt-4.1')
  assert.match((withJudge.task.messages[1] as { content: string }).content, /^You're an ecommerce chat assistant/)
  assert.ok(withJudge.notes.includes('prompts[0] prompt 2: not imported: a Kaizen task has one prompt'))
  const grader = withJudge.task.grader as { dimensions: Array<{ name: string }>; judge: unknown }
  assert.deepEqual(
    grader.dimensions.map((d) => d.name),
    ['llm-rubric'],
  )
  assert.deepEqual(grader.judge, { model: 'anthropic:claude-sonnet-4' })
  assert.deepEqual(withJudge.unmapped, [
    {
      location: 'defaultTest.assert[1]',
      assertion: 'javascript',
      reason: 'runs custom code; Kaizen graders are declarative (write a check for it)',
    },
  ])
  // No judge anywhere: the rubric is unmapped (no placeholder judge), and the grader is the placeholder.
  const noJudge = importPromptfoo(fixture('promptfoo-self-grading.yaml'), { files: selfGradingFiles })
  assert.deepEqual(
    noJudge.unmapped.map((u) => u.assertion),
    ['llm-rubric', 'javascript'],
  )
  assert.match(noJudge.unmapped[0]?.reason ?? '', /^no judge model/)
  assert.deepEqual(noJudge.needs, ['grader'])
  // The file not given: nothing to import, and the error says what to pass.
  assert.match(
    refusal(() => importPromptfoo(fixture('promptfoo-self-grading.yaml'))),
    /^prompts: .*files/,
  )
})

const base = {
  prompts: ['Answer: {{question}}'],
  providers: ['openai:gpt-4.1-mini'],
}

test('a defaultTest equals on a test variable gives each test its reference', () => {
  const { task, unmapped } = importPromptfoo({
    ...base,
    defaultTest: { assert: [{ type: 'equals', value: '{{expected}}' }, { type: 'is-json' }] },
    tests: [{ vars: { question: '2+2?', expected: '4' } }, { vars: { question: '3+3?', expected: 6 } }],
  })
  assert.deepEqual(unmapped, [])
  assert.deepEqual(task.inputs, ['question'])
  assert.deepEqual(task.golden, [
    { input: { question: '2+2?' }, reference: '4' },
    { input: { question: '3+3?' }, reference: '6' },
  ])
  assert.deepEqual((task.grader as { dimensions: unknown[] }).dimensions, [
    { name: 'equals', weight: 1, check: { type: 'exact', caseSensitive: true } },
    { name: 'is-json', weight: 1, check: { type: 'json-schema', schema: {} } },
  ])
})

test('an assertion in every test is one dimension; a JSON equals is json-schema const; templated is unmapped', () => {
  const { task, unmapped } = importPromptfoo({
    ...base,
    defaultTest: { assert: [{ type: 'icontains', value: '{{topic}}' }] },
    tests: [
      { vars: { question: 'a', topic: 'x' }, assert: [{ type: 'latency', threshold: 900 }] },
      {
        vars: { question: 'b', topic: 'y' },
        assert: [
          { type: 'latency', threshold: 900, metric: 'Fast' },
          { type: 'cost', threshold: 0.01 },
        ],
      },
      {
        vars: { question: 'c', topic: 'z' },
        assert: [
          { type: 'latency', threshold: 900 },
          { type: 'equals', value: { ok: true } },
        ],
      },
    ],
  })
  assert.deepEqual(
    unmapped.map((u) => [u.location, u.assertion]),
    [
      ['defaultTest.assert[0]', 'icontains'],
      ['tests[1].assert[1]', 'cost'],
      ['tests[2].assert[1]', 'equals'],
    ],
  )
  assert.match(unmapped[0]?.reason ?? '', /uses each test's vars/)
  assert.match(unmapped[1]?.reason ?? '', /^only in 1 of 3 tests/)
  assert.deepEqual((task.grader as { dimensions: unknown[] }).dimensions, [
    { name: 'latency', weight: 1, check: { type: 'latency', maxMs: 900 } },
  ])
  assert.equal(task.golden?.length, 0)
  const json = importPromptfoo({ ...base, defaultTest: { assert: [{ type: 'equals', value: { ok: true } }] } })
  assert.deepEqual((json.task.grader as { dimensions: unknown[] }).dimensions, [
    { name: 'equals', weight: 1, check: { type: 'json-schema', schema: { const: { ok: true } } } },
  ])
})

test('a chat prompt: its system message, its last user message; other turns noted', () => {
  const chat = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello.' },
    { role: 'user', content: 'Question: {{q}}' },
  ]
  const { task, notes } = importPromptfoo({ ...base, prompts: [JSON.stringify(chat)] })
  assert.deepEqual(task.messages, [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Question: {{q}}' },
  ])
  assert.ok(notes.some((n) => n.startsWith('prompts[0]: 2 other message(s) (user, assistant) left out')))
})

test('provider ids become provider-prefixed model ids; code providers are not models', () => {
  assert.equal(modelFromProviderId('openai:gpt-4.1-mini'), 'openai:gpt-4.1-mini')
  assert.equal(modelFromProviderId('openai:chat:gpt-4o-mini'), 'openai:gpt-4o-mini')
  assert.equal(modelFromProviderId('anthropic:messages:claude-sonnet-4'), 'anthropic:claude-sonnet-4')
  assert.equal(modelFromProviderId('ollama:chat:llama3.1:8b'), 'ollama:llama3.1:8b')
  assert.equal(modelFromProviderId('python:provider.py'), null)
  assert.equal(modelFromProviderId('https://example.com/api'), null)
  assert.equal(modelFromProviderId('file://providers.yaml'), null)
  const provider = { id: 'openai:chat:gpt-4o', config: { temperature: 3, max_tokens: 100 } }
  const { task, notes } = importPromptfoo({ ...base, providers: [provider] })
  assert.equal(task.model, 'openai:gpt-4o')
  assert.deepEqual(task.params, { maxTokens: 100 })
  assert.ok(notes.some((n) => n.startsWith('providers[0].config.temperature 3 is not 0–2')))
  assert.match(
    refusal(() => importPromptfoo({ ...base, providers: ['python:p.py'] })),
    /^providers\[0\]: /,
  )
  assert.equal(
    importPromptfoo({ ...base, providers: ['python:p.py'] }, { model: 'openai:gpt-4.1' }).task.model,
    'openai:gpt-4.1',
  )
})

test('bad input is INVALID_INPUT naming the path', () => {
  assert.match(
    refusal(() => importPromptfoo({ providers: ['openai:gpt-4.1'] })),
    /prompts: /,
  )
  assert.match(
    refusal(() => importPromptfoo({ ...base, tests: [{ vars: { question: 'x' }, assert: [{ value: 'y' }] }] })),
    /tests\[0\]\.assert\[0\]\.type: /,
  )
  assert.match(
    refusal(() => importPromptfoo({ ...base, prompts: ['No variable here'] })),
    /^prompts\[0\]: the user/,
  )
  assert.match(
    refusal(() => importPromptfoo(base, { taskId: 'Not An Id' })),
    /id: use lowercase/,
  )
})
