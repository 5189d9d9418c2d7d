/**
 * @module console/pages/tasks
 * Every task the token may see: production version and model, the live canary, the last campaign,
 * and the daily DQ and cost of its graded traffic over two weeks.
 */
import type { FC } from 'hono/jsx'
import type { TaskOverview } from '../../db/queries/console.js'
import { LineChart } from '../charts.js'
import { fmt, fmtTime } from '../layout.js'

export const TasksPage: FC<{ tasks: TaskOverview[] }> = ({ tasks }) => (
  <>
    <h1>Tasks</h1>
    {tasks.length === 0 && <p class="empty">No tasks yet: `kaizen task apply -f task.yaml` defines one.</p>}
    <table>
      <thead>
        <tr>
          <th>task</th>
          <th>production</th>
          <th>canary</th>
          <th>last campaign</th>
          <th class="num">DQ (last day)</th>
        </tr>
      </thead>
      <tbody>
        {tasks.map((t) => (
          <tr>
            <td>
              <a href={`/tasks/${encodeURIComponent(t.id)}`}>{t.id}</a>
              <div class="muted">{t.title}</div>
            </td>
            <td>{t.productionVersion === null ? '—' : `v${t.productionVersion} · ${t.productionModel}`}</td>
            <td>
              {t.canary ? (
                <a href={`/canaries/${encodeURIComponent(t.canary.id)}`}>
                  {t.canary.state} at {Math.round(t.canary.weight * 100)} %
                </a>
              ) : (
                '—'
              )}
            </td>
            <td>
              {t.lastCampaign ? (
                <a href={`/campaigns/${encodeURIComponent(t.lastCampaign.id)}`}>
                  {t.lastCampaign.decision ?? t.lastCampaign.status} · {fmtTime(t.lastCampaign.createdAt)}
                </a>
              ) : (
                '—'
              )}
            </td>
            <td class="num">{fmt(t.trend.at(-1)?.dq ?? null)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  </>
)

export const TaskPage: FC<{ task: TaskOverview }> = ({ task: t }) => {
  const day = (x: number) => new Date(x).toISOString().slice(5, 10)
  const points = (pick: (r: TaskOverview['trend'][number]) => number | null) =>
    t.trend.flatMap((r) => {
      const y = pick(r)
      return y === null ? [] : [{ x: Date.parse(r.day), y }]
    })
  return (
    <>
      <h1>{t.id}</h1>
      <p class="muted">
        {t.title} · <a href={`/tasks/${encodeURIComponent(t.id)}/prompts`}>prompt versions, diffs and label history</a>
        {' · '}
        <a href={`/tasks/${encodeURIComponent(t.id)}/monitor`}>quality monitor and alerts</a>
        {t.lastCampaign && (
          <>
            {' '}
            · last campaign <a href={`/campaigns/${encodeURIComponent(t.lastCampaign.id)}`}>{t.lastCampaign.id}</a>
          </>
        )}
      </p>
      <p>
        Production: {t.productionVersion === null ? 'none' : `v${t.productionVersion} (${t.productionModel})`}
        {t.canary && (
          <>
            {' '}
            · canary <a href={`/canaries/${encodeURIComponent(t.canary.id)}`}>{t.canary.id}</a> ({t.canary.state})
          </>
        )}
      </p>
      <div class="grid2">
        <LineChart
          title="Mean DQ of graded traffic per day"
          yDomain={[0, 1]}
          xFormat={day}
          series={[{ name: 'DQ', points: points((r) => r.dq) }]}
        />
        <LineChart
          title="Mean cost per request per day (USD)"
          xFormat={day}
          series={[{ name: 'cost', points: points((r) => r.costUsd) }]}
        />
      </div>
    </>
  )
}
