/**
 * @module cli/commands/campaign
 * `kaizen campaign start|status|list`.
 */
import type { Command } from 'commander'
import { z } from 'zod'
import { estimateTaskCampaign } from '../../client/estimate.js'
import { describeFailure, type FailureReport } from '../../client/failures.js'
import type { CampaignView } from '../../client/operations.js'
import { describeDrop, describeVerdict, formatUsd } from '../../core/agility.js'
import { isMapping, parseCampaignConfig, type CampaignConfig } from '../../core/config.js'
import {
  campaignStatusQuery,
  type AgilityResult,
  type CampaignResult,
  type CampaignStatus,
} from '../../workflows/messages.js'
import { campaignLineage, type LineageNode } from '../../db/queries/lineage.js'
import { withDeps } from '../../runtime/deps.js'
import { withClient, withOperations } from '../context.js'
import { readDataFile } from '../../lib/data-file.js'
import { campaignIdFlag, configFlag, intFlag, numberFlag } from '../flags.js'
import { describeChain, fmt, printJson, say } from '../output.js'
import { isTemporalUnavailable, OutageReporter, untilAvailable } from '../../runtime/outage.js'
import { temporalAnswers } from '../../runtime/temporal-server.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface ConfigFlags {
  config?: string
  rounds?: number
  budget?: number
  canaryWeight?: number
  /** Model agility (docs/model-agility.md). */
  models?: string
  objective?: string
  toModel?: string
  margin?: number
  maxCostPer1k?: number
  maxLatencyMs?: number
  finalists?: number
}

/** `search.models` and `search.objective` from the agility flags (null: none given). */
function agilityFlags(opts: ConfigFlags, base: unknown): Record<string, unknown> | null {
  const models = opts.models
    ?.split(',')
    .map((m) => m.trim())
    .filter(Boolean)
  const limits = Object.fromEntries(
    Object.entries({ margin: opts.margin, maxCostPer1k: opts.maxCostPer1k, maxLatencyMs: opts.maxLatencyMs }).filter(
      ([, v]) => v !== undefined,
    ),
  )
  const given = isMapping(base) && isMapping(base['objective']) ? base['objective'] : {}
  let objective: Record<string, unknown> | undefined
  if (opts.toModel) objective = { ...given, kind: 'migrate', toModel: opts.toModel, ...limits }
  else if (opts.objective) objective = { ...given, kind: opts.objective, ...limits }
  else if (Object.keys(limits).length > 0) objective = { ...given, ...limits }
  if (!models && !objective) return null
  return { ...(models ? { models } : {}), ...(objective ? { objective } : {}) }
}

/**
 * The campaign config: the --config file (if any) with the flags on top, validated strictly (a
 * mapping; unknown keys refused with their path and a "did you mean"). `input` is that config as
 * written, for the task's campaign defaults to go under.
 */
export async function configFromFlags(opts: ConfigFlags): Promise<{ config: CampaignConfig; input: unknown }> {
  const where = opts.config ? `campaign config ${opts.config}` : 'campaign flags'
  const base = opts.config ? await readDataFile(opts.config, '--config') : {}
  if (!isMapping(base)) return { config: parseCampaignConfig(base, where), input: base } // refused: not a mapping
  const merged: Record<string, unknown> = { ...base }
  // A flag overrides its key; a section that is not a mapping stays as it is, to be refused by name.
  const override = (section: string, values: Record<string, number | undefined>) => {
    const set = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined))
    if (Object.keys(set).length === 0) return
    const current = merged[section]
    if (current === undefined || current === null) merged[section] = set
    else if (isMapping(current)) merged[section] = { ...current, ...set }
  }
  override('search', { rounds: opts.rounds, rolloutBudget: opts.budget, finalistsPerModel: opts.finalists })
  override('canary', { weight: opts.canaryWeight })
  const agility = agilityFlags(opts, merged['search'])
  if (agility) {
    const current = merged['search']
    if (current === undefined || current === null) merged['search'] = agility
    else if (isMapping(current)) merged['search'] = { ...current, ...agility }
  }
  // The canary's readiness is a non-inferiority test too: it takes the margin the search was given,
  // unless the config sets its own.
  if (opts.margin !== undefined && opts.margin > 0) {
    const canary = merged['canary'] ?? {}
    const analysis = isMapping(canary) ? (canary['analysis'] ?? {}) : null
    if (isMapping(canary) && isMapping(analysis) && analysis['margin'] === undefined)
      merged['canary'] = { ...canary, analysis: { ...analysis, margin: opts.margin } }
  }
  const flagged =
    opts.rounds !== undefined ||
    opts.budget !== undefined ||
    opts.finalists !== undefined ||
    opts.canaryWeight !== undefined ||
    agility !== null
  return {
    config: parseCampaignConfig(merged, opts.config && flagged ? `${where} (with flags)` : where),
    input: merged,
  }
}

/** The options every command that builds a campaign config shares. */
export function configOptions(command: Command): Command {
  return command
    .option('--config <file>', 'campaign settings (YAML or JSON); see docs/configuration.md')
    .option('--rounds <n>', 'search rounds (search.rounds)', configFlag('--rounds', 'search.rounds'))
    .option(
      '--budget <n>',
      'task rollouts the search may spend (search.rolloutBudget)',
      configFlag('--budget', 'search.rolloutBudget'),
    )
    .option(
      '--margin <x>',
      'model agility: how much lower than production the quality (0–1) may be (search.objective.margin)',
      numberFlag('--margin', z.number().min(0).max(0.5), 'search.objective.margin'),
    )
    .option(
      '--max-cost-per-1k <usd>',
      'model agility: most dollars per 1,000 requests a shipped pair may cost (search.objective.maxCostPer1k)',
      numberFlag('--max-cost-per-1k', z.number().positive(), 'search.objective.maxCostPer1k'),
    )
    .option(
      '--max-latency-ms <ms>',
      'model agility: highest mean latency of a shipped pair (search.objective.maxLatencyMs)',
      numberFlag('--max-latency-ms', z.number().positive(), 'search.objective.maxLatencyMs'),
    )
    .option(
      '--finalists <k>',
      "model agility: each model's k best-ranked candidates go to the holdout, where the objective's rule " +
        'chooses among all that qualify (search.finalistsPerModel; one extra holdout pass each)',
      configFlag('--finalists', 'search.finalistsPerModel'),
    )
}

type StartFlags = ConfigFlags & { task: string; id?: string; wait: boolean; json?: boolean }

/** Start a campaign from flags and, unless --no-wait, follow it to its decision. */
async function startAndFollow(opts: StartFlags): Promise<void> {
  const { config, input } = await configFromFlags(opts)
  await withOperations(async (ops, { target }) => {
    const started = await ops.startCampaign({
      taskId: opts.task,
      ...(opts.id ? { campaignId: opts.id } : {}),
      config,
      configInput: input,
      trigger: 'cli',
    })
    const { campaignId, handle } = started
    say(
      `Campaign ${campaignId} started for task "${opts.task}" (checked: production ` +
        `${started.preflight.productionVersionId}, ${started.preflight.usableRecords} usable traffic ` +
        `records).`,
    )
    for (const w of started.warnings) say(`Warning: ${w}`)
    if (!opts.wait) {
      if (opts.json) printJson({ campaignId, task: opts.task, status: 'started', warnings: started.warnings })
      return
    }
    // Following it waits out Temporal outages: one line when it goes away, one when it is back.
    const outage = new OutageReporter(`Temporal at ${target.address}`, say, () =>
      temporalAnswers(target.address, 2_000),
    )
    let last = ''
    const result = untilAvailable(() => handle.result(), { transient: isTemporalUnavailable, reporter: outage })
    let done = false
    void result.finally(() => (done = true)).catch(() => undefined)
    while (!done) {
      const s = await handle.query(campaignStatusQuery).catch(() => null)
      if (s) outage.ok()
      if (s && describeStatus(s) !== last) say((last = describeStatus(s)))
      await Promise.race([result.catch(() => undefined), sleep(1_000)])
    }
    const r: CampaignResult = await result.finally(() => outage.stop())
    if (r.agility && !opts.json) for (const l of describeFront(r.agility)) say(l)
    say(`Decision: ${r.decision}. ${r.reason}`)
    if (opts.json) printJson(r)
  })
}

/** A campaign's status or outcome, for people. */
export function describeCampaignView(v: CampaignView): string[] {
  if (v.workflowStatus === 'RUNNING') return [describeStatus(v as CampaignStatus)]
  if (v.result)
    return [`${v.campaignId} · task ${v.result.task} · completed · decision ${v.result.decision}: ${v.result.reason}`]
  const f = v.failure as FailureReport
  return [
    `${v.campaignId}${v.taskId ? ` · task ${v.taskId}` : ''} · ${v.workflowStatus.toLowerCase()}: ` +
      `${describeFailure(f)}`,
    `  failure chain: ${describeChain(f)}`,
  ]
}

/** The holdout front of a search over models, one line per pair, and the decision. */
export function describeFront(a: AgilityResult): string[] {
  const lines = [`\nObjective ${a.objective.kind} (margin ${a.objective.margin}); holdout front (* on the front):`]
  lines.push('  pair                      model                    quality (95 % interval)   per 1,000 req   latency')
  for (const p of a.front) {
    const v = a.verdicts.find((x) => x.id === p.id)
    const q = `${p.quality.toFixed(3)} (${p.qualityInterval[0].toFixed(3)}–${p.qualityInterval[1].toFixed(3)})`
    lines.push(
      `  ${p.onFront ? '*' : ' '} ${p.id.slice(0, 22).padEnd(22)}  ${p.model.slice(0, 23).padEnd(23)}  ` +
        `${q.padEnd(24)}  ` +
        `${formatUsd(p.costPer1k).padStart(13)}  ${String(Math.round(p.latencyMs)).padStart(6)} ms` +
        (v ? `  ${describeVerdict(v, a.ship)}` : '  production'),
    )
  }
  if (a.drop) lines.push(describeDrop(a.drop))
  lines.push(`By the objective: ${a.reason}`)
  return lines
}

export function describeStatus(s: CampaignStatus): string {
  const parts = [`${s.campaignId} · task ${s.taskId} · ${s.stage}${s.paused ? ' (paused)' : ''}`]
  if (s.stage === 'searching' || s.round > 0) parts.push(`round ${s.round}/${s.rounds}`)
  parts.push(`rollouts ${s.rolloutsUsed}/${s.rolloutBudget}`)
  if (s.bestValidationDQ !== null)
    parts.push(`best validation DQ ${fmt(s.bestValidationDQ)} (baseline ${fmt(s.baselineValidationDQ)})`)
  if (s.decision) parts.push(`decision ${s.decision}: ${s.reason}`)
  return parts.join(' · ')
}

export function registerCampaign(program: Command): void {
  const campaign = program.command('campaign').description('optimization campaigns')

  configOptions(
    campaign
      .command('start')
      .description(
        'check, then start an optimization campaign for a task (the check runs on a worker: one must be running)',
      )
      .requiredOption('--task <task>', 'the task to improve'),
  )
    .option(
      '--canary-weight <w>',
      'share of traffic for a one-step canary (canary.weight)',
      configFlag('--canary-weight', 'canary.weight'),
    )
    .option('--id <campaignId>', 'campaign id (default: campaign-<task>-<time>)', campaignIdFlag('--id'))
    .option('--no-wait', 'return once the campaign has started')
    .option('--json', 'print the result as JSON')
    .option('--models <list>', 'model agility: candidate models, comma-separated (search.models)')
    .option('--objective <kind>', 'model agility: best-quality or cheapest (search.objective.kind)')
    .action(startAndFollow)

  campaign
    .command('status <campaignId>')
    .description(
      'progress of a running campaign (a worker answers), or the outcome of an ended one with the root cause ' +
        'of a failure (no worker needed); exit 0 whenever the status could be read',
    )
    .option('--json', 'print as JSON (a failure carries its whole chain)')
    .action(async (campaignId: string, opts: { json?: boolean }) => {
      await withOperations(async (ops) => {
        const view = await ops.describeCampaign(campaignId)
        if (opts.json) printJson(view)
        else for (const line of describeCampaignView(view)) say(line)
      })
    })

  configOptions(
    campaign
      .command('estimate')
      .description(
        'predict the rollouts, proposer calls and dollars a campaign would spend, and whether it would ' +
          'refuse to run, before running it',
      )
      .requiredOption('--task <task>', 'the task to improve'),
  )
    .option(
      '--accept-rate <r>',
      'share of proposals expected to be accepted',
      numberFlag('--accept-rate', z.number().min(0).max(1)),
      0.3,
    )
    .option('--json', 'print as JSON')
    .action(async (opts: ConfigFlags & { task: string; acceptRate: number; json?: boolean }) => {
      const own = await configFromFlags(opts)
      const { estimate: est, config } = await withDeps((deps) =>
        estimateTaskCampaign(deps, {
          taskId: opts.task,
          input: own.input,
          where: opts.config ? `campaign config ${opts.config}` : 'campaign flags',
          acceptRate: opts.acceptRate,
        }),
      )
      if (opts.json) return printJson(est)
      const r = est.rollouts
      if (est.refusal)
        say(
          `This campaign would REFUSE TO RUN [${est.refusal.code}]: ${est.refusal.message}\nWhat it would ` +
            `spend once it can run:`,
        )
      say(`Estimate for a ${config.search.strategy} campaign on task "${opts.task}" (model ${est.model}):`)
      say(
        `  task rollouts  ${r.total.expected} expected (${r.total.low}–${r.total.high}): baseline ` +
          `${r.baseline}, search ${r.search.expected} (${r.search.low}–${r.search.high}), holdout gate ` +
          `${r.holdout}`,
      )
      say(`  proposer calls ${est.proposerCalls}`)
      say(
        '  dollars        ' +
          (est.usd.expected === null
            ? 'unknown (no price for the model)'
            : `$${est.usd.expected.toFixed(4)} expected, at most $${(est.usd.high as number).toFixed(4)}`),
      )
      if (est.budget) {
        const b = est.budget
        say(
          `  spend budget   $${b.usd}: baseline ~$${b.baselineUsd.toFixed(4)}, kept for the holdout gate ` +
            `~$${b.holdoutReserveUsd.toFixed(4)}, left for the search ` +
            (b.searchUsd > 0 ? `~$${b.searchUsd.toFixed(4)} (about ${b.searchRollouts} rollouts)` : 'nothing'),
        )
      }
      for (const a of est.assumptions) say(`  · ${a}`)
      for (const w of est.warnings) say(`Warning: ${w}`)
    })

  campaign
    .command('show <campaignId>')
    .description(
      'the lineage of a campaign: how its winner (or best candidate) descends from the seed, with operators, ' +
        'feedback and scores',
    )
    .option('--all', 'list every candidate, not only the winner’s line')
    .option('--json', 'print as JSON')
    .action(async (campaignId: string, opts: { all?: boolean; json?: boolean }) => {
      const lineage = await withDeps((deps) => campaignLineage(deps.db, campaignId))
      if (opts.json) return printJson(lineage)
      // A search over models: each candidate's model is printed (one model: the lines stay short).
      const severalModels = new Set(lineage.nodes.map((n) => n.model)).size > 1
      const line = (n: LineageNode, depth: number) => {
        const mb = n.minibatch
          ? ` minibatch ${fmt(n.minibatch.parent)}→${fmt(n.minibatch.child)} (n=${n.minibatch.n})`
          : ''
        const scores =
          `validation ${fmt(n.validationMean)}` + `${n.holdoutMean !== null ? ` · holdout ${fmt(n.holdoutMean)}` : ''}`
        say(
          `${'  '.repeat(depth)}${depth > 0 ? '└─ ' : ''}v${n.version}${severalModels ? ` ${n.model}` : ''} ` +
            `[${n.operator}, round ${n.round}, ` +
            `${n.status}]${mb} · ${scores}${n.parents.length > 1 ? ` · parents ${n.parents.length}` : ''}`,
        )
        if (n.feedback.length > 0)
          say(
            `${'  '.repeat(depth + 2)}feedback used: ${n.feedback
              .slice(0, 2)
              .map((f) => `"${f.slice(0, 100)}"`)
              .join('; ')}`,
          )
      }
      say(
        `Campaign ${lineage.campaignId} · task ${lineage.taskId} · ${lineage.nodes.length} candidates · ` +
          `decision ${lineage.decision ?? 'pending'}`,
      )
      say(lineage.winnerVersionId ? 'Lineage of the winner:' : 'Lineage of the best candidate (nothing shipped):')
      lineage.path.forEach((n, i) => line(n, i))
      const last = lineage.path.at(-1)
      if (last) say(`\nInstructions of v${last.version}:\n${last.instructions}`)
      if (opts.all) {
        say('\nEvery candidate:')
        for (const n of lineage.nodes) line(n, 0)
      }
      const agility = lineage.agility as AgilityResult | null
      if (agility) for (const l of describeFront(agility)) say(l)
    })

  for (const [verb, what] of [
    ['pause', 'pause the search before its next round (nothing is spent while paused)'],
    ['resume', 'resume a paused search'],
    ['stop', 'stop searching after the current round; the campaign goes on with its best prompt so far'],
  ] as const) {
    campaign
      .command(`${verb} <campaignId>`)
      .description(what)
      .option('--by <name>', 'who asks (recorded in the workflow history)', process.env.USER ?? 'cli')
      .action(async (campaignId: string, opts: { by: string }) => {
        await withOperations(async (ops) => say((await ops.signalCampaign(campaignId, verb, opts.by)).message))
      })
  }

  configOptions(
    program
      .command('migrate')
      .description(
        'move a task to another model without losing quality: measure the drop, re-optimize the prompt for the ' +
          'model, and canary the (model, prompt) pair if it is non-inferior to production within the margin and ' +
          'meets the cost and latency limits (docs/model-agility.md)',
      )
      .requiredOption('--task <task>', 'the task to move')
      .requiredOption(
        '--to-model <model>',
        'the model to move to, as prompt versions name it (e.g. openai:gpt-4.1-mini)',
      ),
  )
    .option('--id <campaignId>', 'campaign id (default: campaign-<task>-<time>)', campaignIdFlag('--id'))
    .option('--no-wait', 'return once the campaign has started')
    .option('--json', 'print the result as JSON')
    .action(startAndFollow)

  campaign
    .command('list')
    .description('recent campaigns (newest first)')
    .option('--task <task>', 'only this task')
    .option('--limit <n>', 'how many', intFlag('--limit', 1, 10_000), 20)
    .option('--json', 'print as JSON')
    .action(async (opts: { task?: string; limit: number; json?: boolean }) => {
      await withClient(async (client) => {
        const rows: Array<{
          campaignId: string
          task: string | null
          status: string
          startedAt: string
          closedAt: string | null
        }> = []
        for await (const w of client.workflow.list({ query: `WorkflowType = 'optimizationCampaign'` })) {
          const task =
            (w.memo?.taskId as string | undefined) ??
            w.workflowId.match(/^campaign-(.+?)-(\d{8}-\d{6}|nightly)/)?.[1] ??
            null
          if (opts.task && task !== opts.task) continue
          rows.push({
            campaignId: w.workflowId,
            task,
            status: w.status.name,
            startedAt: w.startTime.toISOString(),
            closedAt: w.closeTime?.toISOString() ?? null,
          })
          if (rows.length >= opts.limit) break
        }
        if (opts.json) return printJson(rows)
        if (rows.length === 0) return say('No campaigns yet. Start one with `kaizen campaign start --task <task>`.')
        for (const r of rows) say(`${r.startedAt}  ${r.status.padEnd(10)}  ${r.campaignId}`)
      })
    })
}
