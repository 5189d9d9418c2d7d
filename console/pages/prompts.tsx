/**
 * @module console/pages/prompts
 * A task's prompt versions: the lineage tree (each version under the ones it was made from), the
 * label history (every move of production and canary, who and why), and a side-by-side diff of any
 * two versions — instructions, template, model, parameters and demonstrations.
 */
import { diffLines } from 'diff'
import { sentencePerLine } from '../../core/prompt.js'
import type { FC } from 'hono/jsx'
import type { listPromptVersions } from '../../db/queries/prompts.js'
import type { labelHistory } from '../../db/schema.js'
import { fmtTime } from '../layout.js'

type Version = Awaited<ReturnType<typeof listPromptVersions>>[number]
type LabelMove = typeof labelHistory.$inferSelect

/** Two texts side by side: what was removed on the left, what was added on the right. */
const SideBySide: FC<{ a: string; b: string }> = ({ a, b }) => {
  const parts = diffLines(sentencePerLine(a), sentencePerLine(b))
  return (
    <div class="grid2">
      <pre class="text diff" aria-label="before">
        {parts
          .filter((p) => !p.added)
          .map((p) => (
            <span class={p.removed ? 'del' : ''}>{p.value}</span>
          ))}
      </pre>
      <pre class="text diff" aria-label="after">
        {parts
          .filter((p) => !p.removed)
          .map((p) => (
            <span class={p.added ? 'add' : ''}>{p.value}</span>
          ))}
      </pre>
    </div>
  )
}

const demos = (v: Version) => (v.examples ?? []).map((d, i) => `#${i + 1} ${JSON.stringify(d)}`).join('\n') || '(none)'

/** The lineage as nested lists: roots are versions with no parent among this task's versions. */
const Lineage: FC<{ versions: Version[]; labels: Map<string, string[]> }> = ({ versions, labels }) => {
  const ids = new Set(versions.map((v) => v.id))
  const children = new Map<string, Version[]>()
  for (const v of versions)
    for (const p of v.parentIds.filter((x) => ids.has(x))) children.set(p, [...(children.get(p) ?? []), v])
  const roots = versions.filter((v) => !v.parentIds.some((p) => ids.has(p)))
  const seen = new Set<string>()
  const Node: FC<{ v: Version }> = ({ v }) => {
    if (seen.has(v.id)) return <li>v{v.version} (see above)</li>
    seen.add(v.id)
    const kids = (children.get(v.id) ?? []).sort((a, b) => a.version - b.version)
    return (
      <li>
        <strong>v{v.version}</strong> {v.origin}
        {v.operator ? ` · ${v.operator}` : ''}
        {v.campaignId ? ` · ${v.campaignId}` : ''}
        {(labels.get(v.id) ?? []).map((l) => (
          <span class="badge">{l}</span>
        ))}
        {kids.length > 0 && (
          <ul>
            {kids.map((k) => (
              <Node v={k} />
            ))}
          </ul>
        )}
      </li>
    )
  }
  return (
    <ul class="lineage">
      {roots
        .sort((a, b) => a.version - b.version)
        .map((v) => (
          <Node v={v} />
        ))}
    </ul>
  )
}

export const PromptsPage: FC<{
  taskId: string
  versions: Version[]
  labels: Map<string, string[]>
  history: LabelMove[]
  a: Version | null
  b: Version | null
}> = ({ taskId, versions, labels, history, a, b }) => {
  const byId = new Map(versions.map((v) => [v.id, v.version]))
  const name = (id: string | null) => (id ? `v${byId.get(id) ?? '?'}` : '—')
  return (
    <>
      <h1>Prompt versions of {taskId}</h1>
      <form method="get" action={`/tasks/${encodeURIComponent(taskId)}/prompts`} class="filters">
        <label for="diff-a">Compare</label>{' '}
        <select id="diff-a" name="a">
          {versions.map((v) => (
            <option value={String(v.version)} selected={a?.id === v.id}>
              v{v.version}
            </option>
          ))}
        </select>{' '}
        <label for="diff-b">with</label>{' '}
        <select id="diff-b" name="b">
          {versions.map((v) => (
            <option value={String(v.version)} selected={b?.id === v.id}>
              v{v.version}
            </option>
          ))}
        </select>{' '}
        <button type="submit">Diff</button>
      </form>
      {a && b && (
        <section aria-label="diff">
          <h2>
            v{a.version} → v{b.version}
          </h2>
          <table>
            <tbody>
              <tr>
                <th>model</th>
                <td>
                  {a.model} → {b.model}
                </td>
              </tr>
              <tr>
                <th>parameters</th>
                <td>
                  {JSON.stringify(a.params)} → {JSON.stringify(b.params)}
                </td>
              </tr>
            </tbody>
          </table>
          <h3>Instructions</h3>
          <SideBySide a={a.system} b={b.system} />
          <h3>Template</h3>
          <SideBySide a={a.userTemplate} b={b.userTemplate} />
          <h3>Demonstrations</h3>
          <SideBySide a={demos(a)} b={demos(b)} />
        </section>
      )}
      <div class="grid2">
        <div>
          <h2>Lineage</h2>
          <Lineage versions={versions} labels={labels} />
        </div>
        <div>
          <h2>Label history</h2>
          <table>
            <thead>
              <tr>
                <th>when</th>
                <th>label</th>
                <th>move</th>
                <th>who</th>
                <th>why</th>
              </tr>
            </thead>
            <tbody>
              {history.map((m) => (
                <tr>
                  <td>{fmtTime(m.at)}</td>
                  <td>{m.label}</td>
                  <td>
                    {name(m.fromVersionId)} → {name(m.toVersionId)}
                    {m.weight !== null && m.label === 'canary' ? ` (${Math.round(m.weight * 100)} %)` : ''}
                  </td>
                  <td>{m.actor}</td>
                  <td>{m.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </>
  )
}
