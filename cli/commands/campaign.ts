/**
 * @module cli/commands/campaign
 * `kaizen campaign start|status|list`.
 */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { WorkflowIdReusePolicy } from '@temporalio/client'
import type { Client } from '@temporalio/client'
import { parse as parseYaml } from 'yaml'
import { parseCampaignConfig, type CampaignConfigInput } from '../../core/config.js'
import { KaizenError } from '../../core/errors.js'
import { optimizationCampaign } from '../../workflows/campaign.js'
import { campaignIdFor, campaignStatusQuery, pauseCampaignSignal, stopCampaignSignal, type CampaignResult, type CampaignStatus } from '../../workflows/messages.js'
import { and, count, gte, isNotNull, isNull, eq } from 'drizzle-orm'
import { estimateCampaign } from '../../core/search/estimate.js'
import { getLabels } from '../../db/queries/labels.js'
import { campaignLineage, type LineageNode } from '../../db/queries/lineage.js'
import { getPromptVersion, requireTask } from '../../db/queries/prompts.js'
import { traffic } from '../../db/schema.js'
import { approxTokens } from '../../providers/simulation.js'
import { withDeps } from '../../runtime/deps.js'
import { withClient } from '../context.js'
import { fmt, printJson, say } from '../output.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function readConfigFile(path: string): Promise<CampaignConfigInput> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new KaizenError('NOT_FOUND', `cannot read --config ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    return (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) ?? {}
  } catch (err) {
    throw new KaizenError('INVALID_INPUT', `--config ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`)
  }
}

/** The campaign config: the --config file (if any) with the flags on top, validated. */
async function configFromFlags(opts: { config?: string; rounds?: number; budget?: number; canaryWeight?: number }) {
  const base = opts.config ? await readConfigFile(opts.config) : {}
  const merged = {
    ...base,
    search: { ...base.search, ...(opts.rounds ? { rounds: opts.rounds } : {}), ...(opts.budget ? { rolloutBudget: opts.budget } : {}) },
    canary: { ...base.canary, ...(opts.canaryWeight !== undefined ? { weight: opts.canaryWeight } : {}) },
  }
  return parseCampaignConfig(merged, opts.config ? `campaign config ${opts.config} (with flags)` : 'campaign flags')
}

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new KaizenError('INVALID_INPUT', `${flag} must be a positive whole number (got "${v}")`)
  return n
}

async function warnIfNoWorker(client: Client, taskQueue: string): Promise<void> {
  try {
    const r = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: taskQueue }, taskQueueType: 1 })
    if ((r.pollers ?? []).length === 0) say(`Note: no worker is polling task queue "${taskQueue}" yet; the campaign starts when one does (\`kaizen up\` or \`kaizen worker\`).`)
  } catch {
    // best effort
  }
}

export function describeStatus(s: CampaignStatus): string {
  const parts = [`${s.campaignId} · task ${s.taskId} · ${s.stage}${s.paused ? ' (paused)' : ''}`]
  if (s.stage === 'searching' || s.round > 0) parts.push(`round ${s.round}/${s.rounds}`)
  parts.push(`rollouts ${s.rolloutsUsed}/${s.rolloutBudget}`)
  if (s.bestValidationDQ !== null) parts.push(`best validation DQ ${fmt(s.bestValidationDQ)} (baseline ${fmt(s.baselineValidationDQ)})`)
  if (s.decision) parts.push(`decision ${s.decision}: ${s.reason}`)
  return parts.join(' · ')
}

export function registerCampaign(program: Command): void {
  const campaign = program.command('campaign').description('optimization campaigns')

  campaign
    .command('start')
    .description('start an optimization campaign for a task')
    .requiredOption('--task <task>', 'the task to improve')
    .option('--config <file>', 'campaign settings (YAML or JSON); see docs/configuration.md')
    .option('--rounds <n>', 'search rounds', positiveInt('--rounds'))
    .option('--budget <n>', 'task rollouts the search may spend', positiveInt('--budget'))
    .option('--canary-weight <w>', 'share of traffic for the canary, in (0, 1]', Number)
    .option('--id <campaignId>', 'campaign id (default: campaign-<task>-<time>)')
    .option('--no-wait', 'return once the campaign has started')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { task: string; config?: string; rounds?: number; budget?: number; canaryWeight?: number; id?: string; wait: boolean; json?: boolean }) => {
      const config = await configFromFlags(opts)
      const campaignId = opts.id ?? campaignIdFor(opts.task, new Date())
      await withClient(async (client, { env }) => {
        await warnIfNoWorker(client, env.TEMPORAL_TASK_QUEUE)
        const handle = await client.workflow.start(optimizationCampaign, {
          workflowId: campaignId,
          taskQueue: env.TEMPORAL_TASK_QUEUE,
          // Campaign ids are single-use: their rows, dataset and canary are keyed by the id.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          args: [{ taskId: opts.task, campaignId, trigger: 'cli', config }],
          memo: { taskId: opts.task },
        })
        say(`Campaign ${campaignId} started for task "${opts.task}".`)
        if (!opts.wait) {
          if (opts.json) printJson({ campaignId, task: opts.task, status: 'started' })
          return
        }
        let last = ''
        const result = handle.result()
        let done = false
        void result.finally(() => (done = true)).catch(() => undefined)
        while (!done) {
          const s = await handle.query(campaignStatusQuery).catch(() => null)
          if (s && describeStatus(s) !== last) say((last = describeStatus(s)))
          await Promise.race([result.catch(() => undefined), sleep(1_000)])
        }
        const r: CampaignResult = await result
        say(`Decision: ${r.decision}. ${r.reason}`)
        if (opts.json) printJson(r)
      })
    })

  campaign
    .command('status <campaignId>')
    .description('progress or outcome of a campaign')
    .option('--json', 'print as JSON')
    .action(async (campaignId: string, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        const handle = client.workflow.getHandle(campaignId)
        const d = await handle.describe()
        if (d.type !== 'optimizationCampaign') throw new KaizenError('NOT_FOUND', `${campaignId} is a ${d.type} workflow, not a campaign`)
        if (d.status.name === 'RUNNING') {
          const s = await handle.query(campaignStatusQuery)
          if (opts.json) printJson({ status: 'RUNNING', ...s })
          else say(describeStatus(s))
        } else if (d.status.name === 'COMPLETED') {
          const r: CampaignResult = await handle.result()
          if (opts.json) printJson({ status: 'COMPLETED', ...r })
          else say(`${campaignId} · completed · decision ${r.decision}: ${r.reason}`)
        } else {
          const reason = await handle.result().then(() => '', (e: Error) => (e.cause as Error | undefined)?.message ?? e.message)
          if (opts.json) printJson({ status: d.status.name, campaignId, reason })
          else say(`${campaignId} · ${d.status.name.toLowerCase()}: ${reason}`)
        }
      })
    })

  campaign
    .command('estimate')
    .description('predict the rollouts, proposer calls and dollars a campaign would spend, before running it')
    .requiredOption('--task <task>', 'the task to improve')
    .option('--config <file>', 'campaign settings (YAML or JSON)')
    .option('--rounds <n>', 'search rounds', positiveInt('--rounds'))
    .option('--budget <n>', 'task rollouts the search may spend', positiveInt('--budget'))
    .option('--accept-rate <r>', 'share of proposals expected to be accepted (0–1)', Number, 0.3)
    .option('--json', 'print as JSON')
    .action(async (opts: { task: string; config?: string; rounds?: number; budget?: number; acceptRate: number; json?: boolean }) => {
      if (!(opts.acceptRate >= 0 && opts.acceptRate <= 1)) throw new KaizenError('INVALID_INPUT', `--accept-rate must be between 0 and 1 (got ${opts.acceptRate})`)
      const config = await configFromFlags(opts)
      const est = await withDeps(async (deps) => {
        const task = await requireTask(deps.db, opts.task)
        const labels = await getLabels(deps.db, task.id)
        if (!labels.production) throw new KaizenError('NOT_FOUND', `task "${task.id}" has no production prompt yet; \`kaizen prompts\` shows its versions`)
        const production = await getPromptVersion(deps.db, labels.production.promptVersionId)
        const since = new Date(Date.now() - config.sample.windowHours * 3_600_000)
        const [row] = await deps.db
          .select({ n: count() })
          .from(traffic)
          .where(and(eq(traffic.taskId, task.id), isNull(traffic.error), isNotNull(traffic.output), gte(traffic.createdAt, since)))
        const price = deps.providers.price(production.model)
        const proposerPrice = config.search.proposerModel ? deps.providers.price(config.search.proposerModel) : null
        const tokens = { input: approxTokens(`${production.system}\n${production.userTemplate}`) + 150, output: Math.round(production.params.maxTokens / 2) }
        return { model: production.model, ...estimateCampaign({ config, availableRecords: Number(row?.n ?? 0), tokens, price, proposerPrice, acceptRate: opts.acceptRate }) }
      })
      if (opts.json) return printJson(est)
      const r = est.rollouts
      say(`Estimate for a ${config.search.strategy} campaign on task "${opts.task}" (model ${est.model}):`)
      say(`  task rollouts  ${r.total.expected} expected (${r.total.low}–${r.total.high}): baseline ${r.baseline}, search ${r.search.expected} (${r.search.low}–${r.search.high}), holdout gate ${r.holdout}`)
      say(`  proposer calls ${est.proposerCalls}`)
      say(`  dollars        ${est.usd.expected === null ? 'unknown (no price for the model)' : `$${est.usd.expected.toFixed(4)} expected, at most $${(est.usd.high as number).toFixed(4)}`}`)
      for (const a of est.assumptions) say(`  · ${a}`)
    })

  campaign
    .command('show <campaignId>')
    .description('the lineage of a campaign: how its winner (or best candidate) descends from the seed, with operators, feedback and scores')
    .option('--all', 'list every candidate, not only the winner’s line')
    .option('--json', 'print as JSON')
    .action(async (campaignId: string, opts: { all?: boolean; json?: boolean }) => {
      const lineage = await withDeps((deps) => campaignLineage(deps.db, campaignId))
      if (opts.json) return printJson(lineage)
      const line = (n: LineageNode, depth: number) => {
        const mb = n.minibatch ? ` minibatch ${fmt(n.minibatch.parent)}→${fmt(n.minibatch.child)} (n=${n.minibatch.n})` : ''
        const scores = `validation ${fmt(n.validationMean)}${n.holdoutMean !== null ? ` · holdout ${fmt(n.holdoutMean)}` : ''}`
        say(`${'  '.repeat(depth)}${depth > 0 ? '└─ ' : ''}v${n.version} [${n.operator}, round ${n.round}, ${n.status}]${mb} · ${scores}${n.parents.length > 1 ? ` · parents ${n.parents.length}` : ''}`)
        if (n.feedback.length > 0) say(`${'  '.repeat(depth + 2)}feedback used: ${n.feedback.slice(0, 2).map((f) => `"${f.slice(0, 100)}"`).join('; ')}`)
      }
      say(`Campaign ${lineage.campaignId} · task ${lineage.taskId} · ${lineage.nodes.length} candidates · decision ${lineage.decision ?? 'pending'}`)
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
        await withClient(async (client) => {
          const handle = client.workflow.getHandle(campaignId)
          const d = await handle.describe()
          if (d.type !== 'optimizationCampaign') throw new KaizenError('NOT_FOUND', `${campaignId} is a ${d.type} workflow, not a campaign`)
          if (d.status.name !== 'RUNNING') throw new KaizenError('CONFLICT', `campaign ${campaignId} is ${d.status.name.toLowerCase()}, so it cannot be ${verb === 'stop' ? 'stopped' : `${verb}d`}`)
          if (verb === 'stop') await handle.signal(stopCampaignSignal, { by: opts.by })
          else await handle.signal(pauseCampaignSignal, { by: opts.by, paused: verb === 'pause' })
          say(`Campaign ${campaignId}: ${verb} requested by ${opts.by}.`)
        })
      })
  }

  campaign
    .command('list')
    .description('recent campaigns (newest first)')
    .option('--task <task>', 'only this task')
    .option('--limit <n>', 'how many', positiveInt('--limit'), 20)
    .option('--json', 'print as JSON')
    .action(async (opts: { task?: string; limit: number; json?: boolean }) => {
      await withClient(async (client) => {
        const rows: Array<{ campaignId: string; task: string | null; status: string; startedAt: string; closedAt: string | null }> = []
        for await (const w of client.workflow.list({ query: `WorkflowType = 'optimizationCampaign'` })) {
          const task = (w.memo?.taskId as string | undefined) ?? w.workflowId.match(/^campaign-(.+?)-(\d{8}-\d{6}|nightly)/)?.[1] ?? null
          if (opts.task && task !== opts.task) continue
          rows.push({ campaignId: w.workflowId, task, status: w.status.name, startedAt: w.startTime.toISOString(), closedAt: w.closeTime?.toISOString() ?? null })
          if (rows.length >= opts.limit) break
        }
        if (opts.json) return printJson(rows)
        if (rows.length === 0) return say('No campaigns yet. Start one with `kaizen campaign start --task <task>`.')
        for (const r of rows) say(`${r.startedAt}  ${r.status.padEnd(10)}  ${r.campaignId}`)
      })
    })
}
