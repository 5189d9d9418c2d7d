import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { sql } from 'drizzle-orm'
import { openDatabase, type Database } from '../../db/client.js'
import { sampleTraffic, type SampleSpec } from '../../db/queries/sampling.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { unitHash } from '../../lib/hash.js'
import { scenarioCopy, testInfra } from '../helpers/infra.js'

let d: Database
let taskId: string
const now = new Date('2026-11-20T12:00:00Z')
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000)

before(async () => {
  d = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent' })
  const scenario = await scenarioCopy('incident-triage', 'sampling')
  const reg = await registerSimulatedTask(d.db, taskOfScenario(scenario))
  taskId = scenario.task.id
  // 4,000 usable records over 200 hours: 80 % on "api", 20 % on "db"; plus unusable ones.
  await d.db.execute(sql`
    insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, reference, provider, model,
                         simulated, created_at, error, arm)
    select 's' || g, ${taskId}, ${reg.seedVersion.id}, 'u' || g,
           jsonb_build_object('service', case when g % 5 = 0 then 'db' else 'api' end,
                              'summary', 'case ' || md5(g::text)),
           'out', '{"diagnosis":"x","keywords":[],"actions":[],"risk":"low"}'::jsonb, 'external', 'm', false,
           ${now.toISOString()}::timestamptz - (g % 200) * interval '1 hour', null, null
    from generate_series(1, 4000) g`)
  await d.db.execute(sql`
    insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, reference, provider, model,
                         simulated, created_at, error, arm)
    select 'bad' || g, ${taskId}, ${reg.seedVersion.id}, 'u', jsonb_build_object('summary', 'bad ' || md5(g::text)),
           'out',
           case when g % 3 = 0 then null else '{"diagnosis":"x","keywords":[],"actions":[],"risk":"low"}'::jsonb end,
           'external', 'm', false, ${now.toISOString()}::timestamptz - interval '1 hour',
           case when g % 3 = 1 then 'timeout' else null end, case when g % 3 = 2 then 'canary' else null end
    from generate_series(1, 300) g`)
  // Near-duplicates: the same input up to digits, case and spacing.
  await d.db.execute(sql`
    insert into traffic (id, task_id, prompt_version_id, routing_key, input, output, reference, provider, model,
                         simulated, created_at)
    select 'dup' || g, ${taskId}, ${reg.seedVersion.id}, 'u',
           jsonb_build_object('summary', 'Disk FULL on node ' || g || ' ' || repeat(' ', g % 3)), 'out',
           '{"diagnosis":"x","keywords":[],"actions":[],"risk":"low"}'::jsonb, 'external', 'm', false,
           ${now.toISOString()}::timestamptz - interval '2 hours'
    from generate_series(1, 500) g`)
})
after(() => d.close())

const idList = (ids: readonly string[]) =>
  sql.join(
    ids.map((id) => sql`${id}`),
    sql`, `,
  )
const spec = (over: Partial<SampleSpec> = {}): SampleSpec => ({
  taskId,
  seed: 'seed-1',
  size: 300,
  since: hoursAgo(1_000),
  until: now,
  ...over,
})

test(`sampling is deterministic by seed and equals the full-table seeded order (index \
range, widened until exact)`, async () => {
  const a = await sampleTraffic(d.db, spec({ dedupe: false }))
  assert.deepEqual(await sampleTraffic(d.db, spec({ dedupe: false })), a)
  const b = await sampleTraffic(d.db, spec({ dedupe: false, seed: 'seed-2' }))
  assert.notDeepEqual(b, a)
  // Reference: every usable record's draw u = (sample_key + s) mod 1, smallest first.
  const s = unitHash('kaizen-sample', 'seed-1')
  const rows = (await d.db.execute(
    sql`select id, sample_key from traffic
        where task_id = ${taskId} and error is null and reference is not null and (arm is null or arm <> 'canary')`,
  )) as unknown as { rows: Array<{ id: string; sample_key: number }> }
  const expected = rows.rows
    .map((r) => ({ id: r.id, u: (Number(r.sample_key) + s) % 1 }))
    .sort((x, y) => x.u - y.u || (x.id < y.id ? -1 : 1))
    .slice(0, 300)
    .map((r) => r.id)
  assert.deepEqual(a, expected)
  assert.ok(
    a.every((id) => !id.startsWith('bad')),
    'errors, unknown outcomes and canary answers are never sampled',
  )
})

test('time window, near-duplicates removed, fewer than asked only when the window holds fewer', async () => {
  const recent = await sampleTraffic(d.db, spec({ since: hoursAgo(10), size: 5_000, dedupe: false }))
  const times = (await d.db.execute(
    sql`select min(created_at) as t from traffic where id in (${idList(recent)})`,
  )) as unknown as { rows: Array<{ t: string }> }
  assert.ok(new Date(times.rows[0]!.t) >= hoursAgo(10))
  assert.equal(recent.filter((id) => id.startsWith('s')).length, 4_000 * (11 / 200))
  const deduped = await sampleTraffic(d.db, spec({ since: hoursAgo(3), size: 5_000 }))
  assert.equal(deduped.filter((id) => id.startsWith('dup')).length, 1, 'five hundred near-duplicates count once')
  const kept = await sampleTraffic(d.db, spec({ since: hoursAgo(3), size: 5_000, dedupe: false }))
  assert.equal(kept.filter((id) => id.startsWith('dup')).length, 500)
})

test('recency weighting favours recent records; stratification keeps each segment’s share', async () => {
  const meanAge = async (ids: string[]) => {
    const r = (await d.db.execute(
      sql`select avg(extract(epoch from (${now.toISOString()}::timestamptz - created_at)) / 3600) as h
          from traffic where id in (${idList(ids)})`,
    )) as unknown as { rows: Array<{ h: string }> }
    return Number(r.rows[0]!.h)
  }
  const uniform = await meanAge(await sampleTraffic(d.db, spec()))
  const weighted = await meanAge(await sampleTraffic(d.db, spec({ halfLifeHours: 24 })))
  assert.ok(
    uniform > 80 && weighted < uniform / 2,
    `mean age ${weighted.toFixed(1)} h weighted vs ${uniform.toFixed(1)} h uniform`,
  )

  const strat = await sampleTraffic(d.db, spec({ stratifyBy: 'service', size: 100, since: hoursAgo(199.5) }))
  const services = (await d.db.execute(
    sql`select input->>'service' as s, count(*)::int as n from traffic where id in (${idList(strat)}) group by 1`,
  )) as unknown as { rows: Array<{ s: string; n: number }> }
  const by = Object.fromEntries(services.rows.map((r) => [r.s, r.n]))
  assert.equal(strat.length, 100)
  assert.ok(Math.abs((by.db ?? 0) - 20) <= 1 && Math.abs((by.api ?? 0) - 80) <= 1, JSON.stringify(by))
})
