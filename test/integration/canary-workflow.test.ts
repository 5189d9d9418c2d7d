/**
 * The canary workflow's control logic on the real Temporal server, with fake activities the test
 * controls: races between human decisions and automatic decisions, and failures.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client'
import { ApplicationFailure } from '@temporalio/common'
import { NativeConnection, Worker } from '@temporalio/worker'
import type { CanaryAnalysis } from '../../core/canary/analyze.js'
import { installTemporalRuntime } from '../../runtime/temporal.js'
import { workflowBundle } from '../../worker/create-worker.js'
import { canaryRelease } from '../../workflows/canary.js'
import { approveUpdate, canaryStatusQuery } from '../../workflows/messages.js'
import { fastCanary } from '../helpers/fixtures.js'
import { eventually, failureMessages, testInfra, uniqueSuffix } from '../helpers/infra.js'

const analysis = (verdict: CanaryAnalysis['verdict']): CanaryAnalysis =>
  ({
    verdict,
    reasons: [`fake ${verdict}`],
    alerts: [],
    pairedSamples: 100,
    canary: { requests: 100 },
    baseline: { requests: 100 },
    metrics: [],
    readiness: { max: verdict === 'ready' ? 100 : 1, threshold: 20, ready: verdict === 'ready' },
  }) as unknown as CanaryAnalysis

interface Script {
  /** Return the next analysis (may wait on the test). */
  analyze: () => Promise<{ at: string; analysis: CanaryAnalysis; labelHeld?: boolean }>
  calls: string[]
}

let client: Client
let connection: Connection
let native: NativeConnection
const scripts = new Map<string, Script>()

const fakeActivities = {
  async beginCanary(input: { canaryId: string }) {
    scripts.get(input.canaryId)!.calls.push('beginCanary')
    return { startedAt: new Date().toISOString(), conflict: null }
  },
  async analyzeCanary(input: { canaryId: string }) {
    scripts.get(input.canaryId)!.calls.push('analyzeCanary')
    return scripts.get(input.canaryId)!.analyze()
  },
  async rollbackCanary(input: { canaryId: string; reason: string }) {
    scripts.get(input.canaryId)!.calls.push(`rollbackCanary: ${input.reason}`)
  },
  async recordApproval(input: { canaryId: string }) {
    scripts.get(input.canaryId)!.calls.push('recordApproval')
    return { approvalId: 'apr-1' }
  },
  async promoteCanary(input: { canaryId: string }) {
    scripts.get(input.canaryId)!.calls.push('promoteCanary')
    return { promoted: true, conflict: null, previousVersionId: 'pv_base' }
  },
  async setCanaryState(input: { canaryId: string; state: string }) {
    scripts.get(input.canaryId)!.calls.push(`setCanaryState: ${input.state}`)
  },
  async setCanaryWeight(input: { canaryId: string; weight: number }) {
    scripts.get(input.canaryId)!.calls.push(`setCanaryWeight: ${input.weight}`)
    return { conflict: null }
  },
  // Every notification fails: the canary must carry on regardless.
  async notifyCanary(input: { canaryId: string; event: string }) {
    scripts.get(input.canaryId)!.calls.push(`notifyCanary: ${input.event}`)
    throw ApplicationFailure.nonRetryable('webhook is down', 'PROVIDER_REJECTED')
  },
}

let worker: Worker
let running: Promise<void>
const taskQueue = `test-${uniqueSuffix('canary-wf')}`

before(async () => {
  const { temporalAddress } = testInfra()
  installTemporalRuntime('ERROR')
  connection = await Connection.connect({ address: temporalAddress })
  client = new Client({ connection })
  native = await NativeConnection.connect({ address: temporalAddress })
  worker = await Worker.create({ connection: native, taskQueue, workflowBundle: await workflowBundle(), activities: fakeActivities })
  running = worker.run()
})
after(async () => {
  worker.shutdown()
  await running
  await native.close()
  await connection.close()
})

async function start(script: Script) {
  const canaryId = uniqueSuffix('canary-wf')
  scripts.set(canaryId, script)
  const handle = await client.workflow.start(canaryRelease, {
    workflowId: canaryId,
    taskQueue,
    args: [{ canaryId, taskId: 't', campaignId: null, candidateVersionId: 'pv_cand', baselineVersionId: 'pv_base', graderVersionId: 'gv', config: fastCanary({ analysisIntervalSeconds: 0.2 }) }],
  })
  return handle
}

test('an approval that arrives while a regression is being detected is refused, never left waiting', async () => {
  let release: (() => void) | null = null
  let n = 0
  const script: Script = {
    calls: [],
    analyze: async () => {
      n++
      if (n === 1) return { at: new Date().toISOString(), analysis: analysis('ready') }
      await new Promise<void>((r) => (release = r)) // hold the second analysis until the approval is in
      return { at: new Date().toISOString(), analysis: analysis('rollback') }
    },
  }
  const handle = await start(script)
  await eventually(() => handle.query(canaryStatusQuery), (s) => s.state === 'awaiting_approval', 20_000, 'awaiting approval')
  await eventually(async () => release, (r) => r !== null, 20_000, 'second analysis in flight')
  const approval = handle.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })
  await eventually(() => handle.query(canaryStatusQuery), () => true, 5_000) // let the Update be accepted
  await new Promise((r) => setTimeout(r, 300))
  release!()
  await assert.rejects(approval, (e) => e instanceof WorkflowUpdateFailedError && /ended \(rolled_back\) before the approve could be applied/.test(failureMessages(e)))
  const final = await handle.result()
  assert.equal(final.state, 'rolled_back')
  assert.ok(script.calls.some((c) => c.startsWith('rollbackCanary: automatic rollback')))
  assert.ok(!script.calls.includes('promoteCanary'), 'nothing was promoted')
  assert.ok(script.calls.includes('notifyCanary: approval_needed') && script.calls.includes('notifyCanary: rolled_back'), `failed notifications did not stop the canary: ${script.calls.join(' | ')}`)
})

test('a failing analysis takes the candidate off traffic before the workflow fails', async () => {
  const script: Script = {
    calls: [],
    analyze: async () => {
      throw ApplicationFailure.nonRetryable('grader spec is gone', 'NOT_FOUND')
    },
  }
  const handle = await start(script)
  await assert.rejects(handle.result(), (e) => e instanceof WorkflowFailedError)
  assert.ok(script.calls.some((c) => /^rollbackCanary: canary workflow failed: grader spec is gone/.test(c)), script.calls.join(' | '))
})

test('a canary whose label was moved away ends without touching labels', async () => {
  const script: Script = { calls: [], analyze: async () => ({ at: new Date().toISOString(), analysis: analysis('continue'), labelHeld: false }) }
  const handle = await start(script)
  const final = await handle.result()
  assert.equal(final.state, 'rolled_back')
  assert.match(final.reason ?? '', /label was moved away/)
  assert.ok(!script.calls.some((c) => c.startsWith('rollbackCanary')))
})

test('a cancelled canary is taken off traffic', async () => {
  const script: Script = { calls: [], analyze: async () => ({ at: new Date().toISOString(), analysis: analysis('continue') }) }
  const handle = await start(script)
  await eventually(() => handle.query(canaryStatusQuery), (s) => s.analyses > 0, 20_000)
  await handle.cancel()
  await assert.rejects(handle.result())
  assert.ok(script.calls.some((c) => c === 'rollbackCanary: canary workflow cancelled'))
})
