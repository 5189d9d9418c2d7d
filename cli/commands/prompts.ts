/**
 * @module cli/commands/prompts
 * `kaizen prompts list|show|diff`: the immutable prompt versions of a task and their lineage;
 * `push|promote|rollback` (prompt-moves.ts) add a version and move production by hand.
 */
import type { Command } from 'commander'
import { diffLines } from 'diff'
import { sentencePerLine } from '../../core/prompt.js'
import { loadEnv } from '../../runtime/env.js'
import { openDatabase } from '../../db/client.js'
import { getLabels } from '../../db/queries/labels.js'
import { findPromptVersion, listPromptVersions, requireTask, type PromptVersionRow } from '../../db/queries/prompts.js'
import { tasks } from '../../db/schema.js'
import { printJson, say } from '../output.js'
import { registerPromptMoves } from './prompt-moves.js'

async function withDb<T>(fn: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
  const env = loadEnv()
  const database = await openDatabase({ url: env.DATABASE_URL, dataDir: env.KAIZEN_DATA_DIR })
  try {
    return await fn(database.db)
  } finally {
    await database.close()
  }
}

function view(v: PromptVersionRow, labels: string[]) {
  return {
    id: v.id,
    task: v.taskId,
    version: v.version,
    labels,
    origin: v.origin,
    operator: v.operator,
    campaignId: v.campaignId,
    parents: v.parentIds,
    model: v.model,
    params: v.params,
    contentHash: v.contentHash,
    createdBy: v.createdBy,
    createdAt: v.createdAt.toISOString(),
    system: v.system,
    user: v.userTemplate,
  }
}

export function registerPrompts(program: Command): void {
  const prompts = program.command('prompts').description('prompt versions')

  prompts
    .command('list')
    .description('versions of a task (or all tasks), newest first')
    .option('--task <task>', 'only this task')
    .option('--json', 'print as JSON')
    .action(async (opts: { task?: string; json?: boolean }) => {
      await withDb(async (db) => {
        const taskIds = opts.task
          ? [(await requireTask(db, opts.task)).id]
          : (await db.select({ id: tasks.id }).from(tasks)).map((t) => t.id)
        const out = []
        for (const taskId of taskIds) {
          const labels = await getLabels(db, taskId)
          for (const v of await listPromptVersions(db, taskId)) {
            const l = [
              labels.production?.promptVersionId === v.id ? 'production' : null,
              labels.canary?.promptVersionId === v.id
                ? `canary ${Math.round((labels.canary?.weight ?? 0) * 100)}%`
                : null,
            ].filter((x): x is string => x !== null)
            out.push({ ...view(v, l) })
          }
        }
        if (opts.json) return printJson(out.map(({ system: _s, user: _u, ...rest }) => rest))
        if (out.length === 0) return say('No prompt versions yet. `kaizen up` registers the scenario tasks.')
        for (const v of out)
          say(
            `${v.task}@${v.version}  ${v.id}  ${v.origin}${v.operator ? `/${v.operator}` : ''}  ` +
              `${v.labels.join(', ')}  ${v.createdAt}`,
          )
      })
    })

  prompts
    .command('show <version>')
    .description('one version: <task>@<n>, or its id (pv_…)')
    .option('--task <task>', 'task, when the version is a bare number')
    .option('--json', 'print as JSON')
    .action(async (ref: string, opts: { task?: string; json?: boolean }) => {
      await withDb(async (db) => {
        const v = await findPromptVersion(db, ref, opts.task)
        const labels = await getLabels(db, v.taskId)
        const l = [
          labels.production?.promptVersionId === v.id ? 'production' : null,
          labels.canary?.promptVersionId === v.id ? 'canary' : null,
        ].filter((x): x is string => x !== null)
        const out = view(v, l)
        if (opts.json) return printJson(out)
        say(`${v.taskId}@${v.version} (${v.id}) ${l.length ? `[${l.join(', ')}]` : ''}`)
        say(
          `  origin ` +
            `${v.origin}${v.operator ? ` (${v.operator})` : ''}${v.campaignId ? ` in ${v.campaignId}` : ''}; ` +
            `parents ${v.parentIds.join(', ') || 'none'}; model ${v.model}; created by ${v.createdBy} at ` +
            `${out.createdAt}`,
        )
        say('  system:')
        for (const line of sentencePerLine(v.system).trim().split('\n')) say(`    ${line}`)
        say('  user template:')
        for (const line of v.userTemplate.split('\n')) say(`    ${line}`)
      })
    })

  prompts
    .command('diff <a> <b>')
    .description('what changed between two versions (sentence by sentence)')
    .option('--task <task>', 'task, when versions are bare numbers')
    .option('--json', 'print as JSON')
    .action(async (a: string, b: string, opts: { task?: string; json?: boolean }) => {
      await withDb(async (db) => {
        const va = await findPromptVersion(db, a, opts.task)
        const vb = await findPromptVersion(db, b, opts.task)
        const parts = {
          system: diffLines(sentencePerLine(va.system), sentencePerLine(vb.system)),
          user: diffLines(`${va.userTemplate}\n`, `${vb.userTemplate}\n`),
        }
        if (opts.json) {
          return printJson({
            from: va.id,
            to: vb.id,
            model: va.model === vb.model ? null : { from: va.model, to: vb.model },
            system: parts.system
              .filter((p) => p.added || p.removed)
              .map((p) => ({ change: p.added ? 'added' : 'removed', text: p.value.trim() })),
            user: parts.user
              .filter((p) => p.added || p.removed)
              .map((p) => ({ change: p.added ? 'added' : 'removed', text: p.value.trim() })),
          })
        }
        say(`--- ${va.taskId}@${va.version} (${va.id})`)
        say(`+++ ${vb.taskId}@${vb.version} (${vb.id})`)
        if (va.model !== vb.model) say(`model: ${va.model} → ${vb.model}`)
        for (const [name, changes] of Object.entries(parts)) {
          if (!changes.some((c) => c.added || c.removed)) continue
          say(`${name}:`)
          for (const c of changes)
            for (const line of c.value.replace(/\n$/, '').split('\n'))
              say(`${c.added ? '+' : c.removed ? '-' : ' '} ${line}`)
        }
      })
    })

  registerPromptMoves(prompts)
}
