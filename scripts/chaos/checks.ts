/**
 * What the chaos suite checks after a run, in the run's database: the campaign against the
 * reference, duplicated rows, lost rows, and whether the canary's row, the labels, the approvals
 * and the audit trail agree on how the canary ended.
 */
import pg from 'pg'
import { trafficIdOf } from '../../db/queries/traffic-ids.js'
import type { CampaignResult, CanaryStatus } from '../../workflows/messages.js'
import type { SentRequest } from './traffic.js'

export interface RunFacts {
  url: string
  task: string
  campaignId: string
  result: CampaignResult
  canary: CanaryStatus | null
  approver: string
  sent: SentRequest[]
  /** Model calls during the campaign (task model, judge, proposer). */
  modelCalls: number
  /** The rows the campaign wrote, counted when it ended (the canary's grading adds evaluations later). */
  campaignRows: Record<string, number>
}

/** Count the rows a campaign writes (run as soon as it ends). */
export async function campaignRows(url: string, task: string, campaignId: string): Promise<Record<string, number>> {
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  const n = async (text: string, params: unknown[] = []) =>
    Number((await db.query<{ n: string }>(text, params)).rows[0]?.n ?? 0)
  try {
    return {
      'prompt versions': await n('SELECT count(*) AS n FROM prompt_versions WHERE task_id = $1', [task]),
      candidates: await n('SELECT count(*) AS n FROM candidates WHERE campaign_id = $1', [campaignId]),
      'search rounds': await n('SELECT count(*) AS n FROM search_rounds WHERE campaign_id = $1', [campaignId]),
      evaluations: await n('SELECT count(*) AS n FROM evaluations'),
      'evaluation contents': await n('SELECT count(*) AS n FROM eval_contents'),
      datasets: await n('SELECT count(*) AS n FROM datasets'),
      'dataset items': await n('SELECT count(*) AS n FROM dataset_items'),
    }
  } finally {
    await db.end()
  }
}

/** What a run must share with the reference. */
export interface Snapshot {
  outcome: { decision: string; winner: string | null; rounds: number; rollouts: number }
  rows: Record<string, number>
  canaryState: string | null
}

export interface Check {
  name: string
  ok: boolean
  detail: string
}

/** Audit actions a canary writes at most once. */
const ONCE = [
  'canary.started',
  'canary.approved',
  'canary.rejected',
  'canary.promoted',
  'canary.bake_started',
  'canary.baked',
  'canary.bake_rolled_back',
  'canary.rolled_back',
  'campaign.started',
]

export async function checkRun(
  facts: RunFacts,
  reference: Snapshot | null,
): Promise<{ checks: Check[]; snapshot: Snapshot }> {
  const db = new pg.Client({ connectionString: facts.url })
  await db.connect()
  const q = async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
    (await db.query<T>(text, params)).rows
  const n = async (text: string, params: unknown[] = []) => Number((await q<{ n: string }>(text, params))[0]?.n ?? 0)
  const checks: Check[] = []
  const check = (name: string, ok: boolean, detail = '') => checks.push({ name, ok, detail })
  try {
    const { result } = facts
    const snapshot: Snapshot = {
      outcome: {
        decision: result.decision,
        winner: result.winnerVersion,
        rounds: result.rounds,
        rollouts: result.rolloutsUsed,
      },
      rows: facts.campaignRows,
      canaryState: facts.canary?.state ?? null,
    }

    // The campaign, as the uninterrupted run.
    if (reference) {
      const same = JSON.stringify(snapshot.outcome) === JSON.stringify(reference.outcome)
      check(
        'campaign outcome as the reference',
        same,
        same
          ? `${result.decision}, ${result.rolloutsUsed} rollouts`
          : `got ${JSON.stringify(snapshot.outcome)}, reference ${JSON.stringify(reference.outcome)}`,
      )
      const differ = Object.keys(reference.rows).filter((k) => reference.rows[k] !== snapshot.rows[k])
      check(
        'campaign rows as the reference',
        differ.length === 0,
        differ.map((k) => `${k} ${snapshot.rows[k]} (reference ${reference.rows[k]})`).join(', '),
      )
      check(
        'canary ended as the reference',
        snapshot.canaryState === reference.canaryState,
        `${snapshot.canaryState} (reference ${reference.canaryState})`,
      )
    }

    // Nothing duplicated under another key.
    const dups: string[] = []
    for (const r of await q<{ action: string; subject_id: string; n: string }>(
      `SELECT action, subject_id, count(*) AS n FROM audit_events WHERE action = ANY($1) GROUP BY action, ` +
        `subject_id HAVING count(*) > 1`,
      [ONCE],
    ))
      dups.push(`audit ${r.action} of ${r.subject_id} ×${r.n}`)
    for (const r of await q<{ action: string; n: string }>(
      `SELECT action, count(*) AS n FROM audit_events GROUP BY action, subject_type, subject_id, ` +
        `details::text HAVING count(*) > 1`,
    ))
      dups.push(`audit ${r.action} with identical details ×${r.n}`)
    for (const r of await q<{ label: string; n: string }>(
      `SELECT label, count(*) AS n FROM label_history GROUP BY task_id, label, canary_id, from_version_id, ` +
        `to_version_id, weight, reason HAVING count(*) > 1`,
    ))
      dups.push(`label move of ${r.label} ×${r.n}`)
    for (const r of await q<{ canary_id: string; n: string }>(
      `SELECT canary_id, count(*) AS n FROM approvals GROUP BY canary_id, decision, approver HAVING count(*) > 1`,
    ))
      dups.push(`approval of ${r.canary_id} ×${r.n}`)
    const canaries = await n('SELECT count(*) AS n FROM canaries WHERE campaign_id = $1', [facts.campaignId])
    if (canaries > 1) dups.push(`${canaries} canaries for one campaign`)
    for (const r of await q<{ n: string }>(
      `SELECT count(*) AS n FROM traffic WHERE error IS NULL GROUP BY task_id, routing_key, input::text ` +
        `HAVING count(*) > 1`,
    ))
      dups.push(`a request stored ×${r.n}`)
    for (const r of await q<{ n: string }>(
      `SELECT count(*) AS n FROM candidates GROUP BY campaign_id, round, operator, prompt_version_id HAVING ` +
        `count(*) > 1`,
    ))
      dups.push(`a candidate ×${r.n}`)
    check('no duplicated rows', dups.length === 0, dups.slice(0, 8).join('; '))

    // Nothing lost: every request the gateway said it recorded is stored, answered.
    const recorded = facts.sent.filter((s) => s.outcome === 'recorded')
    const ids = recorded.map((s) => s.trafficId as string)
    const stored = new Set(
      (await q<{ id: string }>('SELECT id FROM traffic WHERE id = ANY($1) AND error IS NULL', [ids])).map((r) => r.id),
    )
    const lost = ids.filter((id) => !stored.has(id))
    const misnamed = recorded.filter((s) => s.trafficId !== trafficIdOf(facts.task, s.id))
    check(
      'no lost rows',
      lost.length === 0 && misnamed.length === 0,
      lost.length || misnamed.length
        ? `${lost.length} recorded requests missing, ${misnamed.length} under another id`
        : `${recorded.length} recorded requests all stored`,
    )
    const storedAfterFailure = facts.sent.filter((s) => s.outcome !== 'recorded')
    if (storedAfterFailure.length > 0) {
      const found = await n('SELECT count(*) AS n FROM traffic WHERE id = ANY($1)', [
        storedAfterFailure.map((s) => trafficIdOf(facts.task, s.id)),
      ])
      check(
        'requests the gateway could not record are reported, not stored',
        true,
        `${storedAfterFailure.length} reported (${found} of them stored by an earlier try)`,
      )
    }

    // The canary's row, labels, approvals and audit agree.
    if (result.canary) {
      const problems: string[] = []
      const canaryId = result.canary.id
      const [row] = await q<{
        state: string
        ended_at: Date | null
        candidate_version_id: string
        baseline_version_id: string
      }>('SELECT state, ended_at, candidate_version_id, baseline_version_id FROM canaries WHERE id = $1', [canaryId])
      if (!row) problems.push('no canary row')
      else {
        if (row.state !== facts.canary?.state) problems.push(`row state ${row.state}, workflow ${facts.canary?.state}`)
        if (!row.ended_at) problems.push('row not ended')
        const labels = await q<{ label: string; version_id: string | null }>(
          'SELECT label, prompt_version_id AS version_id FROM labels WHERE task_id = $1',
          [facts.task],
        )
        const production = labels.find((l) => l.label === 'production')?.version_id
        const canaryLabel = labels.find((l) => l.label === 'canary')?.version_id ?? null
        const expected = row.state === 'promoted' ? row.candidate_version_id : row.baseline_version_id
        if (production !== expected) problems.push(`production is ${production}, expected ${expected} (${row.state})`)
        if (canaryLabel) problems.push(`the canary label still routes to ${canaryLabel}`)
        const approved = await q<{ approver: string }>(
          `SELECT approver FROM approvals WHERE canary_id = $1 AND decision = 'approve'`,
          [canaryId],
        )
        const audited = await n(
          `SELECT count(*) AS n FROM audit_events WHERE subject_id = $1 AND action = 'canary.approved'`,
          [canaryId],
        )
        const promotedEvents = await n(
          `SELECT count(*) AS n FROM audit_events WHERE subject_id = $1 AND action = 'canary.promoted'`,
          [canaryId],
        )
        if (approved.length !== audited) problems.push(`${approved.length} approvals, ${audited} approval audit events`)
        if (
          row.state === 'promoted' &&
          (approved.length !== 1 || approved[0]?.approver !== facts.approver || promotedEvents !== 1)
        )
          problems.push(`promoted with ${approved.length} approvals and ${promotedEvents} promotion events`)
      }
      check(
        'canary row, labels, approvals and audit agree',
        problems.length === 0,
        problems.join('; ') || `${row?.state}`,
      )
    }
    return { checks, snapshot }
  } finally {
    await db.end()
  }
}
