import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js'
import { Worker } from '@temporalio/worker'
import { REPO_ROOT } from '../../runtime/env.js'
import { installTemporalRuntime } from '../../runtime/temporal-runtime.js'
import { workflowBundle } from '../../worker/create-worker.js'

const dir = join(REPO_ROOT, 'test', 'histories')
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
installTemporalRuntime('ERROR')

test('recorded histories of the campaign, canary and monitor workflows exist', () => {
  const types = new Set(
    files.map((f) => {
      const h = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      return h.events[0].workflowExecutionStartedEventAttributes.workflowType.name as string
    }),
  )
  for (const type of ['optimizationCampaign', 'canaryRelease', 'qualityMonitor'])
    assert.ok(types.has(type), `no recorded history of ${type} (have ${[...types].join(', ')})`)
})

for (const file of files) {
  test(`replays ${file} against the current workflow code`, async () => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')))
    await Worker.runReplayHistory(
      { workflowBundle: await workflowBundle() },
      history,
      file.replace(/\.json$/, '').replace(/[^\w-]/g, '-'),
    )
  })
}

test('a history that does not match the code is caught (the replay test can fail)', async () => {
  const file = files.find((f) => f.startsWith('canary'))!
  const json = JSON.parse(readFileSync(join(dir, file), 'utf8'))
  // Rename the first scheduled activity: the code schedules beginCanary, the history now says otherwise.
  const scheduled = json.events.find((e: any) => e.activityTaskScheduledEventAttributes)
  scheduled.activityTaskScheduledEventAttributes.activityType.name = 'somethingElse'
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, historyFromJSON(json), 'tampered'),
    /Nondeterminism|DeterminismViolation|does not match/i,
  )
})
