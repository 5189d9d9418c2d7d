/**
 * @module cli/commands/schedule
 * `kaizen schedule create|list|delete`: nightly improvement runs per task; `kaizen schedule retention`:
 * the daily traffic retention run.
 */
import type { Command } from 'commander'
import { deleteSchedule, listSchedules, upsertRetentionSchedule } from '../../runtime/schedules.js'
import { withClient, withOperations } from '../context.js'
import { cronFlag, durationFlag, timezoneFlag } from '../flags.js'
import { KaizenError } from '../../core/errors.js'
import { printJson, say } from '../output.js'
import { configFromFlags, configOptions, type ConfigFlags } from './campaign.js'

type CreateFlags = ConfigFlags & { task: string; cron: string; timezone: string; catchupWindow: string; json?: boolean }

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('nightly improvement runs (Temporal Schedules)')

  configOptions(
    schedule
      .command('create')
      .description(
        'check the task (on a worker: one must be running), then create or update its nightly campaign schedule; ' +
          'with --models, its model watch (a campaign over those models that proposes a canary when a pair qualifies)',
      )
      .requiredOption('--task <task>', 'the task to improve every night'),
  )
    .option('--models <list>', 'a model watch: candidate models, comma-separated (search.models)')
    .option('--objective <kind>', 'a model watch: cheapest (default) or best-quality (search.objective.kind)')
    .option('--cron <expr>', '5-field cron expression', cronFlag('--cron'), '0 2 * * *')
    .option('--timezone <tz>', 'IANA time zone of the cron expression', timezoneFlag('--timezone'), 'UTC')
    .option(
      '--catchup-window <duration>',
      'make up missed runs within this window (e.g. "1 hour", "30 minutes")',
      durationFlag('--catchup-window'),
      '1 hour',
    )
    .option('--json', 'print as JSON')
    .action(async (opts: CreateFlags) => {
      const watch = opts.models !== undefined
      const kind = watch ? 'model-watch' : 'nightly'
      if (opts.objective !== undefined && !['cheapest', 'best-quality'].includes(opts.objective))
        throw new KaizenError(
          'INVALID_INPUT',
          `--objective "${opts.objective}": a model watch takes cheapest or best-quality ` +
            '(a migration is a one-off: `kaizen migrate --task T --to-model M`)',
          { details: { fields: ['search.objective.kind'] } },
        )
      const { config, input } = await configFromFlags(
        watch && opts.objective === undefined ? { ...opts, objective: 'cheapest' } : opts,
      )
      await withOperations(async (ops) => {
        const r = await ops.createSchedule({
          taskId: opts.task,
          cron: opts.cron,
          timezone: opts.timezone,
          catchupWindow: opts.catchupWindow,
          config,
          configInput: input,
          kind,
        })
        const what = watch
          ? `a model watch for "${opts.task}" over ${config.search.models?.join(', ')} ` +
            `(objective ${config.search.objective?.kind}; a qualifying pair starts a canary that waits for approval)`
          : `a campaign for "${opts.task}"`
        say(
          `Schedule ${r.scheduleId} ${r.created ? 'created' : 'updated'}: ${what} at ` +
            `"${opts.cron}" (${opts.timezone}); overlapping runs are skipped; missed runs within ` +
            `${opts.catchupWindow} are made up.`,
        )
        for (const w of r.warnings) say(`Warning: ${w}`)
        if (opts.json)
          printJson({
            scheduleId: r.scheduleId,
            created: r.created,
            task: opts.task,
            kind,
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
            `${r.scheduleId}  ${r.taskId ? `${r.kind} of task ${r.taskId}` : 'traffic retention'}  cron ` +
              `${r.cron.join(', ')} ${r.timezone ?? ''}${r.paused ? '  (paused)' : ''}  next ` +
              `${r.nextRuns[0] ?? 'n/a'}`,
          )
      })
    })

  schedule
    .command('delete')
    .description('delete the schedule of a task (or the retention schedule: --task kaizen-retention)')
    .requiredOption('--task <task>', 'the task (or a schedule id)')
    .option('--model-watch', "the task's model watch (default: its nightly campaign)")
    .option('--json', 'print as JSON')
    .action(async (opts: { task: string; modelWatch?: boolean; json?: boolean }) => {
      await withClient(async (client) => {
        const id = await deleteSchedule(client, opts.task, opts.modelWatch ? 'model-watch' : 'nightly')
        if (opts.json) printJson({ scheduleId: id, deleted: true })
        else say(`Schedule ${id} deleted.`)
      })
    })
}
