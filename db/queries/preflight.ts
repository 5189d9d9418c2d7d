/**
 * @module db/queries/preflight
 * Would a campaign run? The checks a campaign's first steps make (`beginCampaign`,
 * `snapshotDataset` in activities/campaign.ts), made up front and read-only, so that nothing is
 * started or scheduled that is bound to fail:
 *
 * - the task exists (with a "did you mean" among the known tasks);
 * - it has a production prompt version to improve;
 * - it has a grader, or a scenario to derive one from;
 * - the campaign id, when given, was not used before (campaign ids are single-use);
 * - enough usable traffic: the same seeded sample the snapshot would draw (`sampleTraffic`, same
 *   filters), at least `sample.minItems` records in the last `sample.windowHours`, and at least
 *   3 items in every split. For a schedule (runs start later, on later traffic) too little traffic
 *   is a warning, not a refusal;
 * - a `search.rolloutBudget` that scoring the baseline would use up (it counts against the budget
 *   before the search does) is a warning: cached answers of earlier campaigns may still leave some;
 * - with prices (`options.pricing`): every model a search over models would call (`search.models`,
 *   or a migration's `toModel`) is served by a configured provider and has a price, with a "did
 *   you mean" among the models that have one; and a `search.budgetUsd` that covers more than the
 *   baseline and the holdout gate, at the production model's price (core/search/estimate.ts
 *   `budgetShortfall`).
 *
 * One function, used in two ways: directly by processes that hold the database (`kaizen serve`,
 * `kaizen up`, `kaizen campaign estimate`), and by the CLI through a worker (the `campaignPreflight`
 * workflow and the `preflightCampaign` activity), because the CLI's Temporal-only commands may have
 * no database access. What it is asked and answers is core/preflight.ts (workflows share it).
 */
import { eq } from 'drizzle-orm'
import type { PreflightInput, PreflightReport, PreflightRefusal } from '../../core/preflight.js'
import { budgetShortfall, callTokens, estimateCampaign, splitSizes } from '../../core/search/estimate.js'
import { searchModels } from '../../core/config.js'
import { didYouMean } from '../../core/strict.js'
import { unitHash } from '../../lib/hash.js'
import type { Db } from '../client.js'
import { campaigns, tasks } from '../schema.js'
import { activeGraderVersionId } from './graders.js'
import { getLabels } from './labels.js'
import { getPromptVersion } from './prompts.js'
import { sampleTraffic } from './sampling.js'

/**
 * What a process knows of models, for the model and spend-budget checks: a model's price per
 * million tokens, the calls a worker has in flight, and which models its providers serve.
 */
export interface PreflightPricing {
  price(model: string): { inputPerMTok: number; outputPerMTok: number } | null
  /** KAIZEN_EVAL_CONCURRENCY: the spend check keeps the worst case of each call in flight. */
  inFlight: number
  /** Why no configured provider serves a model, or null when one does. */
  unserved(model: string): string | null
  /** The models with a known price (simulated tiers, the price table), for a "did you mean". */
  known(): readonly string[]
}

/** The pricing of a process that holds a provider registry (a worker's, the API server's, `kaizen up`'s). */
export function pricingOf(deps: {
  providers: Pick<PreflightPricing, 'price'> & {
    unservedReason(model: string): string | null
    knownModels(): readonly string[]
  }
  evalConcurrency: number
}): PreflightPricing {
  const { providers } = deps
  return {
    price: (model) => providers.price(model),
    inFlight: deps.evalConcurrency,
    unserved: (model) => providers.unservedReason(model),
    known: () => providers.knownModels(),
  }
}

/**
 * A search over models that would fail at its first round, after paying for the sample and the
 * baseline: a model no configured provider serves, or one without a price (the search compares
 * costs). Named by the field it comes from: `search.models`, or a migration's `toModel`.
 */
function modelRefusal(search: PreflightInput['config']['search'], pricing: PreflightPricing): PreflightRefusal | null {
  const name = search.models ? 'search.models' : 'search.objective.toModel'
  const field = `config.${name}`
  for (const model of searchModels(search)) {
    const unserved = pricing.unserved(model)
    if (unserved) return { code: 'INVALID_INPUT', field, message: `${name}: ${unserved}` }
    if (pricing.price(model)) continue
    const hint = didYouMean(model, pricing.known())
    return {
      code: 'INVALID_INPUT',
      field,
      message:
        `${name}: no price for model "${model}"${hint ? ` (did you mean "${hint}"?)` : ''}; ` +
        `the search compares costs, so each model needs one: a simulated tier of the task's scenario, or an entry ` +
        `in the price table (KAIZEN_PRICES_FILE, docs/model-agility.md)`,
    }
  }
  return null
}

/**
 * @param options.pricing without it, the spend budget is not checked (a caller with no prices)
 */
export async function campaignPreflight(
  db: Db,
  input: PreflightInput,
  options: { now?: Date; pricing?: PreflightPricing } = {},
): Promise<PreflightReport> {
  const now = options.now ?? new Date()
  const report: PreflightReport = {
    taskId: input.taskId,
    mode: input.mode,
    refusal: null,
    warnings: [],
    usableRecords: null,
    productionVersionId: null,
    grader: null,
  }
  const refuse = (refusal: PreflightRefusal) => ((report.refusal = refusal), report)

  const task = await db.query.tasks.findFirst({ where: eq(tasks.id, input.taskId) })
  if (!task) {
    const known = (await db.select({ id: tasks.id }).from(tasks)).map((t) => t.id).sort()
    const hint = didYouMean(input.taskId, known)
    return refuse({
      code: 'NOT_FOUND',
      field: 'task',
      message:
        `unknown task "${input.taskId}"${hint ? `; did you mean "${hint}"?` : ''} (known tasks: ` +
        `${known.join(', ') || 'none yet; run `kaizen up` or `kaizen demo --once`'})`,
    })
  }
  const labels = await getLabels(db, task.id)
  if (!labels.production)
    return refuse({
      code: 'CONFLICT',
      field: 'task',
      message: `task "${task.id}" has no production prompt version to improve`,
    })
  report.productionVersionId = labels.production.promptVersionId
  report.campaignDefaults = task.campaignDefaults ?? null

  const grader = await activeGraderVersionId(db, task.id)
  report.grader = grader ?? (task.scenarioId ? `scenario:${task.scenarioId}` : null)
  if (!report.grader)
    return refuse({
      code: 'CONFIG_ERROR',
      field: 'task',
      message:
        `task "${task.id}" has no grader; set one with ` + `\`kaizen grader set --task ${task.id} --file grader.yaml\``,
    })

  if (input.campaignId) {
    const used = await db.query.campaigns.findFirst({
      where: eq(campaigns.id, input.campaignId),
      columns: { status: true },
    })
    if (used)
      return refuse({
        code: 'CONFLICT',
        field: 'id',
        message:
          `campaign id "${input.campaignId}" was already used (that campaign is ${used.status}); campaign ids ` +
          `are single-use, pick another`,
      })
  }

  const models = options.pricing && modelRefusal(input.config.search, options.pricing)
  if (models) return refuse(models)

  if (labels.canary?.canaryId && input.config.canary.onConflict === 'skip') {
    report.warnings.push(
      `canary ${labels.canary.canaryId} is running for task "${task.id}"; with canary.onConflict "skip", a ` +
        `winner found while it runs gets no canary (approve or reject it first, or set canary.onConflict: ` +
        `supersede)`,
    )
  }

  // The sample the snapshot would draw: same seed, filters and size, over the window ending now.
  const { size, windowHours, minItems } = input.config.sample
  const seed = input.config.seed ?? input.campaignId ?? `preflight-${task.id}`
  const ids = await sampleTraffic(db, {
    taskId: task.id,
    seed,
    size,
    since: new Date(now.getTime() - windowHours * 3_600_000),
    until: now,
    stratifyBy: input.config.sample.stratifyBy ?? null,
    halfLifeHours: input.config.sample.halfLifeHours ?? null,
    dedupe: input.config.sample.dedupe ?? true,
  })
  report.usableRecords = ids.length
  let shortage: PreflightRefusal | null = null
  if (ids.length < minItems) {
    shortage = {
      code: 'INSUFFICIENT_DATA',
      message:
        `task "${task.id}" has ${ids.length} usable traffic records (with a known outcome, no error) in the ` +
        `last ${windowHours} h; ` +
        `a campaign needs at least ${minItems}. Send more traffic, or lower sample.minItems / raise ` +
        `sample.windowHours.`,
    }
  } else if (input.mode === 'start') {
    // Only a starting campaign's seed is known: its splits are exactly the snapshot's.
    const { train, validation } = input.config.splits
    const counts = { train: 0, validation: 0, holdout: 0 }
    for (const id of ids) {
      const u = unitHash(seed, 'split', id)
      counts[u < train ? 'train' : u < train + validation ? 'validation' : 'holdout']++
    }
    const small = (Object.keys(counts) as Array<keyof typeof counts>).find((s) => counts[s] < 3)
    if (small)
      shortage = {
        code: 'INSUFFICIENT_DATA',
        message: `the ${small} split would get ${counts[small]} items; sample more traffic or change the split shares`,
      }
  }
  if (shortage) {
    if (input.mode === 'start') return refuse(shortage)
    report.warnings.push(`${shortage.message} Until then, every scheduled run will fail for this reason.`)
  }

  // The rollout budget covers the baseline's scoring (train and validation) before the search: one
  // the baseline uses up leaves the search nothing, unless earlier campaigns' answers are cached.
  const split = splitSizes(input.config, shortage ? size : ids.length)
  const baseline = split.train + split.validation
  if (input.config.search.rolloutBudget <= baseline)
    report.warnings.push(
      `search.rolloutBudget ${input.config.search.rolloutBudget} is used up by scoring the baseline on about ` +
        `${baseline} training and validation items, so the search can try no prompt unless those answers are ` +
        `cached; raise search.rolloutBudget above ${baseline} or lower sample.size.`,
    )

  // A spend budget that leaves the search nothing: the campaign would pay for the baseline and the
  // holdout gate and try no prompt (a schedule's runs too, once there is traffic: sized at sample.size).
  const budgetUsd = input.config.search.budgetUsd
  if (options.pricing && budgetUsd !== undefined) {
    const version = await getPromptVersion(db, report.productionVersionId)
    const price = options.pricing.price(version.model)
    const { budget } = estimateCampaign({
      config: input.config,
      availableRecords: shortage ? input.config.sample.size : ids.length,
      tokens: callTokens(version),
      price,
      budgetCheck: { maxTokens: version.params.maxTokens, inFlight: options.pricing.inFlight },
    })
    const why = budget ? budgetShortfall(budget) : null
    if (why) return refuse({ code: 'INVALID_INPUT', field: 'config.search.budgetUsd', message: why })
  }
  return report
}
