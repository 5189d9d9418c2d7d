import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { eq, sql } from 'drizzle-orm'
import { isKaizenError } from '../../core/errors.js'
import { openDatabase, poolEvents, type Database } from '../../db/client.js'
import { getLabels, moveLabel } from '../../db/queries/labels.js'
import { createPromptVersion, findPromptVersion } from '../../db/queries/prompts.js'
import { registerSimulatedTask } from '../../db/queries/tasks.js'
import { taskOfScenario } from '../../sim/task.js'
import { auditEvents, labelHistory } from '../../db/schema.js'
import { scenarioCopy, testInfra } from '../helpers/infra.js'

const pgliteDir = mkdtempSync(join(tmpdir(), 'kaizen-pglite-test-'))
after(() => rmSync(pgliteDir, { recursive: true, force: true }))

const drivers: Array<[string, () => Promise<Database>]> = [
  ['postgres', () => openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent' })],
  ['pglite', () => openDatabase({ dataDir: pgliteDir })],
]

for (const [name, open] of drivers) {
  describe(`database on ${name}`, () => {
    test('migrations apply (and re-apply as a no-op); history tables reject UPDATE, DELETE and TRUNCATE', async () => {
      const d = await open()
      try {
        const scenario = await scenarioCopy('incident-triage', `db-${name}`)
        const reg = await registerSimulatedTask(d.db, taskOfScenario(scenario))
        assert.equal(reg.created, true)
        assert.equal((await registerSimulatedTask(d.db, taskOfScenario(scenario))).created, false)
        const appendOnly = (e: Error) =>
          /append-only/.test(String((e as { cause?: Error }).cause?.message ?? e.message))
        for (const table of ['audit_events', 'prompt_versions', 'label_history', 'grader_versions', 'approvals']) {
          await assert.rejects(
            d.db.execute(sql.raw(`UPDATE ${table} SET created_at = now()`)),
            appendOnly,
            `${table} UPDATE`,
          )
          await assert.rejects(d.db.execute(sql.raw(`DELETE FROM ${table}`)), appendOnly, `${table} DELETE`)
          // TRUNCATE needs an exclusive lock on tables other test files write concurrently on the
          // shared Postgres database; the isolated PGlite database checks the same trigger SQL.
          if (name === 'pglite')
            await assert.rejects(d.db.execute(sql.raw(`TRUNCATE ${table} CASCADE`)), appendOnly, `${table} TRUNCATE`)
        }
        const events = await d.db.select().from(auditEvents).where(eq(auditEvents.taskId, scenario.task.id))
        assert.ok(events.some((e) => e.action === 'label.production.moved'))
      } finally {
        await d.close()
      }
      // Re-opening runs the migrator again: nothing to apply, nothing breaks.
      const again = await open()
      await again.close()
    })

    test('prompt versions: same content is the same version; concurrent writers get distinct numbers', async () => {
      const d = await open()
      try {
        const scenario = await scenarioCopy('incident-triage', `pv-${name}`)
        const reg = await registerSimulatedTask(d.db, taskOfScenario(scenario))
        const base = scenario.task.prompt
        const again = await createPromptVersion(d.db, {
          taskId: scenario.task.id,
          content: base,
          origin: 'human',
          createdBy: 'test',
        })
        assert.equal(again.id, reg.seedVersion.id)
        const made = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            createPromptVersion(d.db, {
              taskId: scenario.task.id,
              content: { ...base, system: `${base.system} Variant ${i}.` },
              origin: 'campaign',
              parentIds: [reg.seedVersion.id],
              createdBy: 'test',
            }),
          ),
        )
        assert.deepEqual(
          made.map((v) => v.version).sort((a, b) => a - b),
          [2, 3, 4, 5, 6, 7],
        )
        assert.equal((await findPromptVersion(d.db, `${scenario.task.id}@3`)).version, 3)
        await assert.rejects(
          findPromptVersion(d.db, `${scenario.task.id}@99`),
          (e) => isKaizenError(e) && e.code === 'NOT_FOUND',
        )
      } finally {
        await d.close()
      }
    })

    test('label moves are idempotent, audited, and guarded by canary ownership', async () => {
      const d = await open()
      try {
        const scenario = await scenarioCopy('incident-triage', `lbl-${name}`)
        const reg = await registerSimulatedTask(d.db, taskOfScenario(scenario))
        const task = scenario.task.id
        const move = {
          moveKey: `t:${task}:canary`,
          taskId: task,
          label: 'canary' as const,
          toVersionId: reg.seedVersion.id,
          weight: 0.2,
          canaryId: 'c-1',
          reason: 'test',
          actor: 'tester',
        }
        assert.equal((await moveLabel(d.db, move)).moved, true)
        assert.equal((await moveLabel(d.db, move)).moved, false, 'same key twice moves once')
        assert.equal((await getLabels(d.db, task)).canary?.weight, 0.2)
        const steal = await moveLabel(d.db, {
          ...move,
          moveKey: `t:${task}:remove-other`,
          toVersionId: null,
          canaryId: 'c-2',
          expect: { canaryIn: ['c-2'] },
        })
        assert.equal(steal.moved, false, 'another canary cannot remove this one')
        assert.match(steal.conflict ?? '', /belongs to c-1/)
        const overwrite = await moveLabel(d.db, {
          ...move,
          moveKey: `t:${task}:start-c3`,
          canaryId: 'c-3',
          expect: { absent: true, canaryIn: ['c-3'] },
        })
        assert.equal(overwrite.moved, false, 'a second canary cannot take a held label')
        assert.equal((await getLabels(d.db, task)).canary?.canaryId, 'c-1')
        const takeover = await moveLabel(d.db, {
          ...move,
          moveKey: `t:${task}:start-c4`,
          canaryId: 'c-4',
          expect: { absent: true, canaryIn: ['c-4', 'c-1'] },
        })
        assert.equal(takeover.moved, true, 'a superseding canary takes over the label it replaces')
        await moveLabel(d.db, {
          ...move,
          moveKey: `t:${task}:remove`,
          toVersionId: null,
          canaryId: 'c-4',
          expect: { canaryIn: ['c-4'] },
        })
        assert.equal((await getLabels(d.db, task)).canary, null)
        const history = await d.db.select().from(labelHistory).where(eq(labelHistory.taskId, task))
        assert.equal(history.filter((h) => h.label === 'canary').length, 3)
        const stale = await moveLabel(d.db, {
          ...move,
          moveKey: `t:${task}:promote-stale`,
          label: 'production',
          canaryId: 'c-4',
          expect: { versionId: 'pv_not_the_current_one' },
        })
        assert.equal(stale.moved, false, 'promotion only from the baseline the canary was compared with')
        assert.equal((await moveLabel(d.db, move)).alreadyApplied, true)
        await assert.rejects(
          moveLabel(d.db, { ...move, moveKey: 'x', label: 'production', toVersionId: null }),
          /cannot be removed/,
        )
      } finally {
        await d.close()
      }
    })
  })
}

test('a second process cannot open the same PGlite folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kaizen-pglite-lock-'))
  const first = await openDatabase({ dataDir: dir })
  try {
    const { spawnSync } = await import('node:child_process')
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(process.cwd(), 'db/client.ts')}').then(m => m.openDatabase({ dataDir: '${dir}' ` +
          `})).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3) })`,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 3)
    assert.match(r.stderr, /in use by another Kaizen process \(pid \d+\).*DATABASE_URL/s)
  } finally {
    await first.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('simulated traffic of different tasks never collides, even with the same run id', async () => {
  const d = await drivers[0]![1]()
  try {
    const { SimulationProvider } = await import('../../providers/simulation.js')
    const { PromptResolver } = await import('../../serving/resolver.js')
    const { TrafficSimulator } = await import('../../serving/traffic-simulator.js')
    const a = await scenarioCopy('incident-triage', 'ids-a')
    const b = await scenarioCopy('refund-decision', 'ids-b')
    const provider = new SimulationProvider([a, b])
    for (const s of [a, b]) {
      await registerSimulatedTask(d.db, taskOfScenario(s))
      await new TrafficSimulator({
        db: d.db,
        provider,
        resolver: new PromptResolver(d.db),
        scenario: s,
        runId: 'same-run',
      }).burst(5)
    }
  } finally {
    await d.close()
  }
})

const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows

test(`PostgreSQL: a connection lost while checked out (a transaction's) fails that transaction and is \
reported, not the process; the pool carries on`, async () => {
  const d = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent' })
  const reasons: string[] = []
  poolEvents.connectionLost = (reason) => reasons.push(reason)
  try {
    await assert.rejects(
      d.db.transaction(async (tx) => {
        const [row] = rowsOf<{ pid: number }>(await tx.execute(sql`select pg_backend_pid() as pid`))
        // Another connection ends this one's server process while the transaction holds it, between queries.
        await d.db.execute(sql`select pg_terminate_backend(${row?.pid})`)
        // The client hears of it while the transaction holds it and no query runs (unheard, the
        // process would end here); then its next query fails.
        for (const deadline = Date.now() + 10_000; reasons.length === 0 && Date.now() < deadline;)
          await new Promise((r) => setTimeout(r, 20))
        await tx.execute(sql`select 1`)
      }),
    )
    assert.ok(
      // Which the client hears first is a race: the server's FATAL 57P01 (admin_shutdown) or the socket's end.
      reasons.some((r) => /terminat|57P01|admin_shutdown/i.test(r)),
      `reported: ${reasons.join('; ') || 'nothing'}`,
    )
    const [one] = rowsOf<{ one: number }>(await d.db.execute(sql`select 1 as one`))
    assert.equal(one?.one, 1)
  } finally {
    poolEvents.connectionLost = null
    await d.close()
  }
})
