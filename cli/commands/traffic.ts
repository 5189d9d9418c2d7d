/**
 * @module cli/commands/traffic
 * `kaizen traffic import FILE.jsonl`: bulk history, one traffic record per line (the same fields as
 * `POST /v1/traffic`). The whole file is validated first — every bad line is reported with its line
 * number and field — and every task and version it names is checked; only then is it stored, in
 * batches of 500, redacted like API traffic. Records with an `id` are idempotent, so an interrupted
 * import can simply be run again.
 *
 * `kaizen traffic export --task T [--limit N] [-o FILE]`: recent answered records as JSONL lines
 * `{ id, input, output, reference }`, ready to label for `kaizen grader calibrate`.
 *
 * `kaizen traffic retention TASK DAYS|forever`: how long the task's traffic is kept (audited).
 * `kaizen traffic prune [--task T]`: apply retention now (db/queries/retention.ts); the worker also
 * runs it every day (workflow `trafficRetention`, schedule `kaizen-retention`).
 */
import { createReadStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { checkReferences, storeTraffic, TrafficRecord, type TrafficRecordInput } from '../../api/routes/traffic.js'
import { KaizenError, formatPath } from '../../core/errors.js'
import { recentAnswers } from '../../db/queries/export.js'
import { requireTask } from '../../db/queries/prompts.js'
import { MAX_RETENTION_DAYS, applyRetention, setRetention } from '../../db/queries/retention.js'
import { intFlag } from '../flags.js'
import { withDeps } from '../../runtime/deps.js'
import { printJson, say } from '../output.js'

export async function readTrafficFile(file: string): Promise<TrafficRecordInput[]> {
  const records: TrafficRecordInput[] = []
  const problems: string[] = []
  let n = 0
  try {
    for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
      n++
      if (line.trim() === '') continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch (err) {
        problems.push(`line ${n}: not JSON (${(err as Error).message})`)
        continue
      }
      const parsed = TrafficRecord.safeParse(value)
      if (parsed.success) records.push(parsed.data)
      else
        for (const issue of parsed.error.issues) problems.push(`line ${n}: ${formatPath(issue.path)}: ${issue.message}`)
    }
  } catch (err) {
    throw new KaizenError('INVALID_INPUT', `cannot read ${file}: ${(err as Error).message}`)
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20)
    throw new KaizenError(
      'INVALID_INPUT',
      `${file} has ${problems.length} problem(s); nothing was imported:\n  - ` +
        `${shown.join('\n  - ')}` +
        `${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`,
    )
  }
  if (records.length === 0)
    throw new KaizenError(
      'INVALID_INPUT',
      `${file} holds no records (one JSON object per line, as for POST /v1/traffic)`,
    )
  return records
}

/** `<days>`: a whole number of days or "forever" (null). */
function retentionDays(value: string): number | null {
  if (value === 'forever') return null
  try {
    return intFlag('<days>', 1, MAX_RETENTION_DAYS)(value)
  } catch {
    throw new KaizenError(
      'INVALID_INPUT',
      `<days> "${value}" is not valid: give a whole number of days or "forever" (1 to ${MAX_RETENTION_DAYS} days)`,
      { details: { fields: ['days'] } },
    )
  }
}

export function registerTraffic(program: Command): void {
  const traffic = program.command('traffic').description('production traffic records')
  traffic
    .command('import <file>')
    .description('import traffic history from a JSON Lines file (one record per line, fields as POST /v1/traffic)')
    .action(async (file: string) => {
      const records = await readTrafficFile(file)
      const result = await withDeps(async (deps) => {
        await checkReferences(deps.db, records)
        let stored = 0
        let duplicates = 0
        for (let i = 0; i < records.length; i += 500) {
          const r = await storeTraffic(
            deps.db,
            records.slice(i, i + 500),
            deps.redactor,
            deps.providers.cost.bind(deps.providers),
          )
          stored += r.stored
          duplicates += r.duplicates
        }
        return { stored, duplicates }
      })
      say(
        `Imported ${result.stored} record(s) from ` +
          `${file}${result.duplicates ? ` (${result.duplicates} already there)` : ''}.`,
      )
      printJson({ file, records: records.length, ...result })
    })

  traffic
    .command('export')
    .description(
      'recent answered records of a task as JSONL ({ id, input, output, reference }), to label for calibration',
    )
    .requiredOption('--task <task>', 'the task')
    .option('--limit <n>', 'newest records to export', intFlag('--limit', 1, 100_000), 50)
    .option('-o, --output <file>', 'write to this file (default: standard output)')
    .action(async (opts: { task: string; limit: number; output?: string }) => {
      const records = await withDeps(async ({ db }) => {
        await requireTask(db, opts.task)
        return recentAnswers(db, opts.task, opts.limit)
      })
      const text = records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : '')
      if (!opts.output) return void process.stdout.write(text)
      await writeFile(opts.output, text)
      say(`${records.length} record(s) of ${opts.task} written to ${opts.output}.`)
    })

  traffic
    .command('retention')
    .description(
      'keep the task\'s traffic this many days ("forever": never remove); `kaizen traffic prune` and the ' +
        'daily worker run apply it',
    )
    .argument('<task>', 'the task')
    .argument('<days>', `whole number of days (1 to ${MAX_RETENTION_DAYS}) or "forever"`, retentionDays)
    .option('--actor <name>', 'who sets it (recorded)', process.env.USER ?? 'cli')
    .action(async (task: string, days: number | null, opts: { actor: string }) => {
      await withDeps((deps) => setRetention(deps.db, { taskId: task, days, actor: `user:${opts.actor}` }))
      say(
        days === null
          ? `Traffic of ${task} is kept forever.`
          : `Traffic of ${task} is kept ${days} day(s); older records are deleted, or erased where a campaign ` +
              `or feedback refers to them (golden cases are kept).`,
      )
      printJson({ task, retentionDays: days })
    })
  traffic
    .command('prune')
    .description("apply every task's retention now (or one task's with --task)")
    .option('--task <task>', 'only this task')
    .option('--actor <name>', 'who runs it (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { task?: string; actor: string }) => {
      const results = await withDeps((deps) =>
        applyRetention(deps.db, { ...(opts.task ? { taskId: opts.task } : {}), actor: `user:${opts.actor}` }),
      )
      if (results.length === 0) say('No task has a retention period (`kaizen traffic retention TASK DAYS` sets one).')
      for (const r of results)
        say(
          `${r.taskId}: kept ${r.retentionDays} day(s) (before ${r.cutoff}): ${r.deleted} deleted, ${r.erased} erased.`,
        )
      printJson(results)
    })
}
