/**
 * @module console/pages/campaign
 * A campaign: live progress (stage, round, rollouts and dollars against their budgets, best score
 * over rounds), the candidates on a quality × prompt-size plot, the holdout result with its paired
 * test, the golden and safety checks, and the decision with its reason; for a search over models,
 * the holdout front (quality, cost, latency per pair with each finalist's verdict) and a migration's
 * drop. While it runs, the page refreshes its progress by itself.
 */
import type { FC } from 'hono/jsx'
import { describeDrop, describeVerdict, formatUsd } from '../../core/agility.js'
import type { CampaignView } from '../../client/operations.js'
import type { CandidatePoint } from '../../db/queries/console.js'
import { LineChart, ScatterChart } from '../charts.js'
import { fmt } from '../layout.js'

export interface CampaignPageData {
  view: CampaignView
  candidates: CandidatePoint[]
  spentUsd: number
  budgetUsd: number | null
  /** From the campaign's settings (an ended campaign's status is gone). */
  rolloutBudget: number | null
}

/** Best validation score among candidates kept by the end of each round. */
function bestByRound(candidates: CandidatePoint[]): Array<{ x: number; y: number }> {
  const rounds = [...new Set(candidates.map((c) => c.round))].sort((a, b) => a - b)
  let best = -Infinity
  return rounds.flatMap((r) => {
    for (const c of candidates)
      if (c.round === r && c.status !== 'rejected' && c.validationMean !== null) best = Math.max(best, c.validationMean)
    return Number.isFinite(best) ? [{ x: r, y: best }] : []
  })
}

export const CampaignProgress: FC<{ d: CampaignPageData }> = ({ d }) => {
  const v = d.view
  // Ended without a winner, the status (and its best) is gone: the best candidate scored, then.
  const best = v.bestValidationDQ ?? v.result?.winnerValidationDQ ?? bestByRound(d.candidates).at(-1)?.y ?? null
  const running = v.workflowStatus === 'RUNNING'
  return (
    <section
      id="progress"
      {...(running
        ? {
            'hx-get': `/campaigns/${encodeURIComponent(v.campaignId)}/progress`,
            'hx-trigger': 'every 3s',
            'hx-swap': 'outerHTML',
          }
        : {})}
    >
      <p class="verdict" data-stage={v.stage ?? ''}>
        <strong>{running ? `Running: ${v.stage ?? 'starting'}` : `Ended (${v.workflowStatus.toLowerCase()})`}</strong>
        {v.decision ? ` · decision: ${v.decision}` : ''}
        {v.reason ? <> — {v.reason}</> : null}
      </p>
      {v.failure && <p class="bad">Failed: {v.failure.message}</p>}
      <table>
        <tbody>
          <tr>
            <th>round</th>
            <td>
              {v.rounds
                ? `${Math.min((v.round ?? 0) + (running ? 1 : 0), v.rounds)} of ${v.rounds}`
                : v.result
                  ? `${v.result.rounds} rounds, ${v.result.proposals} proposals`
                  : '—'}
            </td>
          </tr>
          <tr>
            <th>rollouts</th>
            <td>
              {v.rolloutsUsed ?? v.result?.rolloutsUsed ?? '—'} of {v.rolloutBudget ?? d.rolloutBudget ?? '—'}
            </td>
          </tr>
          <tr>
            <th>spent</th>
            <td>
              ${d.spentUsd.toFixed(4)}
              {d.budgetUsd !== null ? ` of $${d.budgetUsd.toFixed(2)}` : ' (no USD budget)'}
            </td>
          </tr>
          <tr>
            <th>best validation DQ</th>
            <td>
              {`${fmt(best)} (production ${fmt(v.baselineValidationDQ ?? v.result?.baselineValidationDQ ?? null)})`}
            </td>
          </tr>
        </tbody>
      </table>
      <div class="grid2">
        <LineChart
          title="Best validation DQ by round"
          yDomain={[0, 1]}
          xFormat={(x) => `round ${x}`}
          series={[{ name: 'best so far', points: bestByRound(d.candidates) }]}
        />
        <ScatterChart
          title="Candidates: validation DQ against prompt size"
          xLabel="prompt size (tokens: the input every request pays for)"
          yLabel="DQ"
          series={(['accepted', 'rejected', 'seed'] as const).map((status) => ({
            name: status,
            points: d.candidates
              .filter((c) => c.status === status && c.validationMean !== null)
              .map((c) => ({
                x: c.promptTokens,
                y: c.validationMean as number,
                label: `v${c.version} · ${c.operator} · round ${c.round} · DQ ${fmt(c.validationMean)}`,
              })),
          }))}
        />
      </div>
    </section>
  )
}

/** The paired test in one sentence. */
function holdoutLine(r: NonNullable<CampaignView['result']>): string {
  const h = r.holdout
  if (!h) return ''
  return (
    `Production DQ ${fmt(r.baselineHoldoutDQ)} → winner ${fmt(r.winnerHoldoutDQ)} on ${h.n} paired items: ` +
    `Δ ${fmt(h.meanDelta)}, lower bound ${fmt(h.lowerBound)}, p = ${h.pValue.toFixed(4)} (α ${h.alpha})`
  )
}

type Agility = NonNullable<NonNullable<CampaignView['result']>['agility']>

/** A search over models: the objective, every pair on the holdout with its verdict, a migration's drop. */
const ModelsSection: FC<{ a: Agility }> = ({ a }) => (
  <>
    <h2>Models: the pairs on the holdout</h2>
    <p>
      Objective <strong>{a.objective.kind}</strong>
      {a.objective.kind === 'migrate' ? ` to ${a.objective.toModel}` : ''} (margin {a.objective.margin}
      {a.objective.maxCostPer1k !== undefined ? `, at most ${formatUsd(a.objective.maxCostPer1k)} per 1,000` : ''}
      {a.objective.maxLatencyMs !== undefined ? `, at most ${a.objective.maxLatencyMs} ms` : ''}).
    </p>
    <table aria-label="The holdout front">
      <thead>
        <tr>
          <th>pair</th>
          <th>model</th>
          <th>quality (95 % interval)</th>
          <th>per 1,000 requests</th>
          <th>latency</th>
          <th>on the front</th>
          <th>verdict</th>
        </tr>
      </thead>
      <tbody>
        {a.front.map((p) => {
          const v = a.verdicts.find((x) => x.id === p.id)
          return (
            <tr data-pair={p.id}>
              <td>
                <code>{p.id}</code>
              </td>
              <td>{p.model}</td>
              <td>
                {fmt(p.quality)} ({fmt(p.qualityInterval[0])}–{fmt(p.qualityInterval[1])})
              </td>
              <td>{formatUsd(p.costPer1k)}</td>
              <td>{Math.round(p.latencyMs)} ms</td>
              <td>{p.onFront ? 'yes' : 'no'}</td>
              <td class={v ? (v.reasons.length === 0 ? 'good' : 'bad') : ''}>
                {v ? describeVerdict(v, a.ship) : 'production'}
              </td>
            </tr>
          )
        })}
      </tbody>
    </table>
    {a.drop && <p data-drop>{describeDrop(a.drop)}.</p>}
    <p>By the objective: {a.reason}.</p>
  </>
)

export const CampaignPage: FC<{ d: CampaignPageData }> = ({ d }) => {
  const r = d.view.result
  return (
    <>
      <h1>
        Campaign <code>{d.view.campaignId}</code>
      </h1>
      <p class="muted">
        Task {d.view.taskId ? <a href={`/tasks/${encodeURIComponent(d.view.taskId)}`}>{d.view.taskId}</a> : '—'}
        {d.view.canaryId || r?.canary ? (
          <>
            {' '}
            · canary{' '}
            <a href={`/canaries/${encodeURIComponent(r?.canary?.workflowId ?? d.view.canaryId ?? '')}`}>
              {r?.canary?.workflowId ?? d.view.canaryId}
            </a>
          </>
        ) : null}
      </p>
      <CampaignProgress d={d} />
      {r?.agility && <ModelsSection a={r.agility} />}
      {/* Over models, a pair that did not qualify was not compared as a winner: the section above says why. */}
      {r && !(r.agility && !r.holdout) && (
        <>
          <h2>Holdout: the winner against production</h2>
          {r.holdout ? (
            <p>
              {holdoutLine(r)}{' '}
              <strong class={r.holdout.significant ? 'good' : 'bad'}>
                {r.holdout.significant ? 'significantly better' : 'not significantly better'}
              </strong>
              {r.holdout.costRatio ? ` · ${r.holdout.costRatio.toFixed(2)}× production's cost per request` : ''}.
            </p>
          ) : (
            <p class="empty">The campaign ended before the holdout comparison.</p>
          )}
          <div class="grid2">
            <div class="card">
              <h3>Golden set</h3>
              {r.golden ? (
                <p>
                  {r.golden.winnerPassed} of {r.golden.n} pass with the winner ({r.golden.baselinePassed} with
                  production); broken: {r.golden.broken.length > 0 ? r.golden.broken.join(', ') : 'none'}.
                </p>
              ) : (
                <p class="empty">The task has no golden cases.</p>
              )}
            </div>
            <div class="card">
              <h3>Safety checks</h3>
              {r.safety ? (
                <ul>
                  {Object.keys({ ...r.safety.baseline, ...r.safety.winner }).map((k) => (
                    <li>
                      {k}: production {r.safety?.baseline[k] ?? 0}, winner {r.safety?.winner[k] ?? 0} of {r.safety?.n}
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="empty">No safety comparison.</p>
              )}
            </div>
          </div>
        </>
      )}
    </>
  )
}
