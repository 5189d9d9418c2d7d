import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { and, asc, eq } from 'drizzle-orm'
import { stringify } from 'yaml'
import { openDatabase, type Database } from '../../db/client.js'
import { listGolden } from '../../db/queries/golden.js'
import { getLabels } from '../../db/queries/labels.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { auditEvents, promptVersions, traffic } from '../../db/schema.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { kaizen } from '../helpers/cli.js'
import { scenarioCopy, testInfra } from '../helpers/infra.js'

let d: Database
const dir = mkdtempSync(join(tmpdir(), 'kaizen-task-file-'))
const taskId = `support-triage-${randomBytes(3).toString('hex')}`
// An OpenAI-compatible server is configured (no call is made when a task is applied).
const env = () => ({
  DATABASE_URL: testInfra().databaseUrl,
  OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
  OPENAI_API_KEY: undefined,
})

const definition = (system: string) => ({
  id: taskId,
  title: 'Support ticket triage',
  model: 'openai:gpt-4.1-mini',
  params: { temperature: 0, maxTokens: 300 },
  inputs: ['ticket', 'tier'],
  messages: [
    { role: 'system', content: system },
    { role: 'user', content: 'Ticket: {{ticket}}\nTier: {{tier}}' },
  ],
  grader: { file: 'grader.yaml' },
  search: { proposerModel: 'openai:gpt-4.1', rolloutBudget: 300 },
  golden: [
    { input: { ticket: 'Cannot log in since the update', tier: 'gold' }, reference: { queue: 'auth' } },
    { input: { ticket: 'Invoice shows the wrong VAT', tier: 'free' }, reference: { queue: 'billing' } },
  ],
})

function writeTask(name: string, value: unknown): string {
  const path = join(dir, name)
  writeFileSync(path, stringify(value))
  return path
}

before(async () => {
  d = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent' })
  copyFileSync(join(REPO_ROOT, 'test', 'fixtures', 'task', 'grader.yaml'), join(dir, 'grader.yaml'))
})
after(() => d.close())

const versions = () =>
  d.db.select().from(promptVersions).where(eq(promptVersions.taskId, taskId)).orderBy(asc(promptVersions.version))
const audit = () => d.db.select().from(auditEvents).where(eq(auditEvents.taskId, taskId)).orderBy(asc(auditEvents.id))

test('kaizen task apply: a task from YAML (no scenario); unchanged again; a new prompt is a draft', async () => {
  const first = writeTask('task.yaml', definition('You triage support tickets.'))
  const applied = await kaizen(['task', 'apply', '-f', first, '--actor', 'alice'], env())
  assert.equal(applied.code, 0, applied.stderr)
  const result = JSON.parse(applied.stdout)
  assert.equal(result.created, true)
  assert.equal(result.version.version, 1)
  assert.match(applied.stderr, /Task "support-triage-\w+" created\./)
  const task = await d.db.query.tasks.findFirst({ where: (t, { eq }) => eq(t.id, taskId) })
  assert.equal(task?.scenarioId, null, 'no scenario behind a task file')
  assert.deepEqual(task?.inputFields, ['ticket', 'tier'])
  assert.equal((await getLabels(d.db, taskId)).production?.promptVersionId, result.version.id)
  const golden = await listGolden(d.db, taskId)
  assert.equal(golden.length, 2)
  const goldenRows = await d.db.select().from(traffic).where(eq(traffic.taskId, taskId))
  assert.deepEqual(
    goldenRows.map((r) => r.reference).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    [{ queue: 'auth' }, { queue: 'billing' }],
  )
  const eventsAfterFirst = (await audit()).map((e) => e.action)
  for (const action of ['task.created', 'prompt.production-set', 'grader.activated', 'golden.added'])
    assert.ok(eventsAfterFirst.includes(action), `${action} not in ${eventsAfterFirst.join(', ')}`)
  assert.ok((await audit()).every((e) => e.actor === 'user:alice'))

  // The same file again: nothing changes, nothing is recorded.
  const again = await kaizen(['task', 'apply', '-f', first], env())
  assert.equal(again.code, 0, again.stderr)
  assert.equal(JSON.parse(again.stdout).changed, false)
  assert.equal((await audit()).length, eventsAfterFirst.length)

  // A changed prompt: a new human version, a draft; production stays.
  const second = writeTask('task-v2.yaml', definition('You triage support tickets. Name the queue first.'))
  const draft = await kaizen(['task', 'apply', '-f', second], env())
  assert.equal(draft.code, 0, draft.stderr)
  const drafted = JSON.parse(draft.stdout)
  assert.equal(drafted.version.version, 2)
  assert.equal(drafted.promoted, false)
  assert.match(draft.stderr, /Version 2 is a draft; production stays on version 1/)
  assert.equal((await getLabels(d.db, taskId)).production?.promptVersionId, result.version.id)
  assert.deepEqual(
    (await versions()).map((v) => [v.version, v.origin]),
    [
      [1, 'human'],
      [2, 'human'],
    ],
  )

  // --promote moves production (compare-and-swap), audited.
  const promoted = await kaizen(['task', 'apply', '-f', second, '--promote'], env())
  assert.equal(promoted.code, 0, promoted.stderr)
  assert.equal(JSON.parse(promoted.stdout).promoted, true)
  assert.equal((await getLabels(d.db, taskId)).production?.promptVersionId, drafted.version.id)
  const promotion = (await audit()).filter((e) => e.action === 'prompt.promoted')
  assert.equal(promotion.length, 1)
  assert.equal((promotion[0]?.details as { from: string }).from, result.version.id)

  const list = await kaizen(['task', 'list'], env())
  assert.equal(list.code, 0, list.stderr)
  const row = JSON.parse(list.stdout).find((r: { taskId: string }) => r.taskId === taskId)
  assert.deepEqual([row.production, row.source, row.model], [`${taskId}@2`, 'task file', 'openai:gpt-4.1-mini'])
})

test('kaizen task apply refuses a bad file naming each problem, and a scenario task id, changing nothing', async () => {
  const bad = writeTask('bad.yaml', {
    ...definition('You triage.'),
    id: `bad-${taskId}`,
    messages: [
      { role: 'system', content: 'You triage.' },
      { role: 'user', content: 'Ticket: {{ticket}} from {{customer}}' },
    ],
  })
  const refused = await kaizen(['task', 'apply', '-f', bad], env())
  assert.equal(refused.code, 2, refused.stderr)
  assert.match(refused.stderr, /messages\[1\]\.content: unknown variable \{\{customer\}\}; declared: ticket, tier/)
  assert.equal(await d.db.query.tasks.findFirst({ where: (t, { eq }) => eq(t.id, `bad-${taskId}`) }), undefined)

  // A model no configured provider serves: refused, naming the field and what to set.
  const noProvider = await kaizen(
    ['task', 'apply', '-f', writeTask('ok.yaml', { ...definition('x'), id: `np-${taskId}` })],
    {
      DATABASE_URL: testInfra().databaseUrl,
      OPENAI_BASE_URL: undefined,
      OPENAI_API_KEY: undefined,
    },
  )
  assert.notEqual(noProvider.code, 0)
  assert.match(noProvider.stderr, /model: no configured provider serves model "openai:gpt-4.1-mini".*OPENAI_API_KEY/s)
  assert.match(noProvider.stderr, /search\.proposerModel: no configured provider serves model "openai:gpt-4.1"/)
  assert.match(noProvider.stderr, /Nothing was applied/)
  assert.equal(await d.db.query.tasks.findFirst({ where: (t, { eq }) => eq(t.id, `np-${taskId}`) }), undefined)

  const scenario = await scenarioCopy('incident-triage', 'taken')
  await registerSimulatedTask(d.db, taskOfScenario(scenario))
  const before = await d.db.select().from(auditEvents).where(eq(auditEvents.taskId, scenario.task.id))
  const clash = writeTask('clash.yaml', { ...definition('You triage.'), id: scenario.task.id, golden: [] })
  const conflict = await kaizen(['task', 'apply', '-f', clash], env())
  assert.notEqual(conflict.code, 0)
  assert.match(
    conflict.stderr,
    /is the simulated task of scenario .*; give your own task another id; nothing was changed/,
  )
  const afterward = await d.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.taskId, scenario.task.id)))
  assert.equal(afterward.length, before.length)
})

test('kaizen prompts push, promote and rollback: drafts, compare-and-swap moves with who and why', async () => {
  const id = `${taskId}-moves`
  const file = writeTask('moves.yaml', { ...definition('You triage support tickets.'), id, golden: [] })
  assert.equal((await kaizen(['task', 'apply', '-f', file], env())).code, 0)
  const prompt = join(dir, 'prompt.yaml')
  writeFileSync(
    prompt,
    stringify({
      system: 'You triage support tickets. Always name the queue.',
      user: 'Ticket: {{ticket}} ({{tier}})',
      model: 'openai:gpt-4.1-mini',
    }),
  )
  const pushed = await kaizen(['prompts', 'push', '--task', id, '-f', prompt, '--actor', 'bob'], env())
  assert.equal(pushed.code, 0, pushed.stderr)
  assert.equal(JSON.parse(pushed.stdout).version, 2)
  assert.match(pushed.stderr, /is a draft/)

  const badPrompt = join(dir, 'bad-prompt.yaml')
  writeFileSync(badPrompt, stringify({ system: 'x', user: 'Ticket: {{customer}}', model: 'm' }))
  const refused = await kaizen(['prompts', 'push', '--task', id, '-f', badPrompt], env())
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /user: unknown variable \{\{customer\}\}; declared: ticket, tier/)
  const noProvider = await kaizen(['prompts', 'push', '--task', id, '-f', prompt], {
    DATABASE_URL: testInfra().databaseUrl,
    OPENAI_BASE_URL: undefined,
    OPENAI_API_KEY: undefined,
  })
  assert.notEqual(noProvider.code, 0, noProvider.stderr)
  assert.match(
    noProvider.stderr,
    /prompt\.yaml: model: no configured provider serves model "openai:gpt-4.1-mini".*OPENAI_API_KEY/s,
  )
  assert.match(noProvider.stderr, /Nothing was pushed/)

  const noReason = await kaizen(['prompts', 'promote', `${id}@2`], env())
  assert.equal(noReason.code, 2)
  assert.match(noReason.stderr, /missing --reason/)
  const promoted = await kaizen(['prompts', 'promote', `${id}@2`, '--reason', 'reviewed', '--actor', 'carol'], env())
  assert.equal(promoted.code, 0, promoted.stderr)
  assert.deepEqual(JSON.parse(promoted.stdout).to.version, 2)
  const v2 = JSON.parse(promoted.stdout).to.id
  assert.equal((await getLabels(d.db, id)).production?.promptVersionId, v2)

  const back = await kaizen(['prompts', 'rollback', '--task', id, '--reason', 'more escalations'], env())
  assert.equal(back.code, 0, back.stderr)
  assert.match(back.stderr, /moved from version 2 to version 1/)
  const again = await kaizen(['prompts', 'rollback', '--task', id, '--to', '1', '--reason', 'sure'], env())
  assert.match(again.stderr, /already serves version 1; nothing was changed/)

  const moves = (await d.db.select().from(auditEvents).where(eq(auditEvents.taskId, id)).orderBy(asc(auditEvents.id)))
    .filter((e) => e.action.startsWith('prompt.'))
    .map((e) => [e.action, e.actor, (e.details as { reason?: string }).reason ?? null])
  assert.deepEqual(moves, [
    ['prompt.production-set', 'user:' + (process.env.USER ?? 'cli'), `first version, from the task file ${file}`],
    ['prompt.pushed', 'user:bob', null],
    ['prompt.promoted', 'user:carol', 'reviewed'],
    ['prompt.rolled-back', 'user:' + (process.env.USER ?? 'cli'), 'more escalations'],
  ])
})

test('kaizen task import --from promptfoo writes a task file that applies: task, grader and golden set', async () => {
  const fixtures = join(REPO_ROOT, 'test', 'fixtures', 'import')
  copyFileSync(join(fixtures, 'promptfoo-assertions.yaml'), join(dir, 'promptfooconfig.yaml'))
  const out = join(dir, 'imported.task.yaml')
  const id = `imported-${taskId}`
  const imported = await kaizen([
    'task',
    'import',
    join(dir, 'promptfooconfig.yaml'),
    '--from',
    'promptfoo',
    '-o',
    out,
    '--id',
    id,
  ])
  assert.equal(imported.code, 0, imported.stderr)
  const report = JSON.parse(imported.stdout)
  // Nothing is dropped silently: every unmapped assertion is listed with its location.
  assert.equal(report.unmapped.length, 13)
  for (const u of report.unmapped)
    assert.ok(imported.stderr.includes(`${u.location}: ${u.assertion} — ${u.reason}`), `${u.location} not reported`)
  assert.deepEqual(report.needs, [])

  const applied = await kaizen(['task', 'apply', '-f', out], env())
  assert.equal(applied.code, 0, applied.stderr)
  const result = JSON.parse(applied.stdout)
  assert.equal(result.taskId, id)
  assert.equal(result.goldenAdded, 3)
  assert.equal((await listGolden(d.db, id)).length, 3)
  const grader = await d.db.query.graderVersions.findFirst({ where: (g, { eq }) => eq(g.id, result.graderVersionId) })
  const spec = grader?.spec as {
    judge?: { model: string }
    dimensions: Array<{ name: string; check: { type: string } }>
  }
  assert.equal(spec.judge?.model, 'openai:gpt-4.1')
  assert.equal(spec.dimensions.length, 23)
  assert.ok(spec.dimensions.some((d) => d.name === 'not-contains' && d.check.type === 'regex'))

  // promptfoo's own self-grading example: its prompt file is read relative to the config.
  copyFileSync(join(fixtures, 'promptfoo-self-grading.yaml'), join(dir, 'self-grading.yaml'))
  copyFileSync(join(fixtures, 'promptfoo-self-grading-prompts.txt'), join(dir, 'prompts.txt'))
  const selfGrading = await kaizen([
    'task',
    'import',
    join(dir, 'self-grading.yaml'),
    '--from',
    'promptfoo',
    '-o',
    join(dir, 'sg.task.yaml'),
    '--judge-model',
    'openai:gpt-4.1',
  ])
  assert.equal(selfGrading.code, 0, selfGrading.stderr)
  assert.deepEqual(
    JSON.parse(selfGrading.stdout).unmapped.map(
      (u: { location: string; assertion: string }) => `${u.location} ${u.assertion}`,
    ),
    ['defaultTest.assert[1] javascript'],
  )
  const missing = await kaizen(['task', 'import', join(fixtures, 'promptfoo-self-grading.yaml'), '--from', 'promptfoo'])
  assert.equal(missing.code, 3)
  assert.match(missing.stderr, /prompts: cannot read file:\/\/prompts\.txt/)
})
