import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { and, eq, sql } from 'drizzle-orm'
import { openDatabase, type Database } from '../../db/client.js'
import { applyRetention, setRetention } from '../../db/queries/retention.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { auditEvents, scores, traffic } from '../../db/schema.js'
import { isKaizenError } from '../../core/errors.js'
import { holdTransaction, scenarioCopy, testInfra, untilLockWait } from '../helpers/infra.js'

let d: Database
let taskId: string
let graderVersionId: string
const now = new Date('2026-11-20T12:00:00Z')
const daysAgo = (n: number) => new Date(now.getTime() - n * 86_400_000).toISOString()

before(async () => {
  d = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent' })
  const scenario = await scenarioCopy('incident-triage', 'retention')
  const reg = await registerSimulatedTask(d.db, taskOfScenario(scenario))
  taskId = scenario.task.id
  graderVersionId = reg.graderVersionId
  // Prefixes say what each group is: free (nothing refers to it), ds (old dataset), fresh (dataset
  // snapshotted now), fb (feedback), gold (golden case), new (inside the retention period).
  await d.db.execute(sql`
    insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, reference, provider, model,
                         simulated, created_at)
    select p || '-' || g, ${taskId}, ${reg.seedVersion.id}, 'u',
           jsonb_build_object('summary', 'mail jane@example.com about ' || g), 'answer ' || g,
           '{"diagnosis":"x","keywords":[],"actions":[],"risk":"low"}'::jsonb, 'external', 'm', false,
           case when p = 'new' then ${daysAgo(5)}::timestamptz else ${daysAgo(40)}::timestamptz end
    from unnest(array['free', 'ds', 'fresh', 'fb', 'gold', 'new']) p, generate_series(1, 20) g`)
  await d.db.execute(sql`
    insert into scores (subject_type, subject_id, grader_version_id, score, pass, reason, dimensions)
    select 'traffic', id, ${graderVersionId}, 0.5, true, 'quoted: ' || output,
           '{"validity":{"pass":true,"score":1,"reason":"quoted"}}'::jsonb
    from traffic where task_id = ${taskId}`)
  await d.db.execute(sql`insert into datasets (id, task_id, seed, spec, counts, created_at) values
    ('ds-old-${sql.raw(String(process.pid))}', ${taskId}, 's',
     '{}'::jsonb, '{"train":20,"validation":0,"holdout":0}'::jsonb, ${daysAgo(35)}::timestamptz),
    ('ds-new-${sql.raw(String(process.pid))}', ${taskId}, 's',
     '{}'::jsonb, '{"train":20,"validation":0,"holdout":0}'::jsonb, ${now.toISOString()}::timestamptz)`)
  await d.db.execute(sql`insert into dataset_items (dataset_id, traffic_id, split, position)
    select case when id like 'ds-%' then 'ds-old-${sql.raw(String(process.pid))}'
                else 'ds-new-${sql.raw(String(process.pid))}' end,
           id, 'train', row_number() over ()
    from traffic where task_id = ${taskId} and (id like 'ds-%' or id like 'fresh-%')`)
  await d.db.execute(sql`insert into feedback (id, traffic_id, kind, value, actor)
    select 'fbk-' || id, id, 'rating', '{"score":1}'::jsonb, 'test'
    from traffic where task_id = ${taskId} and id like 'fb-%'`)
  await d.db.execute(sql`insert into golden_cases (task_id, traffic_id, added_by)
    select ${taskId}, id, 'test' from traffic where task_id = ${taskId} and id like 'gold-%'`)
})
after(() => d.close())

const group = async (prefix: string) =>
  d.db
    .select()
    .from(traffic)
    .where(and(eq(traffic.taskId, taskId), sql`${traffic.id} like ${`${prefix}-%`}`))

test(`retention deletes unreferenced old traffic, erases referenced, keeps golden, recent \
and freshly sampled records`, async () => {
  assert.deepEqual(await applyRetention(d.db, { taskId, now }), [], 'no retention set: nothing happens')
  await setRetention(d.db, { taskId, days: 30, actor: 'user:test' })
  const [result] = await applyRetention(d.db, { taskId, now, chunk: 7 })
  assert.deepEqual({ deleted: result?.deleted, erased: result?.erased }, { deleted: 20, erased: 40 })

  assert.equal((await group('free')).length, 0)
  const freeScores = await d.db
    .select()
    .from(scores)
    .where(sql`${scores.subjectId} like 'free-%'`)
  assert.equal(freeScores.length, 0, 'grades of deleted records go with them')
  for (const prefix of ['ds', 'fb']) {
    const rows = await group(prefix)
    assert.equal(rows.length, 20)
    for (const r of rows) {
      assert.equal(r.output, null)
      assert.equal(r.reference, null)
      assert.deepEqual(r.input, { summary: '[expired]' })
      assert.ok(r.expiredAt)
      assert.equal(r.model, 'm', 'metadata stays')
      assert.match(r.routingKey, /^expired:[0-9a-f]{16}$/, 'the user identifier goes too')
    }
    const grades = await d.db
      .select()
      .from(scores)
      .where(sql`${scores.subjectId} like ${`${prefix}-%`}`)
    assert.equal(grades.length, 20, 'grades of erased records stay')
    assert.ok(
      grades.every(
        (g) =>
          g.reason === '[expired]' &&
          g.score === 0.5 &&
          g.dimensions.validity?.reason === '[expired]' &&
          g.dimensions.validity?.score === 1,
      ),
      'their values stay, their reasons go',
    )
  }
  for (const prefix of ['gold', 'new', 'fresh'])
    for (const r of await group(prefix)) assert.match(r.output ?? '', /^answer/, `${prefix} untouched`)

  const audit = await d.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.taskId, taskId), sql`${auditEvents.action} like 'retention.%'`))
  assert.deepEqual(audit.map((a) => a.action).sort(), ['retention.applied', 'retention.set'])
  const [again] = await applyRetention(d.db, { taskId, now })
  assert.deepEqual({ deleted: again?.deleted, erased: again?.erased }, { deleted: 0, erased: 0 }, 'idempotent')

  // A day later the fresh dataset is past its grace period: its old records are erased too.
  const [later] = await applyRetention(d.db, { taskId, now: new Date(now.getTime() + 25 * 3_600_000) })
  assert.equal(later?.erased, 20)
})

test('retention settings are checked: days range and unknown task', async () => {
  for (const days of [0, -1, 2.5, 100_000]) {
    await assert.rejects(
      setRetention(d.db, { taskId, days, actor: 'test' }),
      (e: unknown) => isKaizenError(e) && e.code === 'INVALID_INPUT' && /days/.test(e.message),
    )
  }
  await assert.rejects(
    setRetention(d.db, { taskId: 'nope', days: 3, actor: 'test' }),
    (e: unknown) => isKaizenError(e) && e.code === 'NOT_FOUND',
  )
  await assert.rejects(
    applyRetention(d.db, { taskId: 'nope' }),
    (e: unknown) => isKaizenError(e) && e.code === 'NOT_FOUND',
  )
  await setRetention(d.db, { taskId, days: null, actor: 'user:test' })
  assert.deepEqual(await applyRetention(d.db, { taskId, now }), [])
})

test('feedback arriving while retention deletes its record: the record is erased instead, nothing fails', async () => {
  await setRetention(d.db, { taskId, days: 30, actor: 'user:test' })
  await d.db.execute(sql`
    insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, provider, model, simulated,
                         created_at)
    select 'race-1', ${taskId}, prompt_version_id, 'u', '{"summary":"late"}'::jsonb, 'answer', 'external', 'm', false,
           ${daysAgo(40)}::timestamptz
    from traffic where task_id = ${taskId} limit 1`)
  // Feedback on the record, not yet committed: its foreign-key check holds the row.
  const feedbackTx = await holdTransaction(d.db, (tx) =>
    tx.execute(sql`insert into feedback (id, traffic_id, kind, value, actor)
      values ('fbk-race-1', 'race-1', 'rating', '{"score":1}'::jsonb, 'test')`),
  )
  const running = applyRetention(d.db, { taskId, now })
  // Retention's delete picked the record (the feedback is not visible to it yet) and waits on it.
  await untilLockWait(d.db, 'retention waiting on the record')
  await feedbackTx.commit()
  const [result] = await running
  assert.equal(result?.erased, 1)
  const [row] = await group('race')
  assert.ok(row?.expiredAt, 'erased in place')
  assert.equal(row?.output, null)
  await setRetention(d.db, { taskId, days: null, actor: 'user:test' })
})
