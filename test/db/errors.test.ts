/**
 * Database errors are described by code, condition, constraint and table — never by the SQL's
 * parameters or PostgreSQL's detail — whether they come from PostgreSQL, from a lost connection
 * or from PGlite; activities turn them into Temporal failures that say no more, and that are retried.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ApplicationFailure } from '@temporalio/common'
import { sql } from 'drizzle-orm'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { PGlite } from '@electric-sql/pglite'
import { toApplicationFailure } from '../../activities/failure.js'
import { KaizenError } from '../../core/errors.js'
import { openDatabase, type Database } from '../../db/client.js'
import { describeDbError, isDbUnavailable, statementOf } from '../../lib/db-errors.js'
import { describeError, sanitizeError } from '../../lib/safe-log.js'
import { startTcpProxy, type TcpProxy } from '../helpers/faults.js'
import { eventually, testInfra, uniqueSuffix } from '../helpers/infra.js'

const SECRET = 'jane.secret-4711@example.com sk-live-abcdefghijklmnopqrstuvwxyz'

/** The error `fn` rejects with (fails the test if it does not reject). */
async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn()
  } catch (err) {
    return err
  }
  assert.fail('expected an error')
}

/** Nothing of the planted value, the SQL's parameters or PostgreSQL's detail in any rendering of the error. */
function assertClean(text: string): void {
  for (const bad of ['jane.secret', 'sk-live', 'params', 'Failed query', 'Key (', 'already exists'])
    assert.ok(!text.includes(bad), `"${bad}" in: ${text}`)
}

/** Everything a failure would put into Temporal history: messages and stacks along the cause chain. */
function failureText(f: unknown): string {
  const out: string[] = []
  for (let e = f as { message?: string; stack?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    out.push(String(e.message), String(e.stack))
  return out.join('\n')
}

describe('database errors on PostgreSQL', () => {
  let d: Database
  let proxy: TcpProxy
  let viaProxy: Database
  const table = `errs_${uniqueSuffix('t').replace(/-/g, '_')}`
  before(async () => {
    d = await openDatabase({ url: testInfra().databaseUrl, dataDir: '/nonexistent', migrate: false })
    await d.db.execute(sql.raw(`create table ${table} (id text primary key, n integer)`))
    await d.db.execute(sql`insert into ${sql.identifier(table)} (id) values (${SECRET})`)
    proxy = await startTcpProxy(testInfra().databaseUrl)
    viaProxy = await openDatabase({ url: proxy.url(testInfra().databaseUrl), dataDir: '/nonexistent', migrate: false })
  })
  after(async () => {
    await d.db.execute(sql.raw(`drop table if exists ${table}`))
    await viaProxy.close().catch(() => undefined)
    await proxy.close()
    await d.close()
  })

  test('a constraint violation: code, condition, constraint and table; not the row values of its detail', async () => {
    const err = await caught(() => d.db.execute(sql`insert into ${sql.identifier(table)} (id) values (${SECRET})`))
    assert.match(String((err as Error).message), /params:/, 'the raw error does carry the parameters')
    const text = describeDbError(err)
    assert.equal(
      text,
      `database error: 23505 unique_violation on constraint ${table}_pkey of table ${table} during insert ` +
        `into ${table}`,
    )
    assert.equal(isDbUnavailable(err), false)
    assertClean(describeError(err))

    const failure = toApplicationFailure(err) as ApplicationFailure
    assert.ok(failure instanceof ApplicationFailure)
    assert.equal(failure.type, 'DATABASE_ERROR')
    assert.equal(failure.nonRetryable, false, 'retried by the activity policy')
    assertClean(failureText(failure))
  })

  test('a message that quotes a value (invalid input syntax) is not repeated', async () => {
    const err = await caught(() => d.db.execute(sql`select ${SECRET}::integer`))
    assert.match(String((err as { cause?: Error }).cause?.message), /jane\.secret/, 'PostgreSQL quotes the value')
    assert.equal(describeDbError(err), 'database error: 22P02 invalid_text_representation during select')
    assertClean(describeError(err))
  })

  test(`the server ending the session (57P01 admin_shutdown) and the connection refused or \
dropped: unavailable, retryable`, async () => {
    const shutdown = await caught(() =>
      viaProxy.db.execute(sql`select pg_terminate_backend(pg_backend_pid()), ${SECRET}::text`),
    )
    assert.equal(describeDbError(shutdown), 'database unavailable: 57P01 admin_shutdown during select')
    assert.equal(isDbUnavailable(shutdown), true)

    // Cut while a query runs: the connection ends under it.
    const running = viaProxy.db.execute(sql`select pg_sleep(20), ${SECRET}::text`).then(
      () => assert.fail('the query should have lost its connection'),
      (e: unknown) => e,
    )
    await waitForActiveQuery(d, 'pg_sleep(20)')
    await proxy.cut()
    const terminated = await running
    assert.equal(describeDbError(terminated), 'database unavailable: connection terminated during select')

    const refused = await caught(() =>
      viaProxy.db.execute(sql`select * from ${sql.identifier(table)} where id = ${SECRET}`),
    )
    assert.equal(
      describeDbError(refused),
      `database unavailable: connection refused (ECONNREFUSED) during select from ${table}`,
    )
    const inTransaction = await caught(() =>
      viaProxy.db.transaction(async (tx) => tx.execute(sql`select ${SECRET}::text`)),
    )
    assert.equal(describeDbError(inTransaction), 'database unavailable: connection refused (ECONNREFUSED)')

    await proxy.cut({ mode: 'reset' })
    const reset = await caught(() => viaProxy.db.execute(sql`select ${SECRET}::text`))
    assert.equal(isDbUnavailable(reset), true, describeError(reset))
    await proxy.restore()
    assert.ok(await viaProxy.db.execute(sql`select 1`), 'the pool reconnects once the database is back')

    for (const err of [shutdown, terminated, refused, reset]) {
      assertClean(describeError(err))
      const failure = toApplicationFailure(err) as ApplicationFailure
      assert.equal(failure.type, 'INFRA_UNAVAILABLE')
      assert.equal(failure.nonRetryable, false, 'a dropped connection is retried by the activity policy')
      assertClean(failureText(failure))
    }
  })

  test('a Kaizen error caused by a database error: its own message, a described cause', async () => {
    const dbErr = await caught(() => d.db.execute(sql`insert into ${sql.identifier(table)} (id) values (${SECRET})`))
    const failure = toApplicationFailure(
      new KaizenError('INFRA_UNAVAILABLE', 'could not record the canary step', { cause: dbErr }),
    ) as ApplicationFailure
    assert.equal(failure.type, 'INFRA_UNAVAILABLE')
    assert.equal(failure.message, 'could not record the canary step')
    assert.match(String((failure.cause as Error).message), /23505 unique_violation/)
    assertClean(failureText(failure))
    assertClean(failureText(sanitizeError(new Error('wrapper', { cause: dbErr }))))
  })
})

test('PGlite errors (which carry the query and its parameters) are described the same way', async () => {
  const client = new PGlite()
  try {
    const db = drizzlePglite(client)
    await db.execute(sql`create table t (id text primary key)`)
    await db.execute(sql`insert into t (id) values (${SECRET})`)
    const err = await caught(() => db.execute(sql`insert into t (id) values (${SECRET})`))
    assert.equal(
      describeDbError(err),
      'database error: 23505 unique_violation on constraint t_pkey of table t during insert into t',
    )
    assertClean(describeError(err))
    await client.close()
    const closed = await caught(() => db.execute(sql`select ${SECRET}::text`))
    assert.equal(isDbUnavailable(closed), true, describeError(closed))
    assertClean(describeError(closed))
  } finally {
    if (!client.closed) await client.close()
  }
})

test('statementOf: the verb and first table, never anything else of the SQL', () => {
  assert.equal(statementOf('insert into "traffic" ("id", "input") values ($1, $2)'), 'insert into traffic')
  assert.equal(statementOf('select "id" from "tasks" where "tasks"."id" in ($1)'), 'select from tasks')
  assert.equal(statementOf(`update "public"."labels" set "weight" = 0.5 where id = 'x'`), 'update labels')
  assert.equal(statementOf('delete from traffic where id = $1'), 'delete from traffic')
  assert.equal(statementOf(`select 'jane@example.com'::text`), 'select')
  assert.equal(statementOf('not sql at all'), null)
})

async function waitForActiveQuery(d: Database, fragment: string): Promise<void> {
  const active = async () =>
    Number(
      (
        (await d.db.execute(
          sql`select count(*)::int as n from pg_stat_activity
              where state = 'active' and query like ${`%${fragment}%`} and pid <> pg_backend_pid()`,
        )) as unknown as { rows: Array<{ n: number }> }
      ).rows[0]?.n ?? 0,
    )
  await eventually(active, (n) => n > 0, 20_000, `a running query with ${fragment}`)
}
