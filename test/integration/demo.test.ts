import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { REPO_ROOT } from '../../runtime/env.js'
import { freePort } from '../../scripts/lib/test-infra.js'
import { kaizen } from '../helpers/cli.js'

const dataDir = mkdtempSync(join(tmpdir(), 'kaizen-demo-test-'))
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
  // A spend budget too small for the baseline and the holdout gate is a refusal, with the amount to raise it above.
  const tiny = join(dataDir, 'tiny-budget.yaml')
  writeFileSync(tiny, 'search: { budgetUsd: 0.0001 }\n')
  const poor = await kaizen(['campaign', 'estimate', '--task', 'incident-triage', '--config', tiny], env)
  assert.equal(poor.code, 0, poor.stderr)
  assert.match(
    poor.stderr,
    /spend budget {3}\$0\.0001: baseline ~\$[\d.]+, kept for the holdout gate ~\$[\d.]+, left for/,
  )
  assert.match(
    poor.stderr,
    /REFUSE TO RUN \[INVALID_INPUT\]: search\.budgetUsd \$0\.0001 does not cover .* Raise search\.budgetUsd above \$/,
  )
  assert.doesNotMatch(poor.stderr, /Warning: search\.budgetUsd/, 'said once, as the refusal')
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
