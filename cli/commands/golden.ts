/**
 * @module cli/commands/golden
 * `kaizen golden add|remove|list`: a task's golden set, the curated cases no shipped prompt may
 * break (checked at every campaign's ship decision, kept out of its search). Changes are audited.
 */
import type { Command } from 'commander'
import { addGolden, listGolden, removeGolden } from '../../db/queries/golden.js'
import { requireTask } from '../../db/queries/prompts.js'
import { withDeps } from '../../runtime/deps.js'
import { requireOption } from '../context.js'
import { printJson, say } from '../output.js'

const idsOf = (value: string | undefined): string[] =>
  requireOption(value, '--traffic', 'name traffic records, comma-separated, e.g. --traffic tr_1,tr_2')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

export function registerGolden(program: Command): void {
  const golden = program.command('golden').description('a task’s golden set: cases no shipped prompt may break')

  golden
    .command('add')
    .description('add traffic records (with a known outcome) to the task’s golden set')
    .option('--task <task>', 'the task')
    .option('--traffic <ids>', 'traffic record ids, comma-separated')
    .option('--note <text>', 'why these cases matter (recorded)')
    .option('--actor <name>', 'who adds them (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { task?: string; traffic?: string; note?: string; actor: string }) => {
      const task = requireOption(opts.task, '--task', 'name the task, e.g. --task incident-triage')
      const ids = idsOf(opts.traffic)
      const added = await withDeps(async (deps) => {
        await requireTask(deps.db, task)
        return addGolden(deps.db, {
          taskId: task,
          trafficIds: ids,
          actor: `user:${opts.actor}`,
          note: opts.note ?? null,
        })
      })
      say(
        `Added ${added.length} case(s) to the golden set of ` +
          `"${task}"${added.length < ids.length ? ` (${ids.length - added.length} already there)` : ''}.`,
      )
      printJson({ task, added })
    })

  golden
    .command('remove')
    .description('remove cases from the task’s golden set')
    .option('--task <task>', 'the task')
    .option('--traffic <ids>', 'traffic record ids, comma-separated')
    .option('--note <text>', 'why (recorded)')
    .option('--actor <name>', 'who removes them (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { task?: string; traffic?: string; note?: string; actor: string }) => {
      const task = requireOption(opts.task, '--task', 'name the task, e.g. --task incident-triage')
      const ids = idsOf(opts.traffic)
      const removed = await withDeps(async (deps) => {
        await requireTask(deps.db, task)
        return removeGolden(deps.db, {
          taskId: task,
          trafficIds: ids,
          actor: `user:${opts.actor}`,
          note: opts.note ?? null,
        })
      })
      say(`Removed ${removed.length} case(s) from the golden set of "${task}".`)
      printJson({ task, removed })
    })

  golden
    .command('list')
    .description('list the task’s golden set')
    .option('--task <task>', 'the task')
    .action(async (opts: { task?: string }) => {
      const task = requireOption(opts.task, '--task', 'name the task, e.g. --task incident-triage')
      const cases = await withDeps(async (deps) => {
        await requireTask(deps.db, task)
        return listGolden(deps.db, task)
      })
      say(`${cases.length} golden case(s) for "${task}".`)
      printJson({ task, cases })
    })
}
