/**
 * The operator console in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
 * served by the same server as `kaizen serve` (cli/api-server.ts), through the real Temporal server
 * and PostgreSQL: sign in, the approval page with its charts, a read token that cannot act, CSRF,
 * untrusted HTML shown as text, approving, and the audit log naming the person. Screenshots go to
 * a temporary directory, or to docs/console/ with KAIZEN_UPDATE_SCREENSHOTS=1 (`npm run
 * docs:screenshots`), so a test run leaves the checkout as it was.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startApiServer, type ApiServer } from '../../cli/api-server.js'
import type { CanaryConfig } from '../../core/config.js'
import type { PromptContent } from '../../core/prompt.js'
import { createToken } from '../../db/queries/tokens.js'
import { REPO_ROOT } from '../../runtime/env.js'
import { optimizationCampaign } from '../../workflows/campaign/index.js'
import { canaryRelease } from '../../workflows/canary/index.js'
import { getPromptVersion } from '../../db/queries/prompts.js'
import { canaryStatusQuery, monitorWorkflowId, type CampaignResult } from '../../workflows/messages.js'
import { qualityMonitor } from '../../workflows/monitor.js'
import { listAlerts } from '../../db/queries/monitor.js'
import { auditEvents } from '../../db/schema.js'
import { and, eq } from 'drizzle-orm'
import {
  FLOOR_BREACH_MONITOR,
  TEST_CAMPAIGN,
  betterContent,
  fastCanary,
  measuredCostRatio,
  version,
} from '../helpers/fixtures.js'
import { eventually, startHarness, type Harness } from '../helpers/infra.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const UPDATE_SHOTS = process.env.KAIZEN_UPDATE_SCREENSHOTS === '1'
const SHOTS = UPDATE_SHOTS ? join(REPO_ROOT, 'docs', 'console') : mkdtempSync(join(tmpdir(), 'kaizen-console-shots-'))
const UNTRUSTED = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold?</b>'

let h: Harness
let server: ApiServer
let browser: Browser
let secrets: Record<'alice' | 'reader', string>

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`)
  h = await startHarness({ name: 'console' })
  secrets = {
    alice: (
      await createToken(h.db, {
        name: 'alice',
        scopes: ['approve', 'read'],
        person: 'alice@example.com',
        createdBy: 'test',
      })
    ).secret,
    reader: (await createToken(h.db, { name: 'dashboard', scopes: ['read'], createdBy: 'test' })).secret,
  }
  server = await startApiServer(h.deps, {
    host: '127.0.0.1',
    port: 0,
    temporal: { client: async () => h.client, taskQueue: h.taskQueue },
  })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  mkdirSync(SHOTS, { recursive: true })
})
after(async () => {
  await browser?.close()
  await server?.close()
  await h?.traffic.stop()
  await h?.close()
  if (!UPDATE_SHOTS) rmSync(SHOTS, { recursive: true, force: true })
})

/** A canary of `harness`'s task serving `content`, once it awaits approval (live traffic running). */
async function canaryAwaitingApproval(harness: Harness, content: PromptContent, overrides: Partial<CanaryConfig> = {}) {
  const candidate = await version(harness.db, harness.scenario, content, `console-${harness.scenario.id}`)
  const expectedCostRatio = await measuredCostRatio(harness.simulation, harness.scenario, content)
  const config = fastCanary(overrides)
  const canaryId = `canary-${harness.scenario.id}`
  harness.traffic.start(40)
  const handle = await harness.client.workflow.start(canaryRelease, {
    workflowId: canaryId,
    taskQueue: harness.taskQueue,
    args: [
      {
        canaryId,
        taskId: harness.scenario.task.id,
        campaignId: null,
        candidateVersionId: candidate.id,
        baselineVersionId: harness.task.seedVersion.id,
        graderVersionId: harness.task.graderVersionId,
        config: { ...config, analysis: { ...config.analysis!, expectedCostRatio } },
      },
    ],
  })
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'awaiting_approval',
    90_000,
    'awaiting approval',
  )
  return { canaryId, handle }
}

async function signIn(secret: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
  await page.goto(`${server.url}/`)
  assert.match(page.url(), /\/login\?next=%2F$/, 'a page without a session asks to sign in')
  await page.getByLabel('API token').fill(secret)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(`${server.url}/`)
  return page
}

test('console: sign in, the approval page and its evidence, read-only tokens, CSRF, escaping, approve', async () => {
  // A canary whose candidate's instructions carry untrusted HTML.
  const better = betterContent(h.scenario)
  const { canaryId, handle } = await canaryAwaitingApproval(h, { ...better, system: `${better.system} ${UNTRUSTED}` })

  // A bad token does not sign in.
  const stranger = await (await browser.newContext()).newPage()
  await stranger.goto(`${server.url}/login`)
  await stranger.getByLabel('API token').fill('kz_not-a-token')
  await stranger.getByRole('button', { name: 'Sign in' }).click()
  await stranger.getByText('That token is unknown or revoked.').waitFor()

  // Alice (approve scope, a person): the tasks page, then the canary's approval page.
  const alice = await signIn(secrets.alice)
  // Other tests' tasks share this database: follow this canary's link.
  await alice.locator(`a[href="/canaries/${canaryId}"]`, { hasText: /awaiting_approval at/ }).click()
  await alice.waitForURL(/\/canaries\//)
  await alice.getByText('The canary is ready').first().waitFor()
  const lines = alice.locator('figure.chart svg[aria-label="Mean DQ of graded requests per arm"] path[data-series]')
  assert.deepEqual(await lines.evaluateAll((ps) => ps.map((p) => p.getAttribute('data-series'))), [
    'canary',
    'baseline',
  ])
  for (const d of await lines.evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? '')))
    assert.match(d, /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+$/, 'each arm is drawn with several points')
  assert.equal(await alice.locator('svg rect[data-series="interval"]').count(), 1, 'the current interval')
  const band = alice.locator('svg[aria-label="The always-valid interval of the effect over time"] path[data-series]')
  assert.deepEqual(await band.evaluateAll((ps) => ps.map((p) => p.getAttribute('data-series'))), [
    'interval',
    'estimate',
  ])
  const looks = (await band.first().getAttribute('d'))?.split(/[ML]/).length ?? 0
  assert.ok(looks >= 10, `the band spans several looks (${looks} vertices)`)
  assert.ok((await alice.locator('svg.ebar').count()) >= 4, 'an e-value bar per metric and readiness')
  // Untrusted HTML in the prompt is text: shown as written, never run.
  await alice.getByText('<script>window.__xss=2</script>', { exact: false }).first().waitFor()
  assert.equal(await alice.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined)
  assert.equal(await alice.locator('main b:text("bold?")').count(), 0, 'no markup from the prompt')
  await alice.screenshot({ path: join(SHOTS, 'canary.png'), fullPage: true })

  // A POST without the CSRF token is refused, even with Alice's session.
  const noCsrf = await alice.request.post(`${server.url}/canaries/${canaryId}/approve`, { form: { comment: 'x' } })
  assert.equal(noCsrf.status(), 403)

  // A read token sees the page but gets no approve button, and a forged POST (with its CSRF token) is 403.
  const reader = await signIn(secrets.reader)
  await reader.goto(`${server.url}/canaries/${canaryId}`)
  await reader.getByText('may read, not decide').waitFor()
  assert.equal(await reader.getByRole('button', { name: /Approve/ }).count(), 0)
  const csrf = await reader.locator('input[name="_csrf"]').first().getAttribute('value')
  const forged = await reader.request.post(`${server.url}/canaries/${canaryId}/approve`, {
    form: { _csrf: csrf ?? '', comment: 'forged' },
  })
  assert.equal(forged.status(), 403)
  assert.equal((await handle.query(canaryStatusQuery)).state, 'awaiting_approval', 'nothing was decided')

  // Alice approves with a comment: the workflow promotes, and the audit page names her.
  await alice.getByLabel('Why approve (recorded)').fill('holdout and live agree')
  await alice.getByRole('button', { name: 'Approve as alice@example.com' }).click()
  await alice.waitForURL(/done=/)
  const flash = (await alice.locator('p.flash').textContent()) ?? ''
  assert.match(flash, /approved by alice@example\.com: promoted/, flash)
  await eventually(
    () => handle.query(canaryStatusQuery),
    (s) => s.state === 'baking' || s.state === 'promoted',
    30_000,
    'promoted',
  )
  await alice.goto(`${server.url}/audit?action=canary.&task=${h.scenario.task.id}`)
  await alice.locator('tr[data-action="canary.approved"]', { hasText: 'alice@example.com' }).first().waitFor()
  await alice.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true })
  await alice.goto(`${server.url}/`)
  await alice.screenshot({ path: join(SHOTS, 'tasks.png'), fullPage: true })
})

test(`four-eyes: the first approval alone does not promote; the same person again is refused; \
a second person promotes`, async () => {
  const h2 = await startHarness({ name: 'console-4eyes' })
  try {
    const bob = (
      await createToken(h2.db, {
        name: 'bob',
        scopes: ['approve', 'read'],
        person: 'bob@example.com',
        createdBy: 'test',
      })
    ).secret
    const { canaryId, handle } = await canaryAwaitingApproval(h2, betterContent(h2.scenario), { approvals: 2 })
    const approve = async (page: Page, comment: string) => {
      await page.goto(`${server.url}/canaries/${canaryId}`)
      await page.getByLabel('Why approve (recorded)').fill(comment)
      await page.getByRole('button', { name: /^Approve as/ }).click()
      await page.waitForURL(/done=/)
      return (await page.locator('p.flash').textContent()) ?? ''
    }
    const alice = await signIn(secrets.alice)
    assert.match(await approve(alice, 'first pair of eyes'), /approval 1 of 2 recorded by alice@example\.com/)
    const waiting = await handle.query(canaryStatusQuery)
    assert.equal(waiting.state, 'awaiting_approval', 'one approval does not promote')
    assert.deepEqual(
      waiting.approvals?.map((a) => a.approver),
      ['alice@example.com'],
    )
    // The same person again, from the page or the API: refused, nothing recorded.
    assert.match(await approve(alice, 'me again'), /Refused: .*alice@example\.com already approved/)
    const api = await fetch(`${server.url}/v1/canaries/${canaryId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secrets.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'via the API' }),
    })
    assert.equal(api.status, 409)
    // A second person promotes.
    const second = await signIn(bob)
    assert.match(await approve(second, 'second pair of eyes'), /approved by bob@example\.com: promoted/)
    const done = await handle.query(canaryStatusQuery)
    assert.ok(done.state === 'promoted' || done.state === 'baking', done.state)
    await alice.goto(`${server.url}/audit?action=canary.approved&task=${h2.scenario.task.id}`)
    const approvers = await alice.locator('tr[data-action="canary.approved"] td:nth-child(2)').allTextContents()
    assert.deepEqual(approvers.sort(), ['alice@example.com', 'bob@example.com'])
  } finally {
    await h2.traffic.stop()
    await h2.close()
  }
})

test('behind an SSO proxy: a trusted header names the person, believed only from the proxy addresses', async () => {
  const temporal = { client: async () => h.client, taskQueue: h.taskQueue }
  const header = 'X-Forwarded-Email'
  const proxied = await startApiServer(h.deps, {
    host: '127.0.0.1',
    port: 0,
    temporal,
    trustedHeader: { name: header, proxies: ['127.0.0.1'] },
  })
  const elsewhere = await startApiServer(h.deps, {
    host: '127.0.0.1',
    port: 0,
    temporal,
    trustedHeader: { name: header, proxies: ['10.0.0.9'] },
  })
  try {
    const get = (base: string, person: string) =>
      fetch(`${base}/`, { headers: { [header]: person }, redirect: 'manual' })
    // From the proxy: signed in as the person, with the permissions of the tokens issued to them.
    const page = await get(proxied.url, 'alice@example.com')
    assert.equal(page.status, 200)
    assert.match(await page.text(), /alice@example\.com · approve, read/)
    // A person with no token: refused, saying how to give them one.
    const eve = await get(proxied.url, 'eve@example.com')
    assert.equal(eve.status, 403)
    assert.match(await eve.text(), /No Kaizen token is issued to eve@example\.com/)
    // The same header from an address that is not the proxy is ignored: sign in first.
    const spoofed = await get(elsewhere.url, 'alice@example.com')
    assert.equal(spoofed.status, 303)
    assert.match(spoofed.headers.get('location') ?? '', /^\/login/)
    // Forms still need their CSRF token.
    const post = await fetch(`${proxied.url}/canaries/x/approve`, {
      method: 'POST',
      headers: { [header]: 'alice@example.com', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'comment=no-csrf',
    })
    assert.equal(post.status, 403)
  } finally {
    await proxied.close()
    await elsewhere.close()
  }
})

test('campaign page (progress, candidates, holdout) and prompt versions page (diff, lineage, labels)', async () => {
  const h3 = await startHarness({ name: 'console-campaign', fixedIds: true })
  try {
    const taskId = h3.scenario.task.id
    await h3.traffic.burst(260)
    const campaignId = `campaign-${taskId}`
    const handle = await h3.client.workflow.start(optimizationCampaign, {
      workflowId: campaignId,
      taskQueue: h3.taskQueue,
      args: [
        {
          taskId,
          campaignId,
          trigger: 'test',
          config: { ...TEST_CAMPAIGN, search: { ...TEST_CAMPAIGN.search, rounds: 3 } },
        },
      ],
    })
    const result = await handle.result()
    const page = await signIn(secrets.reader)
    await page.goto(`${server.url}/campaigns/${campaignId}`)
    await page.getByText(/Ended \(completed\)/).waitFor()
    const groups = page.locator('svg[aria-label="Candidates: validation DQ against prompt size"] g[data-series]')
    assert.deepEqual(await groups.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-series'))), [
      'accepted',
      'rejected',
      'seed',
    ])
    assert.ok((await page.locator('g[data-series] circle').count()) >= 2, 'candidates are plotted')
    assert.equal(await page.locator('svg[aria-label="Best validation DQ by round"] path[data-series]').count(), 1)
    await page.screenshot({ path: join(SHOTS, 'campaign.png'), fullPage: true })
    if (result.holdout) await page.getByText(`on ${result.holdout.n} paired items`).first().waitFor()

    // Prompt versions: production against the winner, side by side; the lineage; the label history.
    const winner = result.winnerVersion ? await getPromptVersion(h3.db, result.winnerVersion) : null
    await page.goto(`${server.url}/tasks/${taskId}/prompts?a=1&b=${winner?.version ?? 1}`)
    await page.getByRole('heading', { name: `v1 → v${winner?.version ?? 1}` }).waitFor()
    assert.ok((await page.locator('ul.lineage li').count()) >= 2, 'the lineage lists the versions')
    if (winner && winner.version !== 1) assert.ok((await page.locator('pre[aria-label="after"] .add').count()) > 0)
    assert.ok((await page.locator('text=production').count()) > 0)
    await page.screenshot({ path: join(SHOTS, 'prompts.png'), fullPage: true })

    // A migration whose pair breaks a limit: the front with each pair's verdict, and the drop.
    const migrationId = `migrate-${taskId}`
    const migrated: CampaignResult = await h3.client.workflow.execute(optimizationCampaign, {
      workflowId: migrationId,
      taskQueue: h3.taskQueue,
      args: [
        {
          taskId,
          campaignId: migrationId,
          trigger: 'test',
          config: {
            ...TEST_CAMPAIGN,
            search: {
              ...TEST_CAMPAIGN.search,
              rounds: 2,
              strategy: 'pooled-local',
              minibatchSize: 8,
              objective: { kind: 'migrate', toModel: 'sim-small', margin: 0.05, maxLatencyMs: 1 },
            },
          },
        },
      ],
    })
    assert.equal(migrated.decision, 'no-significant-improvement', migrated.reason)
    await page.goto(`${server.url}/campaigns/${migrationId}`)
    const front = page.getByRole('table', { name: 'The holdout front' })
    await front.waitFor()
    assert.equal(await front.locator('tbody tr').count(), 2, 'production and the sim-small finalist')
    const pairRow = front.locator(`tr[data-pair="${migrated.agility!.front.find((p) => p.model === 'sim-small')!.id}"]`)
    assert.match(await pairRow.innerText(), /sim-small[\s\S]*mean latency \d+ ms, over the limit of 1 ms/)
    assert.match(await page.locator('p[data-drop]').innerText(), /^Migration drop on the holdout: production's prompt/)
    await page.getByText(`By the objective: ${migrated.reason}`).waitFor()
    // Ended without a winner: the best candidate scored is still shown beside production.
    const bestRow = page.locator('tr', { has: page.locator('th', { hasText: 'best validation DQ' }) })
    assert.match(await bestRow.locator('td').innerText(), /^\d\.\d{3} \(production \d\.\d{3}\)$/)
    // Not compared as a winner, so no winner section that would say the holdout never ran.
    assert.equal(await page.getByText('The campaign ended before the holdout comparison.').count(), 0)
    await page.screenshot({ path: join(SHOTS, 'campaign-models.png'), fullPage: true })
  } finally {
    await h3.traffic.stop()
    await h3.close()
  }
})

test(`monitor page: the live status and the alerts; a read token sees and cannot acknowledge; an operator \
acknowledges under their name (recorded and audited)`, async () => {
  const h4 = await startHarness({ name: 'console-monitor' })
  try {
    const taskId = h4.scenario.task.id
    const operator = (
      await createToken(h.db, {
        name: 'ops',
        scopes: ['operate', 'read'],
        person: 'dana@example.com',
        createdBy: 'test',
      })
    ).secret
    h4.traffic.start(40)
    // Floors above what the prompt achieves: an alert within seconds; no campaign (not under test here).
    const handle = await h4.client.workflow.start(qualityMonitor, {
      workflowId: monitorWorkflowId(taskId),
      taskQueue: h4.taskQueue,
      args: [{ taskId, config: { ...FLOOR_BREACH_MONITOR, action: { startCampaign: false } } }],
    })
    const [alert] = await eventually(
      () => listAlerts(h.db, { taskId, open: true }),
      (a) => a.length > 0,
      60_000,
      'a floor alert',
    )
    assert.ok(alert)

    // A read token: the task page links to the monitor, which shows its status and the open alert.
    const reader = await signIn(secrets.reader)
    await reader.goto(`${server.url}/tasks/${taskId}`)
    await reader.getByRole('link', { name: 'quality monitor and alerts' }).click()
    await reader.waitForURL(`${server.url}/tasks/${taskId}/monitor`)
    await reader.getByRole('heading', { name: `Quality monitor of ${taskId}` }).waitFor()
    const phase = reader.locator('p[data-phase]')
    assert.match((await phase.getAttribute('data-phase')) ?? '', /^(learning|watching)$/)
    assert.match((await phase.textContent()) ?? '', /\d+ checks, the last .* · a check every 1\.5 s/)
    await reader.locator('table[aria-label="Floors"] tr[data-status]').first().waitFor()
    const row = reader.locator(`tr[data-alert="${alert.id}"]`)
    assert.equal(await row.getAttribute('data-open'), 'yes')
    assert.match((await row.textContent()) ?? '', new RegExp(`floor · ${alert.metric}`))
    assert.equal(await reader.getByRole('button', { name: /Acknowledge/ }).count(), 0, 'a read token cannot act')
    await reader.getByText('may read, not act').waitFor()

    // An operator acknowledges it with a comment; the page says so and the row shows who and when.
    const dana = await signIn(operator)
    await dana.goto(`${server.url}/tasks/${taskId}/monitor`)
    const form = dana.locator(`tr[data-alert="${alert.id}"] form`)
    await form.getByLabel('Comment (recorded)').fill(`looking into it ${UNTRUSTED}`)
    await form.getByRole('button', { name: 'Acknowledge as dana@example.com' }).click()
    await dana.getByText('Alert acknowledged by dana@example.com.').waitFor()
    const acked = dana.locator(`tr[data-alert="${alert.id}"]`)
    assert.equal(await acked.getAttribute('data-open'), 'no')
    assert.match((await acked.textContent()) ?? '', /dana@example\.com · \d{4}-/)
    await dana.screenshot({ path: join(SHOTS, 'monitor.png'), fullPage: true })
    const [stored] = await listAlerts(h.db, { taskId }).then((as) => as.filter((a) => a.id === alert.id))
    assert.equal(stored?.acknowledgedBy, 'dana@example.com')
    const [event] = await h.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'monitor.alert.acknowledged'), eq(auditEvents.subjectId, alert.id)))
    assert.equal(event?.actor, 'dana@example.com')
    assert.equal((event?.details as { comment?: string }).comment, `looking into it ${UNTRUSTED}`)

    // Without a CSRF token the form's action is refused.
    const forged = await dana.request.post(`${server.url}/tasks/${taskId}/monitor/alerts/${alert.id}/ack`, {
      form: { comment: 'x' },
    })
    assert.equal(forged.status(), 403)
    await handle.terminate('test over')
  } finally {
    await h4.traffic.stop()
    await h4.close()
  }
})
