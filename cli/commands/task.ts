/**
 * @module cli/commands/task
 * `kaizen task apply|list|show`: a team's own tasks, defined by task files (core/task-file.ts;
 * docs/your-own-prompt.md). `apply` creates or updates a task: a changed prompt becomes a new human
 * version, a draft unless `--promote`; applying an unchanged file changes nothing. Audited.
 */
import type { Command } from 'commander'
import { eq } from 'drizzle-orm'
import { activeGraderVersionId } from '../../db/queries/graders.js'
import { getLabels } from '../../db/queries/labels.js'
import { listPromptVersions, requireTask } from '../../db/queries/prompts.js'
import { promptVersions, tasks } from '../../db/schema.js'
import { withDeps } from '../../runtime/deps.js'
import { requireOption } from '../context.js'
import { applyReadTaskFile, readTaskFile } from '../task-file.js'
import { registerTaskImport } from './task-import.js'
import { printJson, say } from '../output.js'

export function registerTask(program: Command): void {
  const task = program.command('task').description('your own tasks, defined by task files (docs/your-own-prompt.md)')

  task
    .command('apply')
    .description('create or update a task from its task file (YAML or JSON); a changed prompt becomes a draft')
    .option('-f, --file <file>', 'the task file')
    .option('--promote', 'put a changed prompt in production at once (compare-and-swap)', false)
    .option('--actor <name>', 'who applies it (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { file?: string; promote: boolean; actor: string }) => {
      const file = requireOption(opts.file, '--file', 'give the task file, e.g. -f task.yaml (docs/your-own-prompt.md)')
      const read = await readTaskFile(file, '--file')
      const result = await withDeps((deps) =>
        applyReadTaskFile(deps, read, { actor: `user:${opts.actor}`, promote: opts.promote }),
      )
      for (const line of result.lines) say(line)
      printJson(result)
    })

  registerTaskImport(task)

  task
    .command('list')
    .description('every task: where it comes from, its production version and grader')
    .action(async () => {
      const rows = await withDeps(async (deps) => {
        const all = await deps.db.select().from(tasks).orderBy(tasks.id)
        return Promise.all(
          all.map(async (t) => {
            const production = (await getLabels(deps.db, t.id)).production
            const version = production
              ? await deps.db.query.promptVersions.findFirst({
                  where: eq(promptVersions.id, production.promptVersionId),
                })
              : null
            return {
              taskId: t.id,
              title: t.title,
              source: t.scenarioId ? `scenario ${t.scenarioId} (simulation)` : 'task file',
              production: version ? `${t.id}@${version.version}` : null,
              model: version?.model ?? null,
              grader: await activeGraderVersionId(deps.db, t.id),
            }
          }),
        )
      })
      for (const r of rows)
        say(`${r.taskId}  ${r.production ?? '(no production version)'}  ${r.model ?? ''}  — ${r.title} [${r.source}]`)
      if (rows.length === 0) say('No tasks yet: define one with `kaizen task apply -f task.yaml`.')
      printJson(rows)
    })

  task
    .command('show <task>')
    .description('one task: its definition, labels, versions and grader')
    .action(async (taskId: string) => {
      const shown = await withDeps(async (deps) => {
        const t = await requireTask(deps.db, taskId)
        const labels = await getLabels(deps.db, taskId)
        const versions = (await listPromptVersions(deps.db, taskId)).map((v) => ({
          id: v.id,
          version: v.version,
          origin: v.origin,
          model: v.model,
          createdBy: v.createdBy,
          createdAt: v.createdAt,
        }))
        return {
          taskId: t.id,
          title: t.title,
          description: t.description,
          inputs: t.inputFields,
          source: t.scenarioId ? { scenario: t.scenarioId, simulated: true } : { taskFile: true, simulated: false },
          production: labels.production?.promptVersionId ?? null,
          canary: labels.canary ? { versionId: labels.canary.promptVersionId, weight: labels.canary.weight } : null,
          grader: await activeGraderVersionId(deps.db, taskId),
          versions,
        }
      })
      const byId = new Map(shown.versions.map((v) => [v.id, v.version]))
      say(`${shown.taskId} — ${shown.title}`)
      say(`  inputs: ${shown.inputs.join(', ')}`)
      say(`  production: ${shown.production ? `${shown.taskId}@${byId.get(shown.production)}` : 'none'}`)
      if (shown.canary) say(`  canary: ${shown.taskId}@${byId.get(shown.canary.versionId)} at ${shown.canary.weight}`)
      say(`  grader: ${shown.grader ?? 'none'}`)
      say(`  versions: ${shown.versions.map((v) => `@${v.version} (${v.origin})`).join(', ')}`)
      printJson(shown)
    })
}
