/**
 * @module cli/commands/audit
 * `kaizen audit [--task T] [--action A] [--actor P] [--since ISO] [--limit N] [--json]`: the
 * append-only audit log, oldest first among the newest N: who did what to which subject, when.
 */
import type { Command } from 'commander'
import { listAudit } from '../../db/queries/audit.js'
import { withDeps } from '../../runtime/deps.js'
import { intFlag, timeFlag } from '../flags.js'
import { printJson, say } from '../output.js'

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('the audit log: label moves, approvals, rollbacks, campaigns, graders, tasks (append-only)')
    .option('--task <task>', 'only this task')
    .option('--action <action>', 'only this action, or a prefix ending in . (e.g. canary.)')
    .option('--actor <actor>', 'only this actor (e.g. person:alice@example.com)')
    .option('--since <time>', 'only events at or after this ISO time (e.g. 2026-12-04T09:00:00Z)', timeFlag('--since'))
    .option('--limit <n>', 'newest events to show', intFlag('--limit', 1, 100_000), 200)
    .option('--json', 'print as JSON')
    .action(
      async (opts: { task?: string; action?: string; actor?: string; since?: Date; limit: number; json?: boolean }) => {
        const events = await withDeps(({ db }) => listAudit(db, opts))
        if (opts.json) return printJson(events)
        if (events.length === 0) return say('No audit events match.')
        for (const e of events)
          say(
            `${e.at.toISOString()}  ${e.action.padEnd(28)} ${e.actor.padEnd(30)} ` +
              `${e.subjectType}:${e.subjectId}${e.taskId ? `  [${e.taskId}]` : ''}`,
          )
      },
    )
}
