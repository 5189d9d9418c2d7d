/**
 * @module console/pages/canary
 * The approval page: everything a person needs to approve or reject a canary on one page — the
 * verdict in plain words, arms and samples, quality per arm over time, the effect with its
 * always-valid interval, e-values against thresholds per metric, the sample ratio and ramp step,
 * the diff against production, the offline holdout result, the grader's calibration, the decisions
 * so far, and the approve / reject form for a token that may decide.
 */
import { diffLines } from 'diff'
import { sentencePerLine } from '../../core/prompt.js'
import { eq } from 'drizzle-orm'
import type { FC } from 'hono/jsx'
import type { CanaryView } from '../../client/operations.js'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../../db/client.js'
import { effectBand, type BandPoint } from '../../core/canary/band.js'
import { parseCanaryConfig } from '../../core/config.js'
import { canaryObservations, canaryQualitySeries, type ArmPoint } from '../../db/queries/console.js'
import { latestTrust } from '../../db/queries/graders.js'
import { getPromptVersion } from '../../db/queries/prompts.js'
import type { ApiTokenRow } from '../../db/queries/tokens.js'
import { campaigns, canaries } from '../../db/schema.js'
import { graderTrustCheck } from '../../evaluation/calibration.js'
import { BandChart, EValueBar, IntervalChart, LineChart } from '../charts.js'
import { CsrfField, fmt, fmtTime } from '../layout.js'

type PromptVersionRow = Awaited<ReturnType<typeof getPromptVersion>>

export interface CanaryPageData {
  view: CanaryView
  taskId: string
  campaignId: string | null
  margin: number
  candidate: PromptVersionRow
  baseline: PromptVersionRow
  holdout: { baselineDQ: number | null; winnerDQ: number | null; pValue: number | null; n: number | null } | null
  trust: { ok: boolean; via: string | null; reason: string; kappa: Record<string, number | null>; rho: number | null }
  series: { canary: ArmPoint[]; baseline: ArmPoint[] }
  /** The always-valid interval of the effect at past looks. */
  band: BandPoint[]
}

export async function loadCanaryPage(db: Db, view: CanaryView): Promise<CanaryPageData> {
  const [row] = await db.select().from(canaries).where(eq(canaries.id, view.canaryId))
  if (!row) throw new KaizenError('NOT_FOUND', `no canary "${view.canaryId}" is recorded in this deployment's database`)
  const [candidate, baseline] = await Promise.all([
    getPromptVersion(db, row.candidateVersionId),
    getPromptVersion(db, row.baselineVersionId),
  ])
  const [campaign] = row.campaignId ? await db.select().from(campaigns).where(eq(campaigns.id, row.campaignId)) : []
  const result = campaign?.result as
    | { baselineHoldoutDQ?: number | null; winnerHoldoutDQ?: number | null; holdout?: { pValue: number; n: number } }
    | null
    | undefined
  const check = await graderTrustCheck(db, row.graderVersionId)
  const verdict = await latestTrust(db, row.graderVersionId)
  const report = verdict?.report as
    { dimensions?: Record<string, { kappa: number | null }>; spearman?: { rho: number | null } } | undefined
  const analysis = (row.config as { analysis?: { margin?: number } }).analysis
  return {
    view,
    taskId: row.taskId,
    campaignId: row.campaignId,
    margin: analysis?.margin ?? 0.05,
    candidate,
    baseline,
    holdout: result
      ? {
          baselineDQ: result.baselineHoldoutDQ ?? null,
          winnerDQ: result.winnerHoldoutDQ ?? null,
          pValue: result.holdout?.pValue ?? null,
          n: result.holdout?.n ?? null,
        }
      : null,
    trust: {
      ok: check.ok,
      via: check.via,
      reason: check.reason,
      kappa: Object.fromEntries(Object.entries(report?.dimensions ?? {}).map(([k, v]) => [k, v.kappa])),
      rho: report?.spearman?.rho ?? null,
    },
    series: await canaryQualitySeries(db, view.canaryId, row.graderVersionId),
    band: effectBand(
      await canaryObservations(db, view.canaryId, row.graderVersionId),
      parseCanaryConfig(row.config, `stored config of canary ${row.id}`).analysis,
    ),
  }
}

const PLAIN: Record<string, string> = {
  starting: 'The canary is starting.',
  running: 'The canary is collecting evidence on live traffic.',
  awaiting_approval: 'The canary is ready: it waits for a person to approve or reject it.',
  holding: 'The canary is holding for a human decision (see the alerts).',
  baking: 'Approved: production runs the candidate, with a holdback on the previous version, until the bake ends.',
  promoted: 'Promoted: the candidate is production.',
  rolled_back: 'Rolled back: production is the previous version.',
}

const ramp = (steps: number[]) => steps.map((s) => `${Math.round(s * 100)} %`).join(' → ')

/** Line-by-line diff of two texts (one sentence per line), as text. */
const Diff: FC<{ a: string; b: string }> = ({ a, b }) => (
  <pre class="text diff">
    {diffLines(sentencePerLine(a), sentencePerLine(b)).map((part) => (
      <span class={part.added ? 'add' : part.removed ? 'del' : ''}>{part.value}</span>
    ))}
  </pre>
)

export const CanaryEvidence: FC<{ d: CanaryPageData }> = ({ d }) => {
  const v = d.view
  const a = v.analysis
  const t0 = Math.min(...[...d.series.canary, ...d.series.baseline].map((p) => p.at))
  const minutes = (at: number) => `${((at - t0) / 60_000).toFixed(1)} min`
  return (
    <section
      id="evidence"
      hx-get={`/canaries/${encodeURIComponent(v.canaryId)}/evidence`}
      hx-trigger="every 3s"
      hx-swap="outerHTML"
    >
      <p class={`verdict ${a?.verdict ?? ''}`} data-state={v.state ?? ''}>
        <strong>{PLAIN[v.state ?? ''] ?? `State: ${v.state ?? v.workflowStatus}`}</strong>
        {v.reason ? <> {v.reason}</> : null}
      </p>
      {(v.alerts ?? []).length > 0 && (
        <ul class="bad">
          {(v.alerts ?? []).map((x) => (
            <li>{x}</li>
          ))}
        </ul>
      )}
      <p>
        Traffic on the candidate: <strong>{Math.round((v.weight ?? 0) * 100)} %</strong>
        {v.steps ? ` · ramp step ${(v.step ?? 0) + 1} of ${v.steps.length} (${ramp(v.steps)})` : ''}
        {a ? ` · analysed ${a.pairedSamples} paired requests, ${v.analyses} looks` : ''}
      </p>
      {a && (
        <table>
          <caption class="muted">Arms</caption>
          <thead>
            <tr>
              <th>arm</th>
              <th>model</th>
              <th class="num">requests</th>
              <th class="num">graded</th>
              <th class="num">errors</th>
              <th class="num">mean DQ</th>
              <th class="num">mean latency</th>
              <th class="num">mean cost</th>
            </tr>
          </thead>
          <tbody>
            {(['canary', 'baseline'] as const).map((arm) => (
              <tr>
                <td>{arm}</td>
                <td>{arm === 'canary' ? d.candidate.model : d.baseline.model}</td>
                <td class="num">{a[arm].requests}</td>
                <td class="num">{a[arm].graded}</td>
                <td class="num">{a[arm].errors}</td>
                <td class="num">{fmt(a[arm].meanScore)}</td>
                <td class="num">{a[arm].meanLatencyMs === null ? '—' : `${a[arm].meanLatencyMs.toFixed(0)} ms`}</td>
                <td class="num">{a[arm].meanCostUsd === null ? '—' : `$${a[arm].meanCostUsd.toFixed(5)}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="grid2">
        <div>
          <h2>Decision Quality per arm over time</h2>
          <LineChart
            title="Mean DQ of graded requests per arm"
            yDomain={[0, 1]}
            xFormat={minutes}
            series={[
              { name: 'canary', points: d.series.canary.map((p) => ({ x: p.at, y: p.dq })) },
              { name: 'baseline', points: d.series.baseline.map((p) => ({ x: p.at, y: p.dq })) },
            ]}
          />
        </div>
        <div>
          <h2>Effect: canary − baseline DQ</h2>
          {a ? (
            <>
              <IntervalChart
                title={`Always-valid ${Math.round(a.effect.level * 100)} % interval of the DQ difference`}
                estimate={a.effect.estimate}
                lower={a.effect.lower}
                upper={a.effect.upper}
                margin={d.margin}
              />
              <p class="muted">
                Estimate {fmt(a.effect.estimate)}, interval [{fmt(a.effect.lower)}, {fmt(a.effect.upper)}]: valid
                whenever it is looked at. Ready when it clears −{fmt(d.margin, 2)} (non-inferiority margin).
              </p>
              <BandChart
                title="The always-valid interval of the effect over time"
                points={d.band}
                margin={d.margin}
                xFormat={minutes}
              />
            </>
          ) : (
            <p class="empty">No analysis yet.</p>
          )}
        </div>
      </div>
      {a && (
        <>
          <h2>Evidence of harm, per metric</h2>
          <table>
            <thead>
              <tr>
                <th>metric</th>
                <th class="num">n</th>
                <th class="num">estimate</th>
                <th class="num">e-value</th>
                <th>against its threshold</th>
                <th>harmful?</th>
              </tr>
            </thead>
            <tbody>
              {a.metrics.map((m) => (
                <tr>
                  <td>{m.metric}</td>
                  <td class="num">{m.n}</td>
                  <td class="num">{fmt(m.estimate, 4)}</td>
                  <td class="num">
                    {fmt(m.harm.value, 2)} / {fmt(m.harm.threshold, 0)}
                  </td>
                  <td>
                    <EValueBar value={m.harm.value} threshold={m.harm.threshold} />
                  </td>
                  <td class={m.harmful ? 'bad' : 'good'}>{m.harmful ? 'yes' : 'no'}</td>
                </tr>
              ))}
              <tr>
                <td>readiness</td>
                <td class="num">{a.readiness.n}</td>
                <td class="num">—</td>
                <td class="num">
                  {fmt(a.readiness.value, 2)} / {fmt(a.readiness.threshold, 0)}
                </td>
                <td>
                  <EValueBar value={a.readiness.value} threshold={a.readiness.threshold} />
                </td>
                <td class={a.readiness.ready ? 'good' : 'muted'}>{a.readiness.ready ? 'ready' : 'not yet'}</td>
              </tr>
            </tbody>
          </table>
          <p>
            Sample ratio: {a.sampleRatio.treatmentUnits} of {a.sampleRatio.units} routing keys on the canary
            {a.sampleRatio.expectedShare === null
              ? ''
              : ` (expected ${Math.round(a.sampleRatio.expectedShare * 100)} %)`}
            {a.sampleRatio.mismatch ? ' — MISMATCH: routing is not doing what it should' : ' — as expected'}.
          </p>
          <ul>
            {a.reasons.map((r) => (
              <li>{r}</li>
            ))}
          </ul>
        </>
      )}
      {(v.approvalsRequired ?? 1) > 1 && (
        <p data-approvals={String(v.approvals?.length ?? 0)}>
          Four-eyes: {v.approvalsRequired} people must approve; {v.approvals?.length ?? 0} so far
          {(v.approvals ?? []).length > 0 ? ` (${(v.approvals ?? []).map((x) => x.approver).join(', ')})` : ''}.
        </p>
      )}
      {(v.decisions ?? []).length > 0 && (
        <>
          <h2>Decisions</h2>
          <ul>
            {(v.decisions ?? []).map((x) => (
              <li>
                {x.decision} by <strong>{x.approver}</strong>
                {x.role ? ` (${x.role})` : ''} at {fmtTime(x.at)}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  )
}

export const CanaryPage: FC<{ d: CanaryPageData; token: ApiTokenRow; csrf: string; flash?: string | null }> = ({
  d,
  token,
  csrf,
  flash,
}) => {
  const v = d.view
  const mayDecide = token.scopes.includes('approve') && token.person !== null
  const open = v.state === 'awaiting_approval' || v.state === 'holding' || v.state === 'running'
  return (
    <>
      <h1>
        Canary <code>{v.canaryId}</code>
      </h1>
      <p class="muted">
        Task <a href={`/tasks/${encodeURIComponent(d.taskId)}`}>{d.taskId}</a>
        {d.campaignId ? (
          <>
            {' '}
            · campaign <a href={`/campaigns/${encodeURIComponent(d.campaignId)}`}>{d.campaignId}</a>
          </>
        ) : null}{' '}
        · candidate v{d.candidate.version} against production v{d.baseline.version}
      </p>
      {flash && (
        <p class="flash" role="status">
          {flash}
        </p>
      )}
      <CanaryEvidence d={d} />
      <div class="grid2">
        <div class="card">
          <h2>Offline holdout</h2>
          {d.holdout ? (
            <p>
              Baseline DQ {fmt(d.holdout.baselineDQ)} → candidate {fmt(d.holdout.winnerDQ)} (Δ{' '}
              {d.holdout.winnerDQ !== null && d.holdout.baselineDQ !== null
                ? fmt(d.holdout.winnerDQ - d.holdout.baselineDQ)
                : '—'}
              {d.holdout.n !== null ? `, ${d.holdout.n} paired items` : ''}
              {d.holdout.pValue !== null ? `, p = ${d.holdout.pValue.toFixed(4)}` : ''}).
            </p>
          ) : (
            <p class="empty">Not started by a campaign: no holdout result.</p>
          )}
        </div>
        <div class="card">
          <h2>Grader</h2>
          <p class={d.trust.ok ? 'good' : 'bad'}>
            {d.trust.ok
              ? d.trust.via === 'override'
                ? 'Trusted by override'
                : 'Calibrated against people: trusted'
              : 'Not trusted'}
          </p>
          <p class="muted">
            {Object.entries(d.trust.kappa)
              .map(([k, x]) => `κ ${k} ${fmt(x, 2)}`)
              .join(' · ')}
            {d.trust.rho !== null ? ` · Spearman ρ ${fmt(d.trust.rho, 2)}` : ''}
          </p>
          <p class="muted">{d.trust.reason}</p>
        </div>
      </div>
      <h2>Against production</h2>
      <table>
        <tbody>
          <tr>
            <th>model</th>
            <td>
              {d.baseline.model} → {d.candidate.model}
            </td>
          </tr>
          <tr>
            <th>parameters</th>
            <td>
              {JSON.stringify(d.baseline.params)} → {JSON.stringify(d.candidate.params)}
            </td>
          </tr>
        </tbody>
      </table>
      <div class="grid2">
        <div>
          <h3>Instructions (production → candidate)</h3>
          <Diff a={d.baseline.system} b={d.candidate.system} />
        </div>
        <div>
          <h3>Template</h3>
          <Diff a={d.baseline.userTemplate} b={d.candidate.userTemplate} />
        </div>
      </div>
      <h2>Decide</h2>
      {!mayDecide ? (
        <p class="muted">
          Signed in with a token that may read, not decide: approving needs a token with the approve scope that names
          its person.
        </p>
      ) : !open ? (
        <p class="muted">This canary takes no decision now ({v.state ?? v.workflowStatus}).</p>
      ) : (
        <div class="grid2">
          <form class="decide" method="post" action={`/canaries/${encodeURIComponent(v.canaryId)}/approve`}>
            <CsrfField token={csrf} />
            <label for="approve-comment">Why approve (recorded)</label>
            <textarea id="approve-comment" name="comment" rows={2}></textarea>
            <button type="submit">Approve as {token.person}</button>
          </form>
          <form class="decide" method="post" action={`/canaries/${encodeURIComponent(v.canaryId)}/reject`}>
            <CsrfField token={csrf} />
            <label for="reject-comment">Why reject (recorded)</label>
            <textarea id="reject-comment" name="comment" rows={2} required></textarea>
            <button type="submit" class="reject">
              Reject as {token.person}
            </button>
          </form>
        </div>
      )}
    </>
  )
}
