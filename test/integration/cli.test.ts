import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { REPO_ROOT } from '../../runtime/env.js'
import { freePort } from '../../scripts/lib/test-infra.js'
import { kaizen } from '../helpers/cli.js'

const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-cli-test-'))
after(() => rmSync(dataDir, { recursive: true, force: true }))

test('bad input gets a clear message naming the flag or field, and a non-zero exit', async () => {
  const env = { KAIZEN_DATA_DIR: dataDir, KAIZEN_TEMPORAL_PORT: String(await freePort()) }
  const noApprover = await kaizen(['canary', 'approve', 'canary-x'], env)
  assert.equal(noApprover.code, 2)
  assert.match(noApprover.stderr, /missing --approver/)
  const noTask = await kaizen(['campaign', 'start'], env)
  assert.equal(noTask.code, 2)
  assert.match(noTask.stderr, /--task/)
  const badEnv = await kaizen(['prompts', 'list'], { ...env, KAIZEN_TEMPORAL_PORT: 'seventy' })
  assert.equal(badEnv.code, 6)
  assert.match(badEnv.stderr, /KAIZEN_TEMPORAL_PORT/)
  const noServer = await kaizen(['canary', 'status', 'canary-x'], env)
  assert.equal(noServer.code, 7)
  assert.match(noServer.stderr, /no Temporal server answers .*`kaizen up`/)
  const unknownVersion = await kaizen(['prompts', 'show', 'incident-triage@999'], env)
  assert.equal(unknownVersion.code, 3)
  assert.match(unknownVersion.stderr, /has no prompt version 999/)
  const badWeight = await kaizen(['campaign', 'start', '--task', 'incident-triage', '--canary-weight', '7'], env)
  assert.equal(badWeight.code, 2)
  assert.match(badWeight.stderr, /canary\.weight/)
})

test(`\`kaizen grader calibrate\` prints κ, the confusion matrix, Spearman and the probes; its verdict decides \
whether the grader may judge a canary`, async () => {
  const env = { KAIZEN_DATA_DIR: dataDir, KAIZEN_TEMPORAL_PORT: String(await freePort()) }
  const shipped = join(REPO_ROOT, 'scenarios', 'labels', 'incident-triage.jsonl')
  const good = await kaizen(['grader', 'calibrate', '--task', 'incident-triage', '--labels', shipped], env)
  assert.equal(good.code, 0, good.stderr)
  for (const part of [
    /validity\s+κ = \d\.\d\d/,
    /human pass\s+\d+\s+\d+/,
    /human fail\s+\d+\s+\d+/,
    /Spearman ρ = 0\.\d\d/,
    /Safety checks: caught \d+ of \d+/,
    /length-padding/,
    /judge-injection/,
    /reference-echo/,
    /Verdict: TRUSTED/,
  ]) {
    assert.match(good.stderr, part)
  }
  const shown = JSON.parse((await kaizen(['grader', 'show', '--task', 'incident-triage', '--json'], env)).stdout)
  assert.equal(shown.mayGateCanary, true)

  // People who disagree with the grader (every validity and specificity label flipped): not trusted, and it may not
  // gate.
  const flipped = readFileSync(shipped, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const r = JSON.parse(l)
      for (const d of ['validity', 'specificity'])
        if (r.labels.dimensions[d]) r.labels.dimensions[d] = r.labels.dimensions[d] === 'pass' ? 'fail' : 'pass'
      r.labels.overall = 6 - r.labels.overall
      return JSON.stringify(r)
    })
  const flippedPath = join(dataDir, 'flipped.jsonl')
  writeFileSync(flippedPath, flipped.join('\n'))
  const bad = await kaizen(['grader', 'calibrate', '--task', 'incident-triage', '--labels', flippedPath, '--json'], env)
  assert.equal(bad.code, 0, bad.stderr)
  const report = JSON.parse(bad.stdout)
  assert.equal(report.trusted, false)
  assert.ok(report.dimensions.validity.kappa < 0.6)
  const after = JSON.parse((await kaizen(['grader', 'show', '--task', 'incident-triage', '--json'], env)).stdout)
  assert.equal(after.mayGateCanary, false)

  // A broken labels file is refused with the line and field named.
  const brokenPath = join(dataDir, 'broken.jsonl')
  writeFileSync(
    brokenPath,
    `${flipped.slice(0, 11).join('\n')}\n{"id":"x","input":{},"output":"y","labels":{"overall":9}}\n`,
  )
  const broken = await kaizen(['grader', 'calibrate', '--task', 'incident-triage', '--labels', brokenPath], env)
  assert.notEqual(broken.code, 0)
  assert.match(broken.stderr, /broken\.jsonl:12: labels\.overall/)
})

test(`\`kaizen golden add|list|remove\` validates every case and names what is wrong; \
nothing is added on bad input`, async () => {
  const env = { KAIZEN_DATA_DIR: dataDir, KAIZEN_TEMPORAL_PORT: String(await freePort()) }
  const missing = await kaizen(['golden', 'add', '--task', 'incident-triage'], env)
  assert.notEqual(missing.code, 0)
  assert.match(missing.stderr, /--traffic/)
  const bad = await kaizen(['golden', 'add', '--task', 'incident-triage', '--traffic', 'tr_nope,tr_nope2'], env)
  assert.notEqual(bad.code, 0)
  assert.match(
    bad.stderr,
    /traffic ids: "tr_nope" is not a traffic record; "tr_nope2" is not a traffic record; nothing was added/,
  )
  const unknownTask = await kaizen(['golden', 'list', '--task', 'no-such-task'], env)
  assert.notEqual(unknownTask.code, 0)
  assert.match(unknownTask.stderr, /no-such-task/)
  const list = await kaizen(['golden', 'list', '--task', 'incident-triage'], env)
  assert.equal(list.code, 0, list.stderr)
  assert.deepEqual(JSON.parse(list.stdout), { task: 'incident-triage', cases: [] })
  const removed = await kaizen(['golden', 'remove', '--task', 'incident-triage', '--traffic', 'tr_nope'], env)
  assert.equal(removed.code, 0, removed.stderr)
  assert.deepEqual(JSON.parse(removed.stdout), { task: 'incident-triage', removed: [] })
})

test(`\`kaizen traffic import\` validates the whole file (line and field named, nothing stored) and imports \
idempotently; \`kaizen token\` creates and revokes`, async () => {
  const env = { KAIZEN_DATA_DIR: dataDir, KAIZEN_TEMPORAL_PORT: String(await freePort()) }
  const versions = await kaizen(['prompts', 'list', '--task', 'incident-triage'], env)
  assert.equal(versions.code, 0, versions.stderr)
  const versionId = /pv_[0-9a-f]{16}/.exec(versions.stdout + versions.stderr)?.[0]
  assert.ok(versionId, versions.stderr)
  const line = (i: number, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      id: `hist-${i}`,
      task: 'incident-triage',
      promptVersion: versionId,
      routingKey: `u${i}`,
      input: { incident_id: `INC-${i}`, service: 'api', summary: `mail ops${i}@example.com` },
      output: 'ok',
      model: 'gpt-4.1-mini',
      ...extra,
    })
  const good = join(dataDir, 'history.jsonl')
  writeFileSync(good, `${[1, 2, 3].map((i) => line(i)).join('\n')}\n`)
  const bad = join(dataDir, 'bad.jsonl')
  writeFileSync(bad, `${line(10)}\n${line(11, { model: undefined, latencyMs: -5 })}\nnot json\n`)
  const refused = await kaizen(['traffic', 'import', bad], env)
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /line 2: model: .*\n.*line 2: latencyMs: .*\n.*line 3: not JSON/)
  assert.match(refused.stderr, /nothing was imported/)
  const first = await kaizen(['traffic', 'import', good], env)
  assert.equal(first.code, 0, first.stderr)
  assert.deepEqual(JSON.parse(first.stdout), { file: good, records: 3, stored: 3, duplicates: 0 })
  const again = await kaizen(['traffic', 'import', good], env)
  assert.deepEqual(JSON.parse(again.stdout), { file: good, records: 3, stored: 0, duplicates: 3 })

  const created = await kaizen(['token', 'create', '--name', 'ci', '--scopes', 'ingest,read'], env)
  assert.equal(created.code, 0, created.stderr)
  const token = JSON.parse(created.stdout) as { id: string; secret: string; scopes: string[] }
  assert.match(token.secret, /^kz_/)
  assert.deepEqual(token.scopes, ['ingest', 'read'])
  const badScope = await kaizen(['token', 'create', '--name', 'x', '--scopes', 'root'], env)
  assert.equal(badScope.code, 2)
  assert.match(badScope.stderr, /--scopes "root" contains "root", which is not one of ingest, read, operate, approve/)
  const listed = await kaizen(['token', 'list'], env)
  assert.ok(!listed.stdout.includes(token.secret), 'secrets are never listed')
  assert.equal((await kaizen(['token', 'revoke', token.id], env)).code, 0)
  const twice = await kaizen(['token', 'revoke', token.id], env)
  assert.equal(twice.code, 4)
  assert.match(twice.stderr, /already revoked/)

  // Retention: imported history from 2020 is past a 30-day period; nothing refers to it, so it is deleted.
  const old = join(dataDir, 'old.jsonl')
  writeFileSync(old, `${[20, 21].map((i) => line(i, { startedAt: '2020-01-01T00:00:00Z' })).join('\n')}\n`)
  assert.equal((await kaizen(['traffic', 'import', old], env)).code, 0)
  const badDays = await kaizen(['traffic', 'retention', 'incident-triage', 'soon'], env)
  assert.equal(badDays.code, 2)
  assert.match(badDays.stderr, /whole number of days or "forever"/)
  assert.equal((await kaizen(['traffic', 'retention', 'incident-triage', '30'], env)).code, 0)
  const pruned = await kaizen(['traffic', 'prune'], env)
  assert.equal(pruned.code, 0, pruned.stderr)
  const [r] = JSON.parse(pruned.stdout) as Array<{ taskId: string; deleted: number; erased: number }>
  assert.equal(r?.taskId, 'incident-triage')
  assert.ok((r?.deleted ?? 0) >= 2, pruned.stdout)
  const rerun = await kaizen(['traffic', 'prune', '--task', 'incident-triage'], env)
  assert.deepEqual(
    JSON.parse(rerun.stdout).map((x: { deleted: number; erased: number }) => x.deleted + x.erased),
    [0],
  )
})
