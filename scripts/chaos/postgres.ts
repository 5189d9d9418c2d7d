/**
 * A PostgreSQL cluster of the chaos suite's own, so that it can be crashed and restarted like a
 * production server (`pg_ctl stop -m immediate`: no shutdown checkpoint, crash recovery on start)
 * without touching the machine's shared server.
 *
 * Needs the server binaries (`initdb`, `pg_ctl`, `postgres`): KAIZEN_CHAOS_PG_BIN, or the newest
 * /usr/lib/postgresql/<version>/bin, or `pg_config --bindir`. PostgreSQL refuses to run as root:
 * as root, the cluster belongs to the `postgres` user and every command runs as that user
 * (`runuser`).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Cluster {
  /** Admin URL (database `postgres`, trust authentication). */
  readonly url: string
  readonly port: number
  /** Crash the server (immediate stop), stay down `downMs`, start it again (crash recovery). */
  crash(downMs: number): Promise<void>
  /** Stop it and delete its files. */
  destroy(): Promise<void>
}

function binDir(): string {
  const fromEnv = process.env.KAIZEN_CHAOS_PG_BIN
  if (fromEnv) return fromEnv
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0]) return join(root, versions[0], 'bin')
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(
      'the chaos suite needs the PostgreSQL server binaries (initdb, pg_ctl): install PostgreSQL or set ' +
        'KAIZEN_CHAOS_PG_BIN to their directory',
    )
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Create and start a cluster on `port`. */
export async function startCluster(port: number): Promise<Cluster> {
  const bin = binDir()
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'kaizen-chaos-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]]
      : [join(bin, cmd), args]
    const r = spawnSync(file as string, argv as string[], { encoding: 'utf8' })
    if (r.status !== 0)
      throw new Error(
        `${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout || '').trim().slice(-400)}`,
      )
  }
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  const start = () => run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', options, 'start'])
  start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async crash(downMs) {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
      await sleep(downMs)
      start()
    },
    async destroy() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
