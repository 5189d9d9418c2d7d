/**
 * @module db/client
 * Open Kaizen's database: PostgreSQL through node-postgres when a URL is given, otherwise an
 * embedded PGlite database under the data folder. PGlite is single-process, so a lock stops a
 * second Kaizen process from opening (and corrupting) the same folder.
 * Migrations run here, once, at start-up.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import pg from 'pg'
import lockfile from 'proper-lockfile'
import { KaizenError } from '../core/errors.js'
import { dbFault } from '../lib/db-errors.js'
import { describeError } from '../lib/safe-log.js'
import * as schema from './schema.js'

export type Schema = typeof schema
/** The query interface shared by both drivers. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** Where the data lives, without credentials (for messages). */
  location: string
  close(): Promise<void>
}

export const MIGRATIONS_FOLDER = resolve(dirname(fileURLToPath(import.meta.url)), 'migrations')

/** Remove the password from a connection URL before printing it. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|key|token/i.test(key)) u.searchParams.set(key, '***')
    return u.toString()
  } catch {
    return '(unparseable DATABASE_URL)'
  }
}

/**
 * PGlite is single-process: hold an exclusive lock on its folder while it is open. The lock is a
 * directory created atomically and kept fresh; a crashed owner's lock goes stale after 30 s.
 */
async function acquirePgliteLock(dir: string): Promise<() => void> {
  const pidFile = join(dir, 'kaizen.pid')
  try {
    const release = await lockfile.lock(dir, {
      lockfilePath: join(dir, 'kaizen.lock'),
      stale: 30_000,
      update: 5_000,
      retries: 0,
      onCompromised: (err) =>
        console.error(`[kaizen] the lock on ${dir} was lost (${err.message}); another process may open the database`),
    })
    writeFileSync(pidFile, String(process.pid))
    return () => {
      rmSync(pidFile, { force: true })
      release().catch(() => undefined)
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err
    let owner = 'another Kaizen process'
    try {
      owner += ` (pid ${Number(readFileSync(pidFile, 'utf8').trim())})`
    } catch {
      // no pid note (yet)
    }
    throw new KaizenError(
      'INFRA_UNAVAILABLE',
      `the embedded database in ${dir} is in use by ${owner}. ` +
        'PGlite allows one process at a time: stop that process first (Ctrl-C in its terminal), ' +
        'or set DATABASE_URL to a PostgreSQL server so several processes can share the data.',
    )
  }
}

/**
 * Where a lost idle connection is reported instead of stderr (a long-running process sets it to
 * its database outage reporter: a server restart drops every idle connection at once).
 */
export const poolEvents: { connectionLost: ((reason: string) => void) | null } = { connectionLost: null }

async function openPostgres(url: string, migrate: boolean): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 10_000,
  })
  const lost = (err: Error) =>
    poolEvents.connectionLost
      ? poolEvents.connectionLost(describeError(err))
      : console.error(`[kaizen] PostgreSQL connection lost: ${describeError(err)}`)
  // An idle connection that fails (the server restarted, the network dropped it) is replaced on next use.
  pool.on('error', lost)
  // A checked-out connection (a transaction's, the migrator's) that fails emits 'error' on its client,
  // which the pool listens to only while the client is idle: unheard, it would end the process. Its
  // queries fail on their own (the caller sees the error) and the pool drops it on release.
  pool.on('acquire', (client) => client.on('error', lost))
  pool.on('release', (_err, client) => client.removeListener('error', lost))
  const location = redactUrl(url)
  try {
    const client = await pool.connect()
    try {
      if (migrate) {
        // drizzle's migrator has no lock of its own: serialise migrators across processes.
        await client.query(`SELECT pg_advisory_lock(hashtext('kaizen-migrations'))`)
        try {
          await migratePg(drizzlePg(pool, { schema }) as NodePgDatabase<Schema>, {
            migrationsFolder: MIGRATIONS_FOLDER,
          })
        } finally {
          await client.query(`SELECT pg_advisory_unlock(hashtext('kaizen-migrations'))`)
        }
      }
    } finally {
      client.release()
    }
  } catch (err) {
    await pool.end().catch(() => undefined)
    if (err instanceof KaizenError) throw err
    const transport = dbFault(err)?.kind === 'unavailable'
    throw new KaizenError(
      transport ? 'INFRA_UNAVAILABLE' : 'CONFIG_ERROR',
      `cannot use the PostgreSQL database at ${location}: ${describeError(err)}` +
        (transport ? ' (is the server running and DATABASE_URL right?)' : ''),
      { cause: err },
    )
  }
  return { db: drizzlePg(pool, { schema }) as unknown as Db, kind: 'postgres', location, close: () => pool.end() }
}

async function openPglite(dataDir: string, migrate: boolean): Promise<Database> {
  const dir = resolve(dataDir, 'pglite')
  mkdirSync(dir, { recursive: true })
  const release = await acquirePgliteLock(dir)
  try {
    const client = await PGlite.create(dir)
    const db = drizzlePglite(client, { schema })
    if (migrate) await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER })
    return {
      db: db as unknown as Db,
      kind: 'pglite',
      location: dir,
      close: async () => {
        try {
          await client.close()
        } finally {
          release()
        }
      },
    }
  } catch (err) {
    release()
    throw err
  }
}

/**
 * @example
 * const { db, close } = await openDatabase({ url: process.env.DATABASE_URL, dataDir: '.kaizen' })
 */
export async function openDatabase(options: {
  url?: string | undefined
  dataDir: string
  migrate?: boolean
}): Promise<Database> {
  const migrate = options.migrate ?? true
  return options.url ? openPostgres(options.url, migrate) : openPglite(options.dataDir, migrate)
}
