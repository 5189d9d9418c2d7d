/**
 * @module cli/commands/grader
 * `kaizen grader show|set|calibrate|override|grade`: a task's grader, its calibration against
 * human labels (the verdict decides whether it may judge a canary), audited overrides, and batch
 * grading of recent traffic.
 */
import type { Command } from 'commander'
import {
  calibrateGrader,
  currentGraderVersion,
  graderTrustCheck,
  overrideGraderTrust,
  readLabels,
} from '../../evaluation/calibration.js'
import { KaizenError, formatPath } from '../../core/errors.js'
import { activateGrader, getGraderVersion, latestTrust } from '../../db/queries/graders.js'
import { requireTask } from '../../db/queries/prompts.js'
import { GraderSpec } from '../../core/grader-spec.js'
import { THRESHOLDS, type CalibrationReport } from '../../graders/calibration.js'
import { withDeps } from '../../runtime/deps.js'
import { gradeBatch } from '../../workflows/grading.js'
import { requireOption, withRuntime } from '../context.js'
import { readDataFile } from '../../lib/data-file.js'
import { intFlag } from '../flags.js'
import { fmt, printJson, say } from '../output.js'
import { FAN_OUT } from '../../core/fanout.js'

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`)

export function printReport(r: CalibrationReport, graderVersionId: string): void {
  say(`Calibration of grader ${graderVersionId} on ${r.items} labelled items`)
  say('')
  say('Pass/fail dimensions (Cohen κ; rows = people, columns = grader):')
  for (const [name, d] of Object.entries(r.dimensions)) {
    say(
      `  ${name.padEnd(14)} κ = ${fmt(d.kappa, 2)} ${d.ok ? '✓' : '✗'} (needs ≥ ${THRESHOLDS.kappa}), ` +
        `agreement ${pct(d.observedAgreement)}, n = ${d.n}`,
    )
    say(`  ${''.padEnd(14)}               grader pass  grader fail`)
    say(
      `  ${''.padEnd(14)}   human pass  ${String(d.confusion.humanPass.graderPass).padStart(11)}  ` +
        `${String(d.confusion.humanPass.graderFail).padStart(11)}`,
    )
    say(
      `  ${''.padEnd(14)}   human fail  ${String(d.confusion.humanFail.graderPass).padStart(11)}  ` +
        `${String(d.confusion.humanFail.graderFail).padStart(11)}`,
    )
  }
  say(
    `Overall score vs human rating: Spearman ρ = ${fmt(r.spearman.rho, 2)} ${r.spearman.ok ? '✓' : '✗'} ` +
      `(needs ≥ ${THRESHOLDS.spearman}), n = ${r.spearman.n}`,
  )
  say(
    `Safety checks: caught ${r.gates.caught} of ${r.gates.labelledFailures} labelled failures ` +
      `(${pct(r.gates.recall)}) ${r.gates.ok ? '✓' : '✗'} (needs ≥ ${THRESHOLDS.gateRecall * 100} ` +
      `%)${r.gates.missed.length ? `; missed: ${r.gates.missed.slice(0, 5).join(', ')}` : ''}`,
  )
  say(`Ungradable items (null scores): ${r.nullScores}`)
  say('Probes (each must not game the grader on more than 10 % of items):')
  for (const p of r.probes)
    say(`  ${p.ok ? '✓' : '✗'} ${p.name.padEnd(16)} gamed ${p.gamed} of ${p.items} — ${p.description}`)
  say('')
  say(
    r.trusted
      ? 'Verdict: TRUSTED — this grader may judge canaries.'
      : `Verdict: NOT TRUSTED — canaries gated by it are refused unless an operator overrides.\n  ` +
          `${r.reasons.join('\n  ')}`,
  )
}

export function registerGrader(program: Command): void {
  const grader = program
    .command('grader')
    .description('graders: show, set, calibrate against human labels, override, batch-grade')

  grader
    .command('calibrate')
    .description(
      'compare the task grader with human labels (κ, Spearman, gates, probes) and record whether it is trusted',
    )
    .option('--task <task>', 'task whose grader to calibrate')
    .option('--labels <file>', 'labelled answers, one JSON object per line')
    .option('--grader <id>', 'a specific grader version (default: the task’s current grader)')
    .option('--actor <name>', 'who ran the calibration (recorded)', process.env.USER ?? 'cli')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { task?: string; labels?: string; grader?: string; actor: string; json?: boolean }) => {
      const task = requireOption(
        opts.task,
        '--task',
        'name the task whose grader to calibrate, e.g. --task incident-triage',
      )
      const labelsPath = requireOption(
        opts.labels,
        '--labels',
        'give a JSONL file of labelled answers, e.g. --labels scenarios/labels/incident-triage.jsonl',
      )
      const labels = readLabels(labelsPath)
      const out = await withDeps(async (deps) => {
        await requireTask(deps.db, task)
        return calibrateGrader(deps, {
          taskId: task,
          labels,
          actor: `user:${opts.actor}`,
          source: labelsPath,
          ...(opts.grader ? { graderVersionId: opts.grader } : {}),
        })
      })
      if (opts.json)
        printJson({
          task: out.taskId,
          graderVersionId: out.graderVersionId,
          trustId: out.trustId,
          labelsHash: out.labelsHash,
          ...out.report,
        })
      else printReport(out.report, out.graderVersionId)
    })

  grader
    .command('show')
    .description('the task’s current grader version, its spec and whether it may judge canaries')
    .option('--task <task>', 'task')
    .option('--json', 'print as JSON')
    .action(async (opts: { task?: string; json?: boolean }) => {
      const task = requireOption(opts.task, '--task', 'name the task, e.g. --task incident-triage')
      const out = await withDeps(async (deps) => {
        const id = await currentGraderVersion(deps, task)
        const version = await getGraderVersion(deps.db, id)
        const trust = await latestTrust(deps.db, id)
        const gate = await graderTrustCheck(deps.db, id)
        return {
          task,
          graderVersionId: id,
          codeVersion: version.codeVersion,
          spec: version.spec,
          trusted: trust?.trusted ?? null,
          calibration: trust?.id ?? null,
          mayGateCanary: gate.ok,
          gate: gate.reason,
        }
      })
      if (opts.json) return printJson(out)
      say(`Task ${task}: grader ${out.graderVersionId} (${out.codeVersion})`)
      say(`May gate a canary: ${out.mayGateCanary ? 'yes' : 'no'} — ${out.gate}`)
      say(JSON.stringify(out.spec, null, 2))
    })

  grader
    .command('set')
    .description('make a grader spec (YAML or JSON) the task’s grader; a new immutable version, audited')
    .option('--task <task>', 'task')
    .option('--file <file>', 'grader spec file')
    .option('--actor <name>', 'who set it (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { task?: string; file?: string; actor: string }) => {
      const task = requireOption(opts.task, '--task', 'name the task, e.g. --task incident-triage')
      const file = requireOption(
        opts.file,
        '--file',
        'give a grader spec, e.g. --file grader.yaml (see docs/graders.md)',
      )
      const parsed = GraderSpec.safeParse(await readDataFile(file, '--file'))
      if (!parsed.success) {
        throw new KaizenError(
          'INVALID_INPUT',
          `${file}: ${parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')} (see ` +
            `docs/graders.md)`,
        )
      }
      const id = await withDeps(async (deps) => {
        await requireTask(deps.db, task)
        return activateGrader(deps.db, { taskId: task, spec: parsed.data, actor: `user:${opts.actor}`, source: file })
      })
      say(
        `Task ${task} now grades with ${id}. It is not trusted until calibrated: kaizen grader calibrate ` +
          `--task ${task} --labels FILE.jsonl`,
      )
      printJson({ task, graderVersionId: id })
    })

  grader
    .command('override')
    .description('let an untrusted grader judge canaries anyway (recorded in the audit log with who and why)')
    .option('--grader <id>', 'grader version')
    .option('--operator <name>', 'who takes responsibility')
    .option('--reason <text>', 'why')
    .action(async (opts: { grader?: string; operator?: string; reason?: string }) => {
      const grader = requireOption(opts.grader, '--grader', 'name the grader version (kaizen grader show --task T)')
      const operator = requireOption(opts.operator, '--operator', 'say who takes responsibility, e.g. --operator alice')
      const reason = requireOption(
        opts.reason,
        '--reason',
        'say why the grader may judge canaries without a trusted calibration',
      )
      await withDeps((deps) => overrideGraderTrust(deps, { graderVersionId: grader, operator, reason }))
      say(`Override recorded: ${grader} may judge canaries (audit action grader.trust-override, by ${operator}).`)
    })

  grader
    .command('grade')
    .description('grade a task’s recent traffic in chunks (a Temporal workflow)')
    .option('--task <task>', 'task')
    .option('--limit <n>', 'newest records to grade', intFlag('--limit', 1), 1000)
    .option(
      '--chunk-size <n>',
      `items per chunk activity (default ${FAN_OUT.chunkItems}: chunks spread over every worker)`,
      intFlag('--chunk-size', 1, 5_000),
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { task?: string; limit: number; chunkSize?: number; json?: boolean }) => {
      const task = requireOption(opts.task, '--task', 'name the task, e.g. --task incident-triage')
      const { limit, chunkSize } = opts
      const result = await withRuntime({}, async (rt) => {
        const worker = await rt.startWorker()
        try {
          return await rt.client.workflow.execute(gradeBatch, {
            taskQueue: rt.env.TEMPORAL_TASK_QUEUE,
            workflowId: `grade-${task}-${Date.now()}`,
            args: [{ taskId: task, limit, ...(chunkSize ? { chunkSize } : {}) }],
          })
        } finally {
          await worker.shutdown()
        }
      })
      if (opts.json) return printJson(result)
      say(
        `Graded ${result.graded} of ${result.itemCount} records of ${task} with ${result.graderVersionId} in ` +
          `${result.chunks} chunk(s): mean ${fmt(result.meanScore)}, pass rate ${pct(result.passRate)}, ` +
          `${result.nullScores} ungradable, ${result.transient} left for later (judge unavailable).`,
      )
    })
}
