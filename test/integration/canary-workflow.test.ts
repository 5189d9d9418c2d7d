/**
 * The canary workflow's control logic on the real Temporal server, with fake activities the test
 * controls: races between human decisions and automatic decisions, and failures.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  Client,
  Connection,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateStage,
} from '@temporalio/client'
import { ApplicationFailure } from '@temporalio/common'
import { NativeConnection, Worker } from '@temporalio/worker'
import type { CanaryAnalysis } from '../../core/canary/analyze.js'
import type { CanaryConfig } from '../../core/config.js'
import { installTemporalRuntime } from '../../runtime/temporal-runtime.js'
import { workflowBundle } from '../../worker/create-worker.js'
import { canaryRelease } from '../../workflows/canary/index.js'
import { approveUpdate, canaryStatusQuery, rejectUpdate, supersedeSignal } from '../../workflows/messages.js'
import { fastCanary } from '../helpers/fixtures.js'
import { eventually, failureMessages, testInfra, uniqueSuffix } from '../helpers/infra.js'

const analysis = (verdict: CanaryAnalysis['verdict'], alertKinds: CanaryAnalysis['alertKinds'] = []): CanaryAnalysis =>
  ({
    verdict,
    reasons: [`fake ${verdict}`],
    alerts: alertKinds.map((k) => `fake ${k} alert`),
    alertKinds,
    pairedSamples: 100,
    canary: { requests: 100 },
    baseline: { requests: 100 },
    metrics: [],
    readiness: { max: verdict === 'ready' ? 100 : 1, threshold: 20, ready: verdict === 'ready' },
  }) as unknown as CanaryAnalysis

interface Script {
  /** Return the next analysis (may wait on the test). */
  analyze: (input: { phase?: string }) => Promise<{ at: string; analysis: CanaryAnalysis; labelHeld?: boolean }>
  calls: string[]
  /** Deliver a notification (by default every delivery fails). */
  notify?: (event: string) => Promise<void>
  beforeBakeRollback?: () => Promise<void>
  beforePromote?: () => Promise<void>
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
  async analyzeCanary(input: { canaryId: string; phase?: string }) {
    const script = scripts.get(input.canaryId)!
    script.calls.push(`analyzeCanary${input.phase ? `: ${input.phase}` : ''}`)
    const out = await script.analyze(input)
    // Evidence accumulates: 50 more paired samples at every look.
    const looks = script.calls.filter((c) => c.startsWith('analyzeCanary')).length
    return { ...out, analysis: { ...out.analysis, pairedSamples: 50 * looks } }
  },
  async startBake(input: { canaryId: string }) {
    scripts.get(input.canaryId)!.calls.push('startBake')
    return { startedAt: new Date().toISOString(), conflict: null }
  },
  async endBake(input: { canaryId: string; reason?: string }) {
    scripts.get(input.canaryId)!.calls.push(`endBake: ${input.reason}`)
  },
  async bakeRollback(input: { canaryId: string; reason: string }) {
    const script = scripts.get(input.canaryId)!
    await script.beforeBakeRollback?.()
    script.calls.push(`bakeRollback: ${input.reason}`)
    return { conflict: null }
  },
  async rollbackCanary(input: { canaryId: string; reason: string }) {
    scripts.get(input.canaryId)!.calls.push(`rollbackCanary: ${input.reason}`)
  },
  async recordApproval(input: { canaryId: string; decision: string; approver: string }) {
    scripts.get(input.canaryId)!.calls.push(`recordApproval: ${input.decision} by ${input.approver}`)
    return { approvalId: `apr-${input.decision}` }
  },
  async promoteCanary(input: { canaryId: string }) {
    const script = scripts.get(input.canaryId)!
    await script.beforePromote?.()
    script.calls.push('promoteCanary')
    return { promoted: true, conflict: null, previousVersionId: 'pv_base' }
  },
  async setCanaryState(input: { canaryId: string; state: string }) {
    scripts.get(input.canaryId)!.calls.push(`setCanaryState: ${input.state}`)
  },
  async setCanaryWeight(input: { canaryId: string; weight: number }) {
    scripts.get(input.canaryId)!.calls.push(`setCanaryWeight: ${input.weight}`)
    return { conflict: null }
  },
  // Unless a test says otherwise, every notification fails: the canary must carry on regardless.
  async notifyCanary(input: { canaryId: string; event: string }) {
    const script = scripts.get(input.canaryId)!
    script.calls.push(`notifyCanary: ${input.event}`)
    if (script.notify) return script.notify(input.event)
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
  worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fakeActivities,
  })
  running = worker.run()
})
after(async () => {
  worker.shutdown()
  await running
  await native.close()
  await connection.close()
})

async function start(script: Script, config: Partial<CanaryConfig> = {}) {
  const canaryId = uniqueSuffix('canary-wf')
  scripts.set(canaryId, script)
  const handle = await client.workflow.start(canaryRelease, {
    workflowId: canaryId,
    taskQueue,
    args: [
      {
        canaryId,
        taskId: 't',
        campaignId: null,
        candidateVersionId: 'pv_cand',
        baselineVersionId: 'pv_base',
        graderVersionId: 'gv',
        config: fastCanary({ analysisIntervalSeconds: 0.2, ...config }),
      },
    ],
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
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  await eventually(
    async () => release,
    (r) => r !== null,
    20_000,
    'second analysis in flight',
  )
  const approval = handle.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })
  await eventually(
    () => handle.query(canaryStatusQuery),
    () => true,
    5_000,
  ) // let the Update be accepted
  await new Promise((r) => setTimeout(r, 300))
  release!()
  await assert.rejects(
    approval,
    (e) =>
      e instanceof WorkflowUpdateFailedError &&
      /ended \(rolled_back\) before the approve could be applied/.test(failureMessages(e)),
  )
  const final = await handle.result()
  assert.equal(final.state, 'rolled_back')
  assert.ok(script.calls.some((c) => c.startsWith('rollbackCanary: automatic rollback')))
  assert.ok(!script.calls.includes('promoteCanary'), 'nothing was promoted')
  assert.ok(
    script.calls.includes('notifyCanary: approval_needed') && script.calls.includes('notifyCanary: rolled_back'),
    `failed notifications did not stop the canary: ${script.calls.join(' | ')}`,
  )
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
  // The reason (and the rolled_back notification that carries it) names the root cause and its code.
  assert.ok(
    script.calls.some((c) => /^rollbackCanary: canary workflow failed: grader spec is gone \[NOT_FOUND\]/.test(c)),
    script.calls.join(' | '),
  )
})

test('a canary whose label was moved away ends without touching labels', async () => {
  const script: Script = {
    calls: [],
    analyze: async () => ({ at: new Date().toISOString(), analysis: analysis('continue'), labelHeld: false }),
  }
  const handle = await start(script)
  const final = await handle.result()
  assert.equal(final.state, 'rolled_back')
  assert.match(final.reason ?? '', /label was moved away/)
  assert.ok(!script.calls.some((c) => c.startsWith('rollbackCanary')))
})

test('a cancelled canary is taken off traffic', async () => {
  const script: Script = {
    calls: [],
    analyze: async () => ({ at: new Date().toISOString(), analysis: analysis('continue') }),
  }
  const handle = await start(script)
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.analyses > 0,
    20_000,
  )
  await handle.cancel()
  await assert.rejects(handle.result())
  assert.ok(script.calls.some((c) => c === 'rollbackCanary: canary workflow cancelled'))
})

test(`alerts pause the ramp without rolling back; approval is refused until they clear; people hear of \
changes, not of every look`, async () => {
  let phase: 'alert' | 'clear' = 'alert'
  const script: Script = {
    calls: [],
    notify: async () => undefined,
    analyze: async () => ({
      at: new Date().toISOString(),
      analysis: phase === 'alert' ? analysis('hold', ['no-data']) : analysis('ready'),
    }),
  }
  const handle = await start(script, { weight: undefined, steps: [0.1, 0.5] })
  const held = await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'holding' && s.analyses >= 4,
    20_000,
    'holding on alerts',
  )
  assert.equal(held.heldFrom, 'running')
  assert.equal(held.step, 0, 'the ramp does not move while holding')
  assert.deepEqual(held.alertKinds, ['no-data'])
  await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] }), (e) =>
    /not awaiting approval/.test(failureMessages(e)),
  )
  phase = 'clear'
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'ramp resumed and finished',
  )
  const alerts = script.calls.filter((c) => c === 'notifyCanary: alert')
  assert.equal(alerts.length, 2, `one alert when it began, one when it cleared: ${script.calls.join(' | ')}`)
  assert.ok(script.calls.includes('setCanaryWeight: 0.5'))
  assert.ok(!script.calls.some((c) => c.startsWith('rollbackCanary')))
  await handle.executeUpdate(rejectUpdate, { args: [{ approver: 'erin@example.com', comment: 'done testing' }] })
  assert.equal((await handle.result()).state, 'rolled_back')
})

test('an approval is answered before slow notifications are delivered', async () => {
  let deliverPromoted: (() => void) | null = null
  const script: Script = {
    calls: [],
    notify: (event) => (event === 'promoted' ? new Promise<void>((r) => (deliverPromoted = r)) : Promise.resolve()),
    analyze: async () => ({ at: new Date().toISOString(), analysis: analysis('ready') }),
  }
  const handle = await start(script)
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  // The 'promoted' webhook is held until the test releases it: the Update must not wait for it.
  const outcome = await Promise.race([
    handle.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] }),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the approval waited for the webhook')), 20_000),
    ),
  ])
  assert.equal(outcome.state, 'promoted')
  await eventually(
    async () => deliverPromoted,
    (d) => d !== null,
    20_000,
    'promoted notification in flight',
  )
  deliverPromoted!()
  assert.equal((await handle.result()).state, 'promoted')
})

test(`bake window: a cancel or a superseding canary ends it with production kept; only a \
regression rolls production back`, async () => {
  const bake = { bake: { seconds: 3_600, holdbackWeight: 0.2 } }
  const approved = async (script: Script) => {
    const handle = await start(script, bake)
    await eventually(
      () => handle.query(canaryStatusQuery),
      (s) => s.state === 'awaiting_approval',
      20_000,
      'awaiting approval',
    )
    await handle.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })
    await eventually(
      () => handle.query(canaryStatusQuery),
      (s) => s.state === 'baking' && (s.bakeSeconds ?? 0) > 0,
      20_000,
      'baking',
    )
    return handle
  }
  const calm = (): Script => ({
    calls: [],
    notify: async () => undefined,
    analyze: async (input) => ({
      at: new Date().toISOString(),
      analysis: analysis(input.phase === 'bake' ? 'continue' : 'ready'),
    }),
  })

  const cancelled = calm()
  const c = await approved(cancelled)
  assert.equal((await c.query(canaryStatusQuery)).weight, 0.2)
  await c.cancel()
  await assert.rejects(c.result())
  assert.ok(
    cancelled.calls.some((x) => /^endBake: bake window stopped \(canary workflow cancelled\)/.test(x)),
    cancelled.calls.join(' | '),
  )
  assert.ok(
    !cancelled.calls.some((x) => x.startsWith('bakeRollback') || x.startsWith('rollbackCanary')),
    'the approved promotion stays',
  )

  const superseded = calm()
  const s = await approved(superseded)
  await s.signal(supersedeSignal, { by: 'canary-next' })
  const final = await s.result()
  assert.equal(final.state, 'promoted')
  assert.match(final.reason ?? '', /superseded by canary-next/)
  assert.ok(superseded.calls.some((x) => x.startsWith('endBake: bake window cut short')))

  let regress = false
  const regressed: Script = {
    ...calm(),
    analyze: async (input) => ({
      at: new Date().toISOString(),
      analysis: analysis(
        regress && input.phase === 'bake' ? 'rollback' : input.phase === 'bake' ? 'continue' : 'ready',
      ),
    }),
  }
  const r = await approved(regressed)
  regress = true
  const end = await r.result()
  assert.equal(end.state, 'rolled_back')
  assert.ok(regressed.calls.some((x) => x.startsWith('bakeRollback: regression during the bake window')))
  assert.ok(!regressed.calls.some((x) => x.startsWith('endBake')))
})

test('a sample-ratio hold nobody resolves follows the approval-timeout policy', async () => {
  const script: Script = {
    calls: [],
    notify: async () => undefined,
    analyze: async () => ({ at: new Date().toISOString(), analysis: analysis('hold', ['sample-ratio']) }),
  }
  const handle = await start(script, { approvalTimeoutSeconds: 1, onApprovalTimeout: 'rollback' })
  const final = await handle.result()
  assert.equal(final.state, 'rolled_back')
  assert.match(final.reason ?? '', /held on alerts for 1 s .*fake sample-ratio alert.*rolled back by policy/)
})

test(`a cancel during a bake-window rollback lets the rollback finish; production is not \
kept on the regressed version`, async () => {
  let entered: (() => void) | null = null
  let release: (() => void) | null = null
  const script: Script = {
    calls: [],
    notify: async () => undefined,
    analyze: async (input) => ({
      at: new Date().toISOString(),
      analysis: analysis(input.phase === 'bake' ? 'rollback' : 'ready'),
    }),
    beforeBakeRollback: () =>
      new Promise<void>((r) => {
        release = r
        entered?.()
      }),
  }
  const handle = await start(script, { bake: { seconds: 3_600, holdbackWeight: 0.2 } })
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  const inRollback = new Promise<void>((r) => (entered = r))
  await handle.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })
  await inRollback
  await handle.cancel()
  await new Promise((r) => setTimeout(r, 500)) // let the cancel reach the workflow
  release!()
  await assert.rejects(handle.result())
  assert.ok(
    script.calls.some((c) => c.startsWith('bakeRollback: regression during the bake window')),
    script.calls.join(' | '),
  )
  assert.ok(
    !script.calls.some((c) => c.startsWith('endBake')),
    `no bake end after a regression: ${script.calls.join(' | ')}`,
  )
})

/** A gate a fake activity waits at until the test opens it. */
function gate() {
  let open!: () => void
  let entered!: () => void
  const reached = new Promise<void>((r) => (entered = r))
  const opened = new Promise<void>((r) => (open = r))
  return { wait: () => (entered(), opened), reached, open: () => open() }
}

test(`a reject sent right after an approval is accepted during the bake window and rolls production \
back (late-decision rule)`, async () => {
  const bake = { bake: { seconds: 3_600, holdbackWeight: 0.2 } }
  const calm = (): Script => ({
    calls: [],
    notify: async () => undefined,
    analyze: async (input) => ({
      at: new Date().toISOString(),
      analysis: analysis(input.phase === 'bake' ? 'continue' : 'ready'),
    }),
  })

  // 1. The reject arrives while the approval is still being carried out (the promotion is held until the reject is in).
  const held = gate()
  const during: Script = { ...calm(), beforePromote: held.wait }
  const h1 = await start(during, bake)
  await eventually(
    () => h1.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  const approval = await h1.startUpdate(approveUpdate, {
    args: [{ approver: 'erin@example.com' }],
    waitForStage: WorkflowUpdateStage.ACCEPTED,
  })
  await held.reached
  const reject = await h1.startUpdate(rejectUpdate, {
    args: [{ approver: 'frank@example.com', comment: 'error budget burning' }],
    waitForStage: WorkflowUpdateStage.ACCEPTED,
  })
  held.open()
  const rejected = await reject.result()
  const approved = await approval.result()
  assert.equal(approved.state, 'promoted')
  assert.match(
    approved.summary ?? '',
    /approved by erin@example\.com: promoted, production is now pv_cand; a 3600 s bake window follows/,
  )
  assert.equal(rejected.state, 'rolled_back')
  assert.equal(rejected.productionVersionId, 'pv_base')
  assert.match(
    rejected.summary ?? '',
    /rejected by frank@example\.com during the bake window: rolled back, production is back on pv_base/,
  )
  const final1 = await h1.result()
  assert.equal(final1.state, 'rolled_back')
  assert.deepEqual(
    final1.decisions?.map((d) => [d.decision, d.approver, d.approvalId]),
    [
      ['approve', 'erin@example.com', 'apr-approve'],
      ['reject', 'frank@example.com', 'apr-reject'],
    ],
  )
  const order = during.calls.filter((c) =>
    /^(recordApproval|promoteCanary|startBake|bakeRollback|rollbackCanary)/.test(c),
  )
  assert.deepEqual(order, [
    'recordApproval: approve by erin@example.com',
    'promoteCanary',
    'startBake',
    'recordApproval: reject by frank@example.com',
    'bakeRollback: rolled back during the bake window by frank@example.com: error budget burning',
  ])

  // 2. The reject arrives between the promotion and the bake's start (the 'promoted' notification is held).
  const notified = gate()
  const gap: Script = { ...calm(), notify: (event) => (event === 'promoted' ? notified.wait() : Promise.resolve()) }
  const h2 = await start(gap, bake)
  await eventually(
    () => h2.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  assert.equal((await h2.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })).state, 'promoted')
  await notified.reached
  assert.equal((await h2.query(canaryStatusQuery)).state, 'promoted', 'the bake has not started yet')
  const late = await h2.startUpdate(rejectUpdate, {
    args: [{ approver: 'frank@example.com', comment: 'changed my mind' }],
    waitForStage: WorkflowUpdateStage.ACCEPTED,
  })
  notified.open()
  assert.equal((await late.result()).productionVersionId, 'pv_base')
  assert.equal((await h2.result()).state, 'rolled_back')
  assert.ok(
    gap.calls.some((c) => c.startsWith('bakeRollback: rolled back during the bake window by frank@example.com')),
    gap.calls.join(' | '),
  )
})

test(`approve is idempotent for the approver and refused for anyone else; without a bake window a reject after the \
approval is refused, nothing recorded`, async () => {
  const calm = (): Script => ({
    calls: [],
    notify: async () => undefined,
    analyze: async (input) => ({
      at: new Date().toISOString(),
      analysis: analysis(input.phase === 'bake' ? 'continue' : 'ready'),
    }),
  })
  const baking = calm()
  const h = await start(baking, { bake: { seconds: 3_600, holdbackWeight: 0.2 } })
  await eventually(
    () => h.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  // Sent twice at once by the same person (a double click): one approval, the same outcome twice.
  const [first, second] = await Promise.all(
    [0, 1].map(() => h.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })),
  )
  assert.equal(first!.approvalId, 'apr-approve')
  assert.equal(second!.approvalId, 'apr-approve')
  assert.equal(
    [first, second].filter((o) => o!.repeated).length,
    1,
    'one of them is the recorded outcome, returned again',
  )
  const again = await h.executeUpdate(approveUpdate, { args: [{ approver: 'erin@example.com' }] })
  assert.equal(again.repeated, true)
  assert.match(
    again.summary ?? '',
    /already approved by erin@example\.com at \d{4}-\d\d-\d\dT[^ ]+ \(approval apr-approve\); nothing new was recorded/,
  )
  await assert.rejects(
    h.executeUpdate(approveUpdate, { args: [{ approver: 'grace@example.com' }] }),
    (e) =>
      e instanceof WorkflowUpdateFailedError &&
      new RegExp(
        String.raw`already approved by erin@example\.com at \S+ \(approval apr-approve\); ` +
          String.raw`it is (promoted|baking); nothing was recorded`,
      ).test(failureMessages(e)),
  )
  assert.equal(baking.calls.filter((c) => c.startsWith('recordApproval')).length, 1, baking.calls.join(' | '))
  await h.cancel()
  await assert.rejects(h.result())

  // No bake window: a reject that waited for the approval is refused once production has moved.
  const held = gate()
  const noBake: Script = { ...calm(), beforePromote: held.wait }
  const n = await start(noBake)
  await eventually(
    () => n.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    20_000,
    'awaiting approval',
  )
  const approval = await n.startUpdate(approveUpdate, {
    args: [{ approver: 'erin@example.com' }],
    waitForStage: WorkflowUpdateStage.ACCEPTED,
  })
  await held.reached
  const reject = await n.startUpdate(rejectUpdate, {
    args: [{ approver: 'frank@example.com' }],
    waitForStage: WorkflowUpdateStage.ACCEPTED,
  })
  held.open()
  assert.equal((await approval.result()).state, 'promoted')
  await assert.rejects(
    reject.result(),
    (e) =>
      e instanceof WorkflowUpdateFailedError &&
      new RegExp(
        String.raw`is promoted \(approved by erin@example\.com at \S+\) and can no longer be rolled back by a reject ` +
          String.raw`\(this canary has no bake window\); the reject was not applied and nothing was recorded`,
      ).test(failureMessages(e)),
  )
  assert.equal((await n.result()).state, 'promoted')
  assert.deepEqual(
    noBake.calls.filter((c) => c.startsWith('recordApproval')),
    ['recordApproval: approve by erin@example.com'],
  )
})
