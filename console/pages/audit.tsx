/**
 * @module console/pages/audit
 * The append-only audit log, filtered by task, actor, kind (an action or a prefix such as
 * `canary.`) and time.
 */
import type { FC } from 'hono/jsx'
import type { listAudit } from '../../db/queries/audit.js'
import { fmtTime } from '../layout.js'

type AuditRow = Awaited<ReturnType<typeof listAudit>>[number]

export const AuditPage: FC<{
  events: AuditRow[]
  filter: {
    task?: string | undefined
    actor?: string | undefined
    action?: string | undefined
    since?: string | undefined
  }
}> = ({ events, filter }) => (
  <>
    <h1>Audit log</h1>
    <form method="get" action="/audit" class="filters">
      <label for="f-task">Task</label> <input id="f-task" type="text" name="task" value={filter.task ?? ''} />
      <label for="f-actor">Actor</label> <input id="f-actor" type="text" name="actor" value={filter.actor ?? ''} />
      <label for="f-action">Kind (e.g. canary.)</label>{' '}
      <input id="f-action" type="text" name="action" value={filter.action ?? ''} />
      <label for="f-since">Since (ISO time)</label>{' '}
      <input id="f-since" type="text" name="since" value={filter.since ?? ''} />
      <button type="submit">Filter</button>
    </form>
    <table>
      <thead>
        <tr>
          <th>when</th>
          <th>who</th>
          <th>what</th>
          <th>task</th>
          <th>subject</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr data-action={e.action}>
            <td>{fmtTime(e.at)}</td>
            <td>{e.actor}</td>
            <td>{e.action}</td>
            <td>{e.taskId ?? '—'}</td>
            <td>
              {e.subjectType} {e.subjectId}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    {events.length === 0 && <p class="empty">No events match.</p>}
  </>
)
