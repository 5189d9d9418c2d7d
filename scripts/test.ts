/**
 * `npm test` (after the type check): run every test with node:test against real infrastructure:
 * a fresh PostgreSQL database for this run and a real Temporal dev server (scripts/lib/test-infra.ts).
 *
 *   npm test                      all of test/
 *   npx tsx scripts/test.ts test/unit test/db/db.test.ts   some of it
 *
 * Three test files run at a time (KAIZEN_TEST_CONCURRENCY): on two cores the long integration files
 * mostly wait on timers, servers and child processes, and three at a time took 11 m 46 s against
 * 13 m 24 s two at a time on the same machine (2026-12-06), every test passing at both.
 *
 * Postgres: TEST_DATABASE_URL names a server and a database to connect to for CREATE DATABASE
 * (default postgres://postgres@127.0.0.1:5432/postgres). KAIZEN_KEEP_TEST_DB=1 keeps the database.
 */
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { REPO_ROOT } from '../runtime/env.js'
import { withTestInfra } from './lib/test-infra.js'

const log = (line: string) => process.stderr.write(`[test] ${line}\n`)

function findTests(paths: string[]): string[] {
  const out: string[] = []
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) for (const f of readdirSync(p).sort()) walk(join(p, f))
    else if (p.endsWith('.test.ts')) out.push(p)
  }
  for (const p of paths) walk(resolve(p))
  return out
}

/**
 * The longest files (a few minutes each, mostly waiting on timers) start first, so that the test
 * slots end together instead of one running a long file alone at the end (longest first).
 */
const LONGEST_FIRST = [
  'integration/outage.test.ts',
  'integration/your-own-prompt.test.ts',
  'integration/demo.test.ts',
  'integration/cli.test.ts',
  'integration/durability.test.ts',
  'integration/operations-cli.test.ts',
]
const rank = (file: string) => {
  const i = LONGEST_FIRST.findIndex((f) => file.endsWith(f))
  return i < 0 ? LONGEST_FIRST.length : i
}

async function main(): Promise<number> {
  const args = process.argv.slice(2)
  const files = findTests(args.length > 0 ? args : [join(REPO_ROOT, 'test')]).sort((a, b) => rank(a) - rank(b))
  if (files.length === 0) {
    log(`no test files under ${args.join(' ') || 'test/'}`)
    return 1
  }
  return withTestInfra(
    log,
    (infra) =>
      new Promise<number>((done) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            '--test',
            '--test-timeout=600000',
            `--test-concurrency=${process.env.KAIZEN_TEST_CONCURRENCY ?? '3'}`,
            ...files.map((f) => relative(REPO_ROOT, f)),
          ],
          {
            cwd: REPO_ROOT,
            stdio: 'inherit',
            env: {
              ...process.env,
              KAIZEN_TEST_DATABASE_URL: infra.databaseUrl,
              KAIZEN_TEST_TEMPORAL_ADDRESS: infra.temporalAddress,
              TEMPORAL_CLI_PATH: infra.temporalCliPath,
            },
          },
        )
        child.on('close', (c) => done(c ?? 1))
      }),
  )
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(err instanceof Error ? err.message : String(err))
    process.exit(1)
  },
)
