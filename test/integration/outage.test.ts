/**
 * `kaizen up` rides out outages in the middle of its campaign's search: a 60 s Temporal outage (the
 * server SIGKILLed, then started again on the same port and file) and a database outage (every
 * connection dropped and new ones refused for a while, as a restart does). The campaign ends as an
 * uninterrupted run on a fresh database ends (the first run is reproducible: same winner, same
 * rollouts), the process never dies, and the operator reads one line when each outage starts and
 * one when it ends — not the worker's retry warnings.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { REPO_ROOT } from '../../runtime/env.js'
import { devServerArgs, temporalAnswers } from '../../runtime/temporal-server.js'
import { createTestDatabase, freePort } from '../../scripts/lib/test-infra.js'
import { startTcpProxy } from '../helpers/faults.js'
import { eventually, sleep } from '../helpers/infra.js'

const cleanups: Array<() => Promise<unknown> | unknown> = []
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined)
})

/** A Temporal dev server of this test's own (so the test can kill it), persisting to `dir`. */
async function temporalServer(dir: string, port: number): Promise<ChildProcess> {
  const cli = process.env.TEMPORAL_CLI_PATH
  assert.ok(cli, 'npm test provides TEMPORAL_CLI_PATH')
  const args = devServerArgs({ port, dbFile: join(dir, 'temporal.db'), uiPort: null, logLevel: 'error' })
  const child = spawn(cli, args, { stdio: 'ignore' })
  cleanups.push(() => child.kill('SIGKILL'))
  await eventually(
    () => temporalAnswers(`127.0.0.1:${port}`, 1_000),
    (up) => up,
    60_000,
    `Temporal on ${port}`,
  )
  return child
}

interface Up {
  child: ChildProcess
  lines: string[]
  /** Resolves with the first line matching `pattern` (also one already printed). */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>
}

/** `kaizen up` on a Temporal server and a database of the test's choosing. */
function kaizenUp(env: Record<string, string>): Up {
  const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-outage-'))
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'kaizen.js'), 'up', '--headless', '--rate', '10'], {
    cwd: REPO_ROOT,
    env: { ...process.env, KAIZEN_DATA_DIR: dataDir, KAIZEN_LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'))
  const lines: string[] = []
  let partial = ''
  child.stderr?.on('data', (d: Buffer) => {
    const text = partial + d.toString()
    const parts = text.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
  })
  return {
    child,
    lines,
    line: async (pattern, timeoutMs = 240_000) => {
      const found = await eventually(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error('kaizen up exited')
          return lines.find((l) => pattern.test(l)) ?? null
        },
        (l) => l !== null,
        timeoutMs,
        `a line matching ${pattern} (kaizen up printed:\n${lines.slice(-30).join('\n')})`,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\nexit ${child.exitCode ?? child.signalCode}; last lines:\n${lines.slice(-30).join('\n')}`,
        )
      })
      return found as string
    },
  }
}

/** What a finished campaign told the operator: its winner and the rollouts it paid. */
async function outcome(up: Up): Promise<{ winner: string; rollouts: number }> {
  const rollouts = Number(/Rollouts used: (\d+) of/.exec(await up.line(/Rollouts used: \d+ of/))?.[1])
  const winner = up.lines.map((l) => /^\s+Winner\s+(\S+):/.exec(l)?.[1]).find(Boolean) ?? 'none'
  await up.line(/Kaizen is running/)
  return { winner, rollouts }
}

async function stopped(up: Up): Promise<number | null> {
  up.child.kill('SIGINT')
  await new Promise((r) =>
    up.child.exitCode !== null || up.child.signalCode !== null ? r(null) : up.child.once('exit', r),
  )
  return up.child.exitCode
}

test(
  `kaizen up rides out a 60 s Temporal outage and a database restart, and ends its campaign as \
an uninterrupted run does`,
  { timeout: 540_000 },
  async (t) => {
    const pgUrl = process.env.KAIZEN_TEST_DATABASE_URL as string
    const databases = [
      await createTestDatabase(() => undefined, 'kaizen_outage_ref'),
      await createTestDatabase(() => undefined, 'kaizen_outage_run'),
    ]
    for (const d of databases) cleanups.push(() => d.drop())

    // The uninterrupted reference run, on a server and a database of its own: it runs beside the
    // run with outages (it mostly finishes while that one waits out its Temporal outage).
    const refDir = mkdtempSync(join(tmpdir(), 'kaizen-outage-temporal-ref-'))
    cleanups.push(() => rmSync(refDir, { recursive: true, force: true }))
    const refPort = await freePort()
    await temporalServer(refDir, refPort)
    const reference = kaizenUp({
      DATABASE_URL: (databases[0] as { url: string }).url,
      TEMPORAL_ADDRESS: `127.0.0.1:${refPort}`,
    })
    const referenceDone = (async () => {
      const expected = await outcome(reference)
      assert.equal(await stopped(reference), 130)
      return expected
    })()
    referenceDone.catch(() => undefined) // awaited below; not an unhandled rejection meanwhile

    // The same first run, with outages in the middle of its search.
    const dir = mkdtempSync(join(tmpdir(), 'kaizen-outage-temporal-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const port = await freePort()
    let server = await temporalServer(dir, port)
    const proxy = await startTcpProxy(pgUrl)
    cleanups.push(() => proxy.close())
    const up = kaizenUp({
      DATABASE_URL: proxy.url((databases[1] as { url: string }).url),
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    })
    await up.line(/searching: round 2\//)

    // Temporal goes away for 60 s (killed, not stopped), then comes back on the same port and file.
    server.kill('SIGKILL')
    await new Promise((r) =>
      server.exitCode !== null || server.signalCode !== null ? r(null) : server.once('exit', r),
    )
    const down = await up.line(new RegExp(`Temporal at 127\\.0\\.0\\.1:${port} is unreachable since`), 60_000)
    t.diagnostic(down)
    await sleep(60_000)
    assert.equal(up.child.exitCode, null, 'kaizen up is still running after a minute without Temporal')
    server = await temporalServer(dir, port)
    t.diagnostic(await up.line(/Temporal at .* is reachable again/, 60_000))

    // Then the database restarts under the worker: every connection dropped, new ones refused for 10 s.
    await proxy.cut()
    t.diagnostic(await up.line(/database is unreachable since/, 60_000))
    await sleep(10_000)
    await proxy.restore()
    t.diagnostic(await up.line(/database is reachable again/, 120_000))

    const got = await outcome(up)
    const expected = await referenceDone
    assert.ok(expected.rollouts > 0)
    t.diagnostic(`reference: ${JSON.stringify(expected)}; with outages: ${JSON.stringify(got)}`)
    assert.deepEqual(got, expected, 'the same winner and rollouts as the uninterrupted run')
    const log = up.lines.join('\n')
    assert.equal(
      up.lines.filter((l) => /Temporal at .* is unreachable since/.test(l)).length,
      1,
      'one line for the Temporal outage',
    )
    assert.doesNotMatch(log, /retried \d+ times/, "the worker's retry warnings are folded into the outage line")
    assert.doesNotMatch(log, /Failed to get Workflow execution history/)
    assert.equal(await stopped(up), 130, 'still running until Ctrl-C')
  },
)
