/**
 * @module cli/commands/campaign
 * `kaizen campaign start|status|list`.
 */
import type { Command } from 'commander'
import { z } from 'zod'
import { describeFailure, type FailureReport } from '../../client/failures.js'
import type { CampaignView } from '../../client/operations.js'
import { isMapping, parseCampaignConfig, withTaskDefaults, type CampaignConfig } from '../../core/config.js'
import { KaizenError } from '../../core/errors.js'
import { campaignStatusQuery, type CampaignResult, type CampaignStatus } from '../../workflows/messages.js'
import { estimateCampaign } from '../../core/search/estimate.js'
import { campaignLineage, type LineageNode } from '../../db/queries/lineage.js'
import { campaignPreflight } from '../../db/queries/preflight.js'
import { getPromptVersion } from '../../db/queries/prompts.js'
import { approxTokens } from '../../core/prompt.js'
import { withDeps } from '../../runtime/deps.js'
import { withClient, withOperations } from '../context.js'
import { readDataFile } from '../../lib/data-file.js'
import { campaignIdFlag, configFlag, intFlag, numberFlag } from '../flags.js'
import { describeChain, fmt, printJson, say } from '../output.js'
import { isTemporalUnavailable, OutageReporter, untilAvailable } from '../../runtime/outage.js'
import { temporalAnswers } from '../../runtime/temporal-server.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface ConfigFlags {
  config?: string
  rounds?: number
  budget?: number
  canaryWeight?: number
}

/**
 * The campaign config: the --config file (if any) with the flags on top, validated strictly (a
 * mapping; unknown keys refused with their path and a "did you mean"). `input` is that config as
 * written, for the task's campaign defaults to go under.
 */
async function configFromFlags(opts: ConfigFlags): Promise<{ config: CampaignConfig; input: unknown }> {
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
  override('search', { rounds: opts.rounds, rolloutBudget: opts.budget })
  override('canary', { weight: opts.canaryWeight })
  const flagged = opts.rounds !== undefined || opts.budget !== undefined || opts.canaryWeight !== undefined
  return {
    config: parseCampaignConfig(merged, opts.config && flagged ? `${where} (with flags)` : where),
    input: merged,
  }
}

/** The options every command that builds a campaign config shares. */
function configOptions(command: Command): Command {
  return command
    .option('--config <file>', 'campaign settings (YAML or JSON); see docs/configuration.md')
    .option('--rounds <n>', 'search rounds (search.rounds)', configFlag('--rounds', 'search.rounds'))
    .option(
      '--budget <n>',
      'task rollouts the search may spend (search.rolloutBudget)',
      configFlag('--budget', 'search.rolloutBudget'),
    )
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
    .action(async (opts: ConfigFlags & { task: string; id?: string; wait: boolean; json?: boolean }) => {
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
        say(`Decision: ${r.decision}. ${r.reason}`)
        if (opts.json) printJson(r)
      })
    })

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
      const { est, config } = await withDeps(async (deps) => {
        // The checks a start makes (db/queries/preflight.ts): would this campaign run at all?
        let config = own.config
        let check = await campaignPreflight(deps.db, { taskId: opts.task, config, mode: 'start' })
        if (check.campaignDefaults) {
          // The task's campaign defaults (its task file's) under the settings given here, as a start does.
          const where = `campaign config with the defaults of task "${opts.task}"`
          config = parseCampaignConfig(withTaskDefaults(own.input, check.campaignDefaults), where)
          check = await campaignPreflight(deps.db, { taskId: opts.task, config, mode: 'start' })
        }
        if (!check.productionVersionId) {
          // Nothing to estimate without a task and its production prompt.
          const r = check.refusal as NonNullable<typeof check.refusal>
          throw new KaizenError(r.code, r.message, r.field ? { details: { fields: [r.field] } } : {})
        }
        const production = await getPromptVersion(deps.db, check.productionVersionId)
        const price = deps.providers.price(production.model)
        const proposerPrice = config.search.proposerModel ? deps.providers.price(config.search.proposerModel) : null
        const tokens = {
          input: approxTokens(`${production.system}\n${production.userTemplate}`) + 150,
          output: Math.round(production.params.maxTokens / 2),
        }
        const est = {
          model: production.model,
          refusal: check.refusal ? { code: check.refusal.code, message: check.refusal.message } : null,
          warnings: check.warnings,
          usableRecords: check.usableRecords,
          ...estimateCampaign({
            config,
            availableRecords: check.usableRecords ?? 0,
            tokens,
            price,
            proposerPrice,
            acceptRate: opts.acceptRate,
          }),
        }
        return { est, config }
      })
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
      const line = (n: LineageNode, depth: number) => {
        const mb = n.minibatch
          ? ` minibatch ${fmt(n.minibatch.parent)}→${fmt(n.minibatch.child)} (n=${n.minibatch.n})`
          : ''
        const scores =
          `validation ${fmt(n.validationMean)}` + `${n.holdoutMean !== null ? ` · holdout ${fmt(n.holdoutMean)}` : ''}`
        say(
          `${'  '.repeat(depth)}${depth > 0 ? '└─ ' : ''}v${n.version} [${n.operator}, round ${n.round}, ` +
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
