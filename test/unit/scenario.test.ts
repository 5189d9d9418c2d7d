import assert from 'node:assert/strict'
import { readFile, writeFile, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse, stringify } from 'yaml'
import { isKaizenError } from '../../core/errors.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { loadScenarios } from '../../sim/registry.js'
import { loadScenarioFile, parseScenario } from '../../sim/scenario.js'

const scenarioPath = join(REPO_ROOT, 'scenarios', 'incident-triage.yaml')

test('the shipped scenarios are valid, including incident triage', async () => {
  const all = await loadScenarios(join(REPO_ROOT, 'scenarios'))
  assert.ok(all.size >= 2)
  assert.ok(all.has('incident-triage'))
  for (const s of all.values()) assert.ok(s.models.every((m) => m.id.startsWith('sim-')))
})

async function broken(mutate: (s: Record<string, any>) => void): Promise<string> {
  const s = parse(await readFile(scenarioPath, 'utf8'))
  mutate(s)
  try {
    parseScenario(s, 'scenario test.yaml')
  } catch (err) {
    assert.ok(isKaizenError(err) && err.code === 'INVALID_INPUT')
    return err.message
  }
  assert.fail('expected a validation error')
}

test('errors name the path of the bad field', async () => {
  assert.match(await broken((s) => (s.clauses[2].paraphrases = [])), /clauses\[2\]\.paraphrases/)
  assert.match(
    await broken((s) => (s.clusters[0].requirements[1] = 'no-such-clause')),
    /clusters\[0\]\.requirements\[1\]: unknown clause "no-such-clause"/,
  )
  assert.match(await broken((s) => (s.feedback.fidelity = 1.5)), /feedback\.fidelity/)
  assert.match(
    await broken((s) => (s.task.prompt.model = 'gpt-4o')),
    /task\.prompt\.model: model "gpt-4o" is not one of/,
  )
  assert.match(
    await broken((s) => (s.models[0].id = 'standard')),
    /models\[0\]\.id: simulated model ids start with "sim-"/,
  )
  assert.match(
    await broken((s) => (s.grading.forbidden = ['('])),
    /grading\.forbidden\[0\]: not a valid regular expression/,
  )
  assert.match(
    await broken((s) => (s.task.prompt.user = 'Hello {{nope}}')),
    /task\.prompt\.user: the user template uses \{\{nope\}\}/,
  )
  assert.match(await broken((s) => (s.variables.service = { kind: 'choise', values: ['a'] })), /variables\.service/)
})

test('unreadable or unparseable files get a clear error', async () => {
  await assert.rejects(
    loadScenarioFile('/nonexistent/x.yaml'),
    (e) => isKaizenError(e) && e.code === 'NOT_FOUND' && /cannot read scenario file/.test(e.message),
  )
  const dir = await mkdtemp(join(tmpdir(), 'kaizen-scn-'))
  await writeFile(join(dir, 'bad.yaml'), 'id: [unclosed')
  await assert.rejects(
    loadScenarioFile(join(dir, 'bad.yaml')),
    (e) => isKaizenError(e) && /not valid YAML/.test(e.message),
  )
  await writeFile(join(dir, 'a.json'), JSON.stringify(parse(await readFile(scenarioPath, 'utf8'))))
  await writeFile(join(dir, 'b.yaml'), stringify(parse(await readFile(scenarioPath, 'utf8'))))
  await assert.rejects(loadScenarios(dir), /two scenario files/)
})
