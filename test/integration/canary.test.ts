import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WorkflowUpdateFailedError } from '@temporalio/client'
import { and, eq } from 'drizzle-orm'
import { getLabels } from '../../db/queries/labels.js'
import { approvals, auditEvents } from '../../db/schema.js'
import { canaryRelease } from '../../workflows/canary/index.js'
import {
  approveUpdate,
  canaryStatusQuery,
  rejectUpdate,
  type CanaryState,
  type CanaryStatus,
} from '../../workflows/messages.js'
import {
  betterContent,
  fastCanary,
  measuredCostRatio,
  regressedContent,
  rewordedContent,
  version,
} from '../helpers/fixtures.js'
import { eventually, startHarness, type Harness } from '../helpers/infra.js'
import type { CanaryConfig } from '../../core/config.js'

async function withCanary(
  name: string,
  kind: 'better' | 'regressed' | 'unchanged',
  config: Partial<CanaryConfig>,
  body: (ctx: {
    h: Harness
    canaryId: string
    candidateId: string
    handle: ReturnType<Harness['client']['workflow']['getHandle']>
  }) => Promise<void>,
  options: { failCanary?: boolean } = {},
) {
  const h = await startHarness({ name })
  try {
    const content =
      kind === 'better'
        ? betterContent(h.scenario)
        : kind === 'unchanged'
          ? rewordedContent(h.scenario)
          : regressedContent(h.scenario)
    const candidate = await version(h.db, h.scenario, content, kind)
    // As an operator would: accept the candidate's measured cost per request (a longer prompt costs more).
    const expectedCostRatio = await measuredCostRatio(h.simulation, h.scenario, content)
    config = { ...config, analysis: { ...(config.analysis as NonNullable<typeof config.analysis>), expectedCostRatio } }
    h.traffic.failCanary = options.failCanary ?? false
    h.traffic.start(40)
    const canaryId = `canary-${h.scenario.id}`
    const handle = await h.client.workflow.start(canaryRelease, {
      workflowId: canaryId,
      taskQueue: h.taskQueue,
      args: [
        {
          canaryId,
          taskId: h.scenario.task.id,
          campaignId: null,
          candidateVersionId: candidate.id,
          baselineVersionId: h.task.seedVersion.id,
          graderVersionId: h.task.graderVersionId,
          config,
        },
      ],
    })
    await body({ h, canaryId, candidateId: candidate.id, handle })
  } finally {
    await h.close()
  }
}

const untilState = (
  handle: { query: (q: typeof canaryStatusQuery) => Promise<CanaryStatus> },
  states: CanaryState[],
  ms = 60_000,
) =>
  eventually(
    () => handle.query(canaryStatusQuery),
    (s) => states.includes(s.state),
    ms,
    `canary state ${states.join('/')}`,
  )

const audit = async (h: Harness, canaryId: string) =>
  h.db.select().from(auditEvents).where(eq(auditEvents.subjectId, canaryId))

test('an injected regression rolls the canary back automatically, with the reason in the audit log', async () => {
  await withCanary('regression', 'regressed', fastCanary(), async ({ h, canaryId, handle }) => {
    const status = await untilState(handle, ['rolled_back', 'awaiting_approval'])
    assert.equal(status.state, 'rolled_back')
    const final = await handle.result()
    assert.match(final.reason ?? '', /automatic rollback: .*quality regression/)
    const events = await audit(h, canaryId)
    const rollback = events.find((e) => e.action === 'canary.rolled_back')
    assert.ok(rollback, events.map((e) => e.action).join(','))
    assert.match(String(rollback.details.reason), /quality regression/)
    assert.ok(events.some((e) => e.action === 'canary.started'))
    const labels = await getLabels(h.db, h.scenario.task.id)
    assert.equal(labels.canary, null, 'the candidate is off traffic')
    assert.equal(labels.production?.promptVersionId, h.task.seedVersion.id)
  })
})

test('a canary that fails every request is rolled back by the hard floor / error-rate test', async () => {
  await withCanary(
    'total-failure',
    'better',
    fastCanary(),
    async ({ h, canaryId, handle }) => {
      const status = await untilState(handle, ['rolled_back', 'awaiting_approval'])
      assert.equal(status.state, 'rolled_back')
      assert.match(status.reason ?? '', /hard floor|error-rate regression/)
      assert.ok((await audit(h, canaryId)).some((e) => e.action === 'canary.rolled_back'))
    },
    { failCanary: true },
  )
})

test(`approval: the validator rejects a missing identity; an approval with \
identity promotes and is audited`, async () => {
  await withCanary('approve', 'better', fastCanary(), async ({ h, canaryId, candidateId, handle }) => {
    await untilState(handle, ['awaiting_approval'])
    for (const approver of ['', '   ']) {
      await assert.rejects(
        handle.executeUpdate(approveUpdate, { args: [{ approver }] }),
        (e) =>
          e instanceof WorkflowUpdateFailedError && /approver's identity/.test(String((e.cause as Error)?.message)),
      )
    }
    await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{} as never] }), WorkflowUpdateFailedError)
    assert.equal(
      (await h.db.select().from(approvals).where(eq(approvals.canaryId, canaryId))).length,
      0,
      'rejected approvals are recorded nowhere',
    )

    const outcome = await handle.executeUpdate(approveUpdate, {
      args: [{ approver: 'alice@example.com', role: 'on-call', comment: 'better on every arm' }],
    })
    assert.equal(outcome.state, 'promoted')
    assert.equal(outcome.approver, 'alice@example.com')
    const labels = await getLabels(h.db, h.scenario.task.id)
    assert.equal(labels.production?.promptVersionId, candidateId)
    assert.equal(labels.canary, null)
    const events = await audit(h, canaryId)
    const approved = events.find((e) => e.action === 'canary.approved')
    assert.equal(approved?.actor, 'alice@example.com')
    assert.equal(approved?.details.approver, 'alice@example.com')
    assert.ok(
      (approved?.details.evidence as { analysis?: unknown }).analysis,
      'the evidence shown at the time is snapshotted',
    )
    assert.ok(events.some((e) => e.action === 'canary.promoted' && e.actor === 'alice@example.com'))
    const [row] = await h.db
      .select()
      .from(approvals)
      .where(and(eq(approvals.canaryId, canaryId), eq(approvals.decision, 'approve')))
    assert.equal(row?.role, 'on-call')
    assert.equal((await handle.result()).state, 'promoted')
  })
})

test('an approval for a canary that is not awaiting approval is rejected and recorded nowhere', async () => {
  // minCanarySamples out of reach: the canary keeps collecting evidence and never asks for approval.
  const config = fastCanary()
  config.analysis = { ...config.analysis!, minCanarySamples: 1_000_000 }
  await withCanary('not-ready', 'better', config, async ({ h, canaryId, handle }) => {
    await untilState(handle, ['running'])
    await assert.rejects(
      handle.executeUpdate(approveUpdate, { args: [{ approver: 'bob@example.com' }] }),
      (e) =>
        e instanceof WorkflowUpdateFailedError && /not awaiting approval/.test(String((e.cause as Error)?.message)),
    )
    assert.equal((await h.db.select().from(approvals).where(eq(approvals.canaryId, canaryId))).length, 0)
    assert.ok(!(await audit(h, canaryId)).some((e) => e.action === 'canary.approved'))
    const out = await handle.executeUpdate(rejectUpdate, {
      args: [{ approver: 'bob@example.com', comment: 'not now' }],
    })
    assert.equal(out.state, 'rolled_back')
  })
})

test('rejection rolls the canary back and records who rejected it', async () => {
  await withCanary('reject', 'better', fastCanary(), async ({ h, canaryId, handle }) => {
    await untilState(handle, ['awaiting_approval'])
    const out = await handle.executeUpdate(rejectUpdate, {
      args: [{ approver: 'carol@example.com', comment: 'wrong tone' }],
    })
    assert.equal(out.state, 'rolled_back')
    const events = await audit(h, canaryId)
    assert.ok(events.some((e) => e.action === 'canary.rejected' && e.actor === 'carol@example.com'))
    assert.ok(
      events.some(
        (e) =>
          e.action === 'canary.rolled_back' &&
          /rejected by carol@example.com: wrong tone/.test(String(e.details.reason)),
      ),
    )
    assert.equal((await getLabels(h.db, h.scenario.task.id)).canary, null)
    assert.equal((await getLabels(h.db, h.scenario.task.id)).production?.promptVersionId, h.task.seedVersion.id)
  })
})

test('approval timeout follows policy: roll back, or hold for a human', async () => {
  await withCanary(
    'timeout-rollback',
    'better',
    fastCanary({ approvalTimeoutSeconds: 2, onApprovalTimeout: 'rollback' }),
    async ({ h, canaryId, handle }) => {
      const s = await untilState(handle, ['rolled_back'])
      assert.match(s.reason ?? '', /no approval within 2 s: rolled back by policy/)
      assert.ok((await audit(h, canaryId)).some((e) => e.action === 'canary.rolled_back'))
    },
  )
  await withCanary(
    'timeout-hold',
    'better',
    fastCanary({ approvalTimeoutSeconds: 2, onApprovalTimeout: 'hold' }),
    async ({ h, handle }) => {
      const s = await untilState(handle, ['holding'])
      assert.match(s.reason ?? '', /holding at 50% until a human decides/)
      assert.ok((await getLabels(h.db, h.scenario.task.id)).canary, 'still serving while held')
      const out = await handle.executeUpdate(approveUpdate, { args: [{ approver: 'dave@example.com' }] })
      assert.equal(out.state, 'promoted')
    },
  )
})

test('no change: the canary becomes ready, and an approval promotes it', async () => {
  // With no change a false rollback is allowed up to the α budget (the benchmark measures that rate);
  // this test is about the path to promotion, so it runs with a tiny budget (≈ 0.1 % in all).
  const strict = fastCanary()
  strict.analysis = {
    ...strict.analysis!,
    alphaQuality: 0.0005,
    alphaError: 0.0003,
    alphaLatency: 0.0001,
    alphaCost: 0.0001,
    alphaInterval: 0.001,
  }
  await withCanary('no-change', 'unchanged', strict, async ({ h, handle, candidateId }) => {
    const s = await untilState(handle, ['awaiting_approval', 'rolled_back'], 120_000)
    assert.equal(s.state, 'awaiting_approval', s.reason ?? '')
    assert.ok(
      s.analysis!.effect.lower <= 0 && s.analysis!.effect.upper >= 0,
      `the 99.9% interval [${s.analysis!.effect.lower}, ${s.analysis!.effect.upper}] covers zero`,
    )
    const out = await handle.executeUpdate(approveUpdate, { args: [{ approver: 'judy@example.com' }] })
    assert.equal(out.state, 'promoted')
    assert.equal((await getLabels(h.db, h.scenario.task.id)).production?.promptVersionId, candidateId)
  })
})
