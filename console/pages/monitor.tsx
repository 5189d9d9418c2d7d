/**
 * @module console/pages/monitor
 * A task's quality monitor: what it watches now (phase, the production version's rolling figures,
 * the detectors against their thresholds, the floors, the judge's spend, why a campaign was held
 * back) and its alerts, newest first, each acknowledged here by a person with the operate scope.
 * The alerts come from the database, so they show even when the monitor has ended or Temporal is
 * not reachable.
 */
import type { FC } from 'hono/jsx'
import type { MonitorView } from '../../client/monitor.js'
import type { MonitorAlertRow } from '../../db/queries/monitor.js'
import type { ApiTokenRow } from '../../db/queries/tokens.js'
import { CsrfField, fmt, fmtTime } from '../layout.js'

export interface MonitorPageData {
  taskId: string
  /** The live monitor, or why there is none to show (no monitor, no Temporal). */
  monitor: MonitorView | { unavailable: string }
  alerts: MonitorAlertRow[]
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(1)} %`)
const duration = (ms: number) =>
  ms < 60_000
    ? `${+(ms / 1000).toFixed(1)} s`
    : ms % 3_600_000 === 0
      ? `${ms / 3_600_000} h`
      : `${Math.round(ms / 60_000)} min`

const Status: FC<{ v: MonitorView }> = ({ v }) => {
  const s = v.status
  if (!s)
    return (
      <p>
        The monitor has ended ({v.workflowStatus.toLowerCase()}){v.failure ? `: ${v.failure.message}` : ''}. Start it
        again with <code>kaizen monitor start --task {v.taskId}</code>.
      </p>
    )
  const detectors = Object.entries(s.detectors).filter(
    (e): e is [string, { statistic: number; threshold: number }] => e[1] !== null && e[1] !== undefined,
  )
  return (
    <>
      <p data-phase={s.phase}>
        <strong>{s.phase}</strong> ({v.workflowStatus.toLowerCase()}) · {s.checks} checks, the last{' '}
        {fmtTime(s.lastCheckAt)} · reference since {fmtTime(s.referenceFrom)}
        {v.config && <> · a check every {duration(v.config.checkEveryMs)}</>}
      </p>
      {s.window && (
        <table aria-label="Production, rolling window">
          <caption>
            Production ({s.window.versionId}) over the last {duration(s.window.windowMs)}
          </caption>
          <thead>
            <tr>
              <th class="num">requests</th>
              <th class="num">graded</th>
              <th class="num">mean DQ</th>
              <th class="num">error rate</th>
              <th class="num">p95 latency</th>
              <th class="num">mean cost</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td class="num">{s.window.requests}</td>
              <td class="num">{s.window.graded}</td>
              <td class="num">{fmt(s.window.dqMean)}</td>
              <td class="num">{pct(s.window.errorRate)}</td>
              <td class="num">{s.window.p95LatencyMs === null ? '—' : `${Math.round(s.window.p95LatencyMs)} ms`}</td>
              <td class="num">{s.window.meanCostUsd === null ? '—' : `$${s.window.meanCostUsd.toFixed(6)}`}</td>
            </tr>
          </tbody>
        </table>
      )}
      <div class="grid2">
        {detectors.length === 0 ? (
          <p class="muted">Learning the reference: no change is tested yet.</p>
        ) : (
          <table aria-label="Change detectors">
            <caption>Change detectors (an alarm when the statistic reaches its threshold)</caption>
            <thead>
              <tr>
                <th>metric</th>
                <th class="num">statistic</th>
                <th class="num">threshold</th>
              </tr>
            </thead>
            <tbody>
              {detectors.map(([metric, d]) => (
                <tr>
                  <td>{metric}</td>
                  <td class="num">{fmt(d.statistic, 2)}</td>
                  <td class="num">{fmt(d.threshold, 2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <table aria-label="Floors">
          <caption>Floors, at the last check</caption>
          <thead>
            <tr>
              <th>floor</th>
              <th>status</th>
              <th class="num">value</th>
              <th class="num">limit</th>
            </tr>
          </thead>
          <tbody>
            {s.floors.map((f) => (
              <tr data-status={f.status}>
                <td>{f.floor}</td>
                <td>{f.status}</td>
                <td class="num">{fmt(f.value)}</td>
                <td class="num">{fmt(f.limit)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {s.judge && (
        <p>
          Judge today: ${s.judge.spentTodayUsd.toFixed(4)} of ${s.judge.budgetUsd.toFixed(2)}
          {s.judge.exhausted && <strong> — budget spent: grading has stopped until tomorrow (UTC)</strong>}
        </p>
      )}
      {s.heldBack && <p class="muted">No campaign started for the last degradation: {s.heldBack}</p>}
      {s.findings.length > 0 && (
        <ul aria-label="Last check's findings">
          {s.findings.map((f) => (
            <li>
              {f.kind} · {f.metric}: {f.summary}
            </li>
          ))}
        </ul>
      )}
    </>
  )
}

export const MonitorPage: FC<{ d: MonitorPageData; token: ApiTokenRow; csrf: string; flash?: string | null }> = ({
  d,
  token,
  csrf,
  flash,
}) => {
  const mayAck = token.scopes.includes('operate') && token.person !== null && token.person !== ''
  const open = d.alerts.filter((a) => a.acknowledgedAt === null).length
  return (
    <>
      <h1>Quality monitor of {d.taskId}</h1>
      <p class="muted">
        <a href={`/tasks/${encodeURIComponent(d.taskId)}`}>{d.taskId}</a> · settings, pause and stop:{' '}
        <code>kaizen monitor config|pause|resume|stop --task {d.taskId}</code> (docs/monitor.md)
      </p>
      {flash && (
        <p class="flash" role="status">
          {flash}
        </p>
      )}
      {'unavailable' in d.monitor ? <p>{d.monitor.unavailable}</p> : <Status v={d.monitor} />}
      <h2>
        Alerts ({open} open of {d.alerts.length})
      </h2>
      {!mayAck && (
        <p class="muted">
          Signed in with a token that may read, not act: acknowledging needs the operate scope and a named person.
        </p>
      )}
      {d.alerts.length === 0 ? (
        <p class="empty">No alerts.</p>
      ) : (
        <table aria-label="Alerts">
          <thead>
            <tr>
              <th>raised</th>
              <th>kind</th>
              <th>what</th>
              <th>campaign</th>
              <th>acknowledged</th>
            </tr>
          </thead>
          <tbody>
            {d.alerts.map((a) => (
              <tr data-alert={a.id} data-open={a.acknowledgedAt === null ? 'yes' : 'no'}>
                <td>
                  {fmtTime(a.raisedAt)}
                  {a.lastSeenAt.getTime() !== a.raisedAt.getTime() && (
                    <div class="muted">last seen {fmtTime(a.lastSeenAt)}</div>
                  )}
                </td>
                <td>
                  {a.kind} · {a.metric}
                </td>
                <td>{a.summary}</td>
                <td>
                  {a.campaignId ? <a href={`/campaigns/${encodeURIComponent(a.campaignId)}`}>{a.campaignId}</a> : '—'}
                </td>
                <td>
                  {a.acknowledgedAt ? (
                    <>
                      {a.acknowledgedBy} · {fmtTime(a.acknowledgedAt)}
                    </>
                  ) : mayAck ? (
                    <form
                      method="post"
                      action={`/tasks/${encodeURIComponent(d.taskId)}/monitor/alerts/${encodeURIComponent(a.id)}/ack`}
                    >
                      <CsrfField token={csrf} />
                      <label for={`ack-${a.id}`}>Comment (recorded)</label>{' '}
                      <input id={`ack-${a.id}`} type="text" name="comment" maxlength={2000} />{' '}
                      <button type="submit">Acknowledge as {token.person}</button>
                    </form>
                  ) : (
                    'open'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  )
}
