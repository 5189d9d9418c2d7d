/**
 * @module cli/commands/schedule
 * `kaizen schedule create|list|delete`: nightly improvement runs per task; `kaizen schedule retention`:
 * the daily traffic retention run.
 */
import type { Command } from 'commander'
import { parseCampaignConfig } from '../../core/config.js'
import { deleteSchedule, listSchedules, upsertRetentionSchedule } from '../../runtime/schedules.js'
import { withClient, withOperations } from '../context.js'
import { cronFlag, durationFlag, timezoneFlag } from '../flags.js'
import { printJson, say } from '../output.js'

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('nightly improvement runs (Temporal Schedules)')

  schedule
    .command('create')
    .description(
      'check the task (on a worker: one must be running), then create or update its nightly campaign schedule',
    )
    .requiredOption('--task <task>', 'the task to improve every night')
    .option('--cron <expr>', '5-field cron expression', cronFlag('--cron'), '0 2 * * *')
    .option('--timezone <tz>', 'IANA time zone of the cron expression', timezoneFlag('--timezone'), 'UTC')
    .option(
      '--catchup-window <duration>',
      'make up missed runs within this window (e.g. "1 hour", "30 minutes")',
      durationFlag('--catchup-window'),
      '1 hour',
    )
    .option('--json', 'print as JSON')
    .action(async (opts: { task: string; cron: string; timezone: string; catchupWindow: string; json?: boolean }) => {
      await withOperations(async (ops) => {
        const r = await ops.createSchedule({
          taskId: opts.task,
          cron: opts.cron,
          timezone: opts.timezone,
          catchupWindow: opts.catchupWindow,
          config: parseCampaignConfig({}),
          configInput: {},
        })
        say(
          `Schedule ${r.scheduleId} ${r.created ? 'created' : 'updated'}: a campaign for "${opts.task}" at ` +
            `"${opts.cron}" (${opts.timezone}); overlapping runs are skipped; missed runs within ` +
            `${opts.catchupWindow} are made up.`,
        )
        for (const w of r.warnings) say(`Warning: ${w}`)
        if (opts.json)
          printJson({
            scheduleId: r.scheduleId,
            created: r.created,
            task: opts.task,
            cron: opts.cron,
            timezone: opts.timezone,
            overlap: 'SKIP',
            catchupWindow: opts.catchupWindow,
            warnings: r.warnings,
          })
      })
    })

  schedule
    .command('retention')
    .description('create or update the daily traffic retention run (applies `kaizen traffic retention` periods)')
    .option('--cron <expr>', '5-field cron expression', cronFlag('--cron'), '30 3 * * *')
    .option('--timezone <tz>', 'IANA time zone of the cron expression', timezoneFlag('--timezone'), 'UTC')
    .action(async (opts: { cron: string; timezone: string }) => {
      await withClient(async (client, { env }) => {
        const r = await upsertRetentionSchedule(client, {
          cron: opts.cron,
          timezone: opts.timezone,
          taskQueue: env.TEMPORAL_TASK_QUEUE,
        })
        say(
          `Schedule ${r.scheduleId} ${r.created ? 'created' : 'updated'}: traffic retention at ` +
            `"${opts.cron}" (${opts.timezone}).`,
        )
        printJson({ ...r, cron: opts.cron, timezone: opts.timezone })
      })
    })

  schedule
    .command('list')
    .description('Kaizen schedules')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withClient(async (client) => {
        const rows = await listSchedules(client)
        if (opts.json) return printJson(rows)
        if (rows.length === 0) return say('No schedules. Create one with `kaizen schedule create --task <task>`.')
        for (const r of rows)
          say(
            `${r.scheduleId}  ${r.taskId ? `task ${r.taskId}` : 'traffic retention'}  cron ` +
              `${r.cron.join(', ')} ${r.timezone ?? ''}${r.paused ? '  (paused)' : ''}  next ` +
              `${r.nextRuns[0] ?? 'n/a'}`,
          )
      })
    })

  schedule
    .command('delete')
    .description('delete the schedule of a task (or the retention schedule: --task kaizen-retention)')
    .requiredOption('--task <task>', 'the task (or a schedule id)')
    .option('--json', 'print as JSON')
    .action(async (opts: { task: string; json?: boolean }) => {
      await withClient(async (client) => {
        const id = await deleteSchedule(client, opts.task)
        if (opts.json) printJson({ scheduleId: id, deleted: true })
        else say(`Schedule ${id} deleted.`)
      })
    })
}
