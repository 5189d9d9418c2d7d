/**
 * The real infrastructure tests run against: a fresh PostgreSQL database (created, migrated,
 * dropped) and a headless Temporal dev server on a free port. Used by `npm test` and by
 * `npm run record-histories`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { KaizenError } from '../../core/errors.js'
import { openDatabase } from '../../db/client.js'
import { INSTALL_HELP, locateTemporalCli } from '../../runtime/temporal-cli.js'
import { startEmbeddedServer } from '../../runtime/temporal-server.js'

export interface TestInfra {
  databaseUrl: string
  temporalAddress: string
  temporalCliPath: string
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}

export async function withTestInfra<T>(log: (line: string) => void, fn: (infra: TestInfra) => Promise<T>): Promise<T> {
  const cli = await locateTemporalCli({ build: true, log })
  if (cli.kind !== 'binary')
    throw new KaizenError(
      'INFRA_UNAVAILABLE',
      `the tests run against a real Temporal dev server, and no Temporal CLI was found.\n${INSTALL_HELP}`,
    )
  log(`Temporal CLI: ${cli.path} (${cli.source})`)

  const database = await createTestDatabase(log)
  const serverDir = mkdtempSync(join(tmpdir(), 'kaizen-test-temporal-'))
  let server: Awaited<ReturnType<typeof startEmbeddedServer>> | null = null
  try {
    const databaseUrl = database.url
    const port = await freePort()
    server = await startEmbeddedServer({ cli, dataDir: serverDir, port, uiPort: port + 1, headless: true, log })
    log(`Temporal dev server at ${server.address}`)
    return await fn({ databaseUrl, temporalAddress: server.address, temporalCliPath: cli.path })
  } finally {
    await server?.stop()
    rmSync(serverDir, { recursive: true, force: true })
    await database.drop()
  }
}

/**
 * A fresh, migrated database of its own on the test Postgres (TEST_DATABASE_URL); `drop()` removes it (unless
 * KAIZEN_KEEP_TEST_DB).
 */
export async function createTestDatabase(
  log: (line: string) => void,
  prefix = 'kaizen_test',
): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const dbName = `${prefix}_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 })
  try {
    await admin.connect()
  } catch (err) {
    throw new KaizenError(
      'INFRA_UNAVAILABLE',
      `the tests need PostgreSQL: cannot connect to ${adminUrl} (${(err as Error).message}). Start Postgres ` +
        `or set TEST_DATABASE_URL.`,
    )
  }
  const drop = async () => {
    if (process.env.KAIZEN_KEEP_TEST_DB) log(`kept database ${dbName} (KAIZEN_KEEP_TEST_DB)`)
    else
      await admin
        .query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
        .catch((e: Error) => log(`could not drop ${dbName}: ${e.message}`))
    await admin.end()
  }
  try {
    await admin.query(`CREATE DATABASE ${dbName}`)
    const url = new URL(adminUrl)
    url.pathname = `/${dbName}`
    const migrated = await openDatabase({ url: url.toString(), dataDir: tmpdir() })
    await migrated.close()
    log(`database ${dbName} created and migrated`)
    return { url: url.toString(), drop }
  } catch (err) {
    await drop()
    throw err
  }
}
