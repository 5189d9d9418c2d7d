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

test('`kaizen demo --once --json` runs a whole campaign on embedded defaults and prints the result', async () => {
  const port = String(await freePort())
  const env = { KAIZEN_DATA_DIR: dataDir, KAIZEN_TEMPORAL_PORT: port }
  const first = await kaizen(['demo', '--once', '--json', '--headless'], env)
  assert.equal(first.code, 0, first.stderr)
  const out = JSON.parse(first.stdout)
  for (const key of [
    'campaignId',
    'task',
    'baselineVersion',
    'winnerVersion',
    'baselineHoldoutDQ',
    'winnerHoldoutDQ',
    'rolloutsUsed',
    'decision',
  ])
    assert.ok(key in out, `missing ${key}`)
  assert.equal(out.task, 'incident-triage')
  assert.equal(out.simulated, true)
  assert.equal(out.decision, 'canary-started', out.reason)
  assert.ok(out.winnerHoldoutDQ > out.baselineHoldoutDQ)
  assert.ok(['awaiting_approval', 'rolled_back', 'holding'].includes(out.canary.state), out.canary.state)
  assert.match(out.canary.id, /^canary-campaign-incident-triage-/)
  assert.match(first.stderr, /\[simulation\]/)
  assert.match(first.stderr, /Starting the Temporal dev server/)

  // The winner's lineage, from the seed, with operators and scores.
  const shown = await kaizen(['campaign', 'show', out.campaignId], env)
  assert.equal(shown.code, 0, shown.stderr)
  assert.match(shown.stderr, /Lineage of the winner:/)
  assert.match(shown.stderr, /v1 \[seed, round 0, seed\]/)
  assert.match(shown.stderr, /└─ v\d+ \[(reflect|random-edit)[^\]]*, round \d+, accepted\] minibatch/)
  const lineage = JSON.parse((await kaizen(['campaign', 'show', out.campaignId, '--json'], env)).stdout)
  assert.equal(lineage.path.at(-1).promptVersionId, lineage.winnerVersionId)
  assert.equal(lineage.path[0].status, 'seed')

  // Before a run: what would a campaign cost?
  const est = JSON.parse(
    (await kaizen(['campaign', 'estimate', '--task', 'incident-triage', '--rounds', '4', '--json'], env)).stdout,
  )
  assert.ok(
    est.rollouts.total.low <= est.rollouts.total.expected && est.rollouts.total.expected <= est.rollouts.total.high,
  )
  assert.equal(est.proposerCalls, 4 * 4)
  assert.ok(est.usd.expected > 0, 'the simulated model has a price')
  // A spend budget too small for the baseline and the holdout gate is named, with the amount to raise it above.
  const tiny = join(dataDir, 'tiny-budget.yaml')
  writeFileSync(tiny, 'search: { budgetUsd: 0.0001 }\n')
  const poor = await kaizen(['campaign', 'estimate', '--task', 'incident-triage', '--config', tiny], env)
  assert.equal(poor.code, 0, poor.stderr)
  assert.match(
    poor.stderr,
    /spend budget {3}\$0\.0001: baseline ~\$[\d.]+, kept for the holdout gate ~\$[\d.]+, left for/,
  )
  assert.match(poor.stderr, /Warning: search\.budgetUsd \$0\.0001 does not cover .* Raise search\.budgetUsd above \$/)
  const badRate = await kaizen(['campaign', 'estimate', '--task', 'incident-triage', '--accept-rate', '2'], env)
  assert.notEqual(badRate.code, 0)
  assert.match(badRate.stderr, /--accept-rate/)

  // A second run reuses the data folder: same task and versions, earlier traffic, a new campaign.
  const second = await kaizen(['demo', '--once', '--json', '--headless'], env)
  assert.equal(second.code, 0, second.stderr)
  const again = JSON.parse(second.stdout)
  assert.notEqual(again.campaignId, out.campaignId)
  // Later runs draw new traffic and seeds: the holdout gate may or may not let the winner through.
  assert.ok(
    ['canary-started', 'no-significant-improvement', 'no-better-candidate'].includes(again.decision),
    again.decision,
  )
  assert.equal(again.baselineVersion, out.baselineVersion)
  assert.match(second.stderr, /Reusing \d+ production requests from earlier runs/)
  assert.match(second.stderr, /still holds 50% of traffic; this demo's canary will supersede it/)
})

test(`\`kaizen demo --task-file\` drives the example task file through the OpenAI provider against the \
simulated world, on embedded defaults`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kaizen-cli-task-file-'))
  try {
    const env = { KAIZEN_DATA_DIR: join(dir, '.kaizen'), KAIZEN_TEMPORAL_PORT: String(await freePort()) }
    const run = await kaizen(['demo', '--task-file', '--json', '--headless'], env)
    assert.equal(run.code, 0, run.stderr)
    const out = JSON.parse(run.stdout)
    assert.equal(out.task, 'oncall-triage')
    assert.equal(out.simulated, true)
    assert.equal(out.provider, 'openai → kaizen sim serve')
    assert.match(run.stderr, /\[simulation\] Task "oncall-triage" created/)
    assert.match(run.stderr, /The model, the judge and the proposer are served by the simulated world at http:/)
    assert.match(run.stderr, /Sending 330 requests through the gateway with their outcomes \(found 0\)/)
    assert.match(run.stderr, /Grader calibrated on 120 answers labelled by the simulated world: trusted/)
    // The first run of a task has a fixed seed, and the simulated world is deterministic.
    assert.equal(out.decision, 'canary-started', out.reason)
    assert.ok(out.winnerHoldoutDQ > out.baselineHoldoutDQ)
    assert.ok(['awaiting_approval', 'rolled_back', 'holding'].includes(out.canary.state), out.canary.state)

    // A task file whose models the simulated world does not serve is refused, naming the fields.
    const own = join(dir, 'task.yaml')
    writeFileSync(
      own,
      readFileSync(join(REPO_ROOT, 'examples/oncall-app/task.yaml'), 'utf8').replace(
        'model: openai:sim-standard',
        'model: openai:gpt-4.1-mini',
      ),
    )
    const refused = await kaizen(['demo', '--task-file', own, '--headless'], env)
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /--task-file .*task\.yaml: the demo plays every model with the simulated world/)
    assert.match(refused.stderr, /not model \(openai:gpt-4\.1-mini\)/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

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
