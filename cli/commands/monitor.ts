/**
 * @module cli/commands/monitor
 * `kaizen monitor start|status|config|ack|pause|resume|stop`: a task's continuous quality monitor
 * (docs/monitor.md). Start, status, settings and signals go through Temporal (client/operations.ts,
 * shared with the API); alerts are read and acknowledged in the database.
 */
import type { Command } from 'commander'
import { acknowledgeAlert, listAlerts } from '../../db/queries/monitor.js'
import { readDataFile } from '../../lib/data-file.js'
import { withDeps } from '../../runtime/deps.js'
import type { MonitorView } from '../../client/monitor.js'
import { isKaizenError } from '../../core/errors.js'
import { withOperations } from '../context.js'
import { printJson, say } from '../output.js'

const who = () => process.env.KAIZEN_OPERATOR ?? process.env.USER ?? 'cli'
const settings = async (file: string | undefined) => (file ? await readDataFile(file, '--file') : {})

/** A monitor's status in a few lines. */
function tell(v: MonitorView): string[] {
  const s = v.status
  if (!s)
    return [
      `Quality monitor ${v.workflowId}: ${v.workflowStatus.toLowerCase()}` +
        `${v.failure ? ` — ${v.failure.message}` : ''}.`,
    ]
  const lines = [
    `Quality monitor of task ${v.taskId} (${v.workflowId}): ${s.phase}, ${s.checks} checks, last at ` +
      `${s.lastCheckAt ?? 'none yet'}; production version ${s.productionVersionId ?? 'none'}; reference since ` +
      `${s.referenceFrom ?? 'not yet'}.`,
  ]
  const w = s.window
  if (w)
    lines.push(
      `  last ${w.windowMs / 60_000} min: ${w.requests} requests, ${w.graded} graded, ` +
        `DQ ${w.dqMean?.toFixed(3) ?? 'n/a'}, ` +
        `errors ${w.errorRate === null ? 'n/a' : `${(w.errorRate * 100).toFixed(1)} %`}, p95 latency ` +
        `${w.p95LatencyMs === null ? 'n/a' : `${Math.round(w.p95LatencyMs)} ms`}, cost per 1,000 requests ` +
        `${w.meanCostUsd === null ? 'n/a' : `$${(w.meanCostUsd * 1000).toFixed(4)}`}`,
    )
  for (const [metric, d] of Object.entries(s.detectors)) {
    const over =
      d && 'thresholdMs' in d
        ? ` (requests over ${Math.round(d.thresholdMs)} ms)`
        : d && 'thresholdUsd' in d
          ? ` (requests over $${d.thresholdUsd.toPrecision(3)})`
          : ''
    lines.push(
      `  detector ${metric}${over}: ` +
        `${d ? `${d.statistic.toFixed(1)} of ${d.threshold.toFixed(0)} to alarm` : 'not armed'}`,
    )
  }
  for (const f of s.floors)
    lines.push(`  floor ${f.floor}: ${f.status}${f.value === null ? '' : ` (${f.value.toFixed(3)}, limit ${f.limit})`}`)
  if (s.judge)
    lines.push(
      `  judge: $${s.judge.spentTodayUsd.toFixed(4)} of $${s.judge.budgetUsd} today` +
        `${s.judge.exhausted ? ' — budget spent, grading stopped until tomorrow (UTC)' : ''}`,
    )
  if (s.inputDrift) {
    const pct = (x: number) => `${(x * 100).toFixed(0)} %`
    const { recentNovelShare: recent, referenceNovelShare: ref } = s.inputDrift
    lines.push(
      `  input drift: ${recent === null ? 'not measured' : `${pct(recent)} of recent inputs novel`}` +
        `${ref === null ? '' : ` (reference ${pct(ref)})`}`,
    )
  }
  for (const f of s.findings) lines.push(`  finding: ${f.kind} ${f.metric}: ${f.summary}`)
  for (const c of s.campaigns) lines.push(`  campaign ${c.campaignId} started ${c.at} on alert ${c.alertId}`)
  if (s.heldBack) lines.push(`  held back: ${s.heldBack}`)
  return lines
}

export function registerMonitor(program: Command): void {
  const monitor = program
    .command('monitor')
    .description('continuous quality monitor: grade live traffic, detect drift, alert, start campaigns')

  monitor
    .command('start')
    .description('check the task (on a worker), then start its quality monitor (one per task)')
    .requiredOption('--task <task>', 'the task to watch')
    .option('--file <settings>', 'monitor settings (YAML or JSON; docs/monitor.md); default: the defaults')
    .option('--json', 'print as JSON')
    .action(async (opts: { task: string; file?: string; json?: boolean }) => {
      const configInput = await settings(opts.file)
      await withOperations(async (ops) => {
        const r = await ops.startMonitor({ taskId: opts.task, configInput, startedBy: who() })
        say(
          `Quality monitor ${r.workflowId} started: it learns a reference from ` +
            `${r.config.referenceMs / 3_600_000} h of traffic, then checks every ` +
            `${r.config.checkEveryMs / 60_000} min (${(r.config.sampleRate * 100).toFixed(1)} % of requests ` +
            `graded, judge budget $${r.config.dailyJudgeBudgetUsd} a day).`,
        )
        for (const w of r.warnings) say(`Warning: ${w}`)
        if (opts.json) printJson(r)
      })
    })

  monitor
    .command('status')
    .description("the monitor's phase, detectors, floors, judge spend, findings and open alerts")
    .requiredOption('--task <task>', 'the task')
    .option('--json', 'print as JSON')
    .action(async (opts: { task: string; json?: boolean }) => {
      const view = await withOperations((ops) => ops.describeMonitor(opts.task))
      // Open alerts are read from the database; where this process cannot open it (the embedded one held
      // by `kaizen up`), the run's own alerts in its status stand in, and the line says so.
      const alerts = await withDeps(({ db }) => listAlerts(db, { taskId: opts.task, open: true, limit: 50 })).catch(
        (err: unknown) => ({ unavailable: err instanceof Error ? err.message : String(err) }),
      )
      if (opts.json) return printJson({ ...view, openAlerts: Array.isArray(alerts) ? alerts : null })
      for (const line of tell(view)) say(line)
      if (!Array.isArray(alerts)) {
        say(`Open alerts not read from the database (${alerts.unavailable}); alerts this run raised:`)
        for (const a of view.status?.alerts ?? []) say(`  alert ${a.alertId} (${a.at}): ${a.summary}`)
        return
      }
      if (alerts.length === 0) say('No open alerts.')
      for (const a of alerts)
        say(`  open alert ${a.id} (${a.kind} ${a.metric}, ${a.raisedAt.toISOString()}): ${a.summary}`)
      if (alerts.length > 0) say('Acknowledge one with `kaizen monitor ack <alert-id>`.')
    })

  monitor
    .command('config')
    .description("show the monitor's settings, or replace them with --file (from the next check on; audited)")
    .requiredOption('--task <task>', 'the task')
    .option('--file <settings>', 'new settings, whole (YAML or JSON; docs/monitor.md)')
    .option('--by <name>', 'who changes them (audited)', who())
    .action(async (opts: { task: string; file?: string; by: string }) => {
      if (opts.file === undefined) {
        const view = await withOperations((ops) => ops.describeMonitor(opts.task))
        return printJson(view.config)
      }
      const input = await settings(opts.file)
      const config = await withOperations((ops) => ops.configureMonitor(opts.task, input, opts.by))
      say(`Quality monitor of task ${opts.task}: new settings in effect from the next check (by ${opts.by}).`)
      printJson(config)
    })

  monitor
    .command('ack')
    .description('acknowledge an alert (once acknowledged, the same alert may be raised again after its cooldown)')
    .argument('<alert-id>', 'the alert (kaizen monitor status lists the open ones)')
    .option('--by <name>', 'who acknowledges it (audited)', who())
    .option('--comment <text>', 'why, or what is being done')
    .option('--json', 'print as JSON')
    .action(async (alertId: string, opts: { by: string; comment?: string; json?: boolean }) => {
      const input = { alertId, by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) }
      // Through the monitor that raised it while it runs (no database access needed); else in the database.
      const viaMonitor = await withOperations((ops) => ops.acknowledgeAlert(input)).catch((err: unknown) => {
        if (isKaizenError(err) && (err.code === 'CONFLICT' || err.code === 'NOT_FOUND')) return null
        throw err
      })
      const r =
        viaMonitor ??
        (await withDeps(async ({ db }) => {
          const { alert, already } = await acknowledgeAlert(db, {
            ...input,
            at: new Date(),
            comment: opts.comment ?? null,
          })
          return {
            alertId: alert.id,
            already,
            acknowledgedBy: alert.acknowledgedBy,
            acknowledgedAt: alert.acknowledgedAt?.toISOString() ?? null,
          }
        }))
      if (opts.json) return printJson(r)
      say(
        r.already
          ? `Alert ${alertId} was already acknowledged by ${r.acknowledgedBy} at ${r.acknowledgedAt}.`
          : `Alert ${alertId} acknowledged by ${opts.by}.`,
      )
    })

  for (const verb of ['pause', 'resume', 'stop'] as const)
    monitor
      .command(verb)
      .description(
        verb === 'stop'
          ? 'stop the monitor (its campaigns and canaries go on)'
          : `${verb} grading and checks (the reference is kept)`,
      )
      .requiredOption('--task <task>', 'the task')
      .option('--by <name>', 'who asks', who())
      .action(async (opts: { task: string; by: string }) => {
        await withOperations(async (ops) => say((await ops.signalMonitor(opts.task, verb, opts.by)).message))
      })
}
