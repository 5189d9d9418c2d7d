/**
 * `npm run record-histories`: run the workflows for real (Postgres + Temporal dev server, as in
 * the tests) and save their event histories to test/histories/, where the replay test checks
 * that the current workflow code still replays them deterministically.
 *
 * Each recording is named by the commit that made it (`<name>@<commit>.json`) and older ones are
 * kept: the current code must replay them all, as it must resume executions started by any build
 * still running somewhere. A change that cannot replay an old history needs `patched()`.
 *
 *   npm run record-histories [-- --only campaign,rollback,ramp,monitor]
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js'
import { REPO_ROOT } from '../runtime/env.js'
import { canaryRelease } from '../workflows/canary/index.js'
import { optimizationCampaign } from '../workflows/campaign/index.js'
import { parseArgs } from 'node:util'
import {
  acknowledgeAlertUpdate,
  approveUpdate,
  canaryStatusQuery,
  configureMonitorUpdate,
  monitorStatusQuery,
  stopMonitorSignal,
} from '../workflows/messages.js'
import { qualityMonitor } from '../workflows/monitor.js'
import { withTestInfra } from './lib/test-infra.js'

const log = (line: string) => process.stderr.write(`[record] ${line}\n`)
/** Histories are named by the commit whose code recorded them; older ones stay, to keep replaying. */
const commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()

const RECORDINGS = ['campaign', 'rollback', 'ramp', 'monitor'] as const
const { values } = parseArgs({ options: { only: { type: 'string', default: RECORDINGS.join(',') } } })
const only = new Set((values.only as string).split(',').map((x) => x.trim()))
for (const name of only)
  if (!(RECORDINGS as readonly string[]).includes(name)) {
    process.stderr.write(`record-histories: --only: unknown recording "${name}"; use ${RECORDINGS.join(', ')}\n`)
    process.exit(2)
  }

async function main() {
  await withTestInfra(log, async (infra) => {
    process.env.KAIZEN_TEST_DATABASE_URL = infra.databaseUrl
    process.env.KAIZEN_TEST_TEMPORAL_ADDRESS = infra.temporalAddress
    const { startHarness, eventually } = await import('../test/helpers/infra.js')
    const {
      TEST_CAMPAIGN,
      FLOOR_BREACH_MONITOR,
      regressedContent,
      betterContent,
      measuredCostRatio,
      fastCanary,
      version,
    } = await import('../test/helpers/fixtures.js')
    const save = async (h: { client: import('@temporalio/client').Client }, workflowId: string, name: string) => {
      const history = await h.client.workflow.getHandle(workflowId).fetchHistory()
      const path = join(REPO_ROOT, 'test', 'histories', `${name}@${commit}.json`)
      writeFileSync(path, `${historyToJSON(history)}\n`)
      log(`saved ${history.events?.length} events of ${workflowId} to ${path}`)
    }

    // 1. A campaign that starts a canary, and the canary promoted by an approval Update. Fixed ids:
    // the task id seeds the simulated world, so every recording draws the same traffic (with a new
    // draw each time, a borderline holdout, p = 0.0505, once ended the campaign without a canary).
    if (only.has('campaign')) {
      const h = await startHarness({ name: 'record', fixedIds: true })
      try {
        await h.traffic.burst(260)
        const campaignId = 'campaign-record'
        const result = await h.client.workflow.execute(optimizationCampaign, {
          workflowId: campaignId,
          taskQueue: h.taskQueue,
          args: [{ taskId: h.scenario.task.id, campaignId, trigger: 'test', config: TEST_CAMPAIGN }],
        })
        if (!result.canary) throw new Error(`expected a canary: ${result.reason}`)
        h.traffic.start(40)
        const canary = h.client.workflow.getHandle(result.canary.workflowId)
        await eventually(
          () => canary.query(canaryStatusQuery),
          (s) => s.state === 'awaiting_approval',
          60_000,
          'approval',
        )
        await canary.executeUpdate(approveUpdate, {
          args: [{ approver: 'recorder@example.com', comment: 'replay fixture' }],
        })
        await canary.result()
        await save(h, campaignId, 'campaign-canary-started')
        await save(h, result.canary.workflowId, 'canary-promoted')
      } finally {
        await h.close()
      }
    }

    // 2. A regressed canary rolled back automatically.
    if (only.has('rollback')) {
      const r = await startHarness({ name: 'record-rollback', fixedIds: true })
      try {
        const bad = await version(r.db, r.scenario, regressedContent(r.scenario), 'regressed')
        r.traffic.start(40)
        const canaryId = 'canary-record-rollback'
        await r.client.workflow.execute(canaryRelease, {
          workflowId: canaryId,
          taskQueue: r.taskQueue,
          args: [
            {
              canaryId,
              taskId: r.scenario.task.id,
              campaignId: null,
              candidateVersionId: bad.id,
              baselineVersionId: r.task.seedVersion.id,
              graderVersionId: r.task.graderVersionId,
              config: fastCanary(),
            },
          ],
        })
        await save(r, canaryId, 'canary-rolled-back')
      } finally {
        await r.close()
      }
    }

    // 3. A canary that ramps (two steps), is approved, and bakes with a holdback until the window passes.
    if (only.has('ramp')) {
      const b = await startHarness({ name: 'record-ramp-bake', fixedIds: true })
      try {
        const content = betterContent(b.scenario)
        const candidate = await version(b.db, b.scenario, content, 'better')
        const expectedCostRatio = await measuredCostRatio(b.simulation, b.scenario, content)
        b.traffic.start(60)
        const canaryId = 'canary-record-ramp-bake'
        const config = fastCanary({
          weight: undefined,
          steps: [0.2, 0.5],
          minSamplesPerStep: 10,
          bake: { seconds: 4, holdbackWeight: 0.2 },
        })
        const handle = await b.client.workflow.start(canaryRelease, {
          workflowId: canaryId,
          taskQueue: b.taskQueue,
          args: [
            {
              canaryId,
              taskId: b.scenario.task.id,
              campaignId: null,
              candidateVersionId: candidate.id,
              baselineVersionId: b.task.seedVersion.id,
              graderVersionId: b.task.graderVersionId,
              config: { ...config, analysis: { ...config.analysis!, expectedCostRatio } },
            },
          ],
        })
        await eventually(
          () => handle.query(canaryStatusQuery),
          (s) => s.state === 'awaiting_approval',
          90_000,
          'approval after the ramp',
        )
        await handle.executeUpdate(approveUpdate, {
          args: [{ approver: 'recorder@example.com', comment: 'replay fixture: ramp and bake' }],
        })
        const final = await handle.result()
        if (final.state !== 'promoted' || (final.step ?? 0) !== 1)
          throw new Error(`expected a ramped, promoted and baked canary, got ${JSON.stringify(final)}`)
        await save(b, canaryId, 'canary-ramp-baked')
      } finally {
        await b.close()
      }
    }

    // 4. A quality monitor: learning, a DQ floor breach raised as an alert, a campaign started,
    // the breach repeated (duplicate, then held back), its settings changed and the alert
    // acknowledged through its Updates, stopped by its signal.
    if (only.has('monitor')) {
      const m = await startHarness({ name: 'record-monitor', fixedIds: true })
      try {
        // The campaign it starts samples the last 24 hours of traffic: some must be there.
        await m.traffic.burst(260)
        m.traffic.start(40)
        const monitorId = 'kaizen-monitor-record'
        const handle = await m.client.workflow.start(qualityMonitor, {
          workflowId: monitorId,
          taskQueue: m.taskQueue,
          args: [
            {
              taskId: m.scenario.task.id,
              config: FLOOR_BREACH_MONITOR,
            },
          ],
        })
        const status = await eventually(
          () => handle.query(monitorStatusQuery),
          (s) => s.campaigns.length === 1 && s.checks >= 4,
          60_000,
          'a campaign started by the monitor',
        )
        await handle.executeUpdate(configureMonitorUpdate, {
          args: [{ config: { ...FLOOR_BREACH_MONITOR, sampleRate: 0.5 }, by: 'recorder@example.com' }],
        })
        await handle.executeUpdate(acknowledgeAlertUpdate, {
          args: [{ alertId: status.campaigns[0]!.alertId, by: 'recorder@example.com', comment: 'recorded' }],
        })
        await eventually(
          () => handle.query(monitorStatusQuery),
          (s) => s.checks >= status.checks + 2,
          30_000,
          'two checks on the new settings',
        )
        await handle.signal(stopMonitorSignal)
        await handle.result()
        const campaign = m.client.workflow.getHandle(status.campaigns[0]!.campaignId)
        if ((await campaign.describe()).status.name === 'RUNNING') await campaign.terminate('recording over')
        await m.traffic.stop()
        await save(m, monitorId, 'quality-monitor')
      } finally {
        await m.close()
      }
    }
  })
}

main().then(
  () => process.exit(0),
  (err) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err))
    process.exit(1)
  },
)
