/**
 * @module activities/holdout
 * The evidence for the holdout gate (`compareOnHoldout`; the decision is core/gate.ts): the
 * finalist against the baseline on items neither was selected on, with a paired test, plus the
 * task's golden set and the safety checks (no regression allowed) and the cost ratio.
 */
import { cancellationSignal } from '@temporalio/activity'
import { and, asc, eq } from 'drizzle-orm'
import type { FanOutSettings, NeedsEvaluations } from '../core/fanout.js'
import {
  decideAgility,
  migrationFinalist,
  migrationDrop,
  type AgilityDecision,
  type AgilityObjective,
  type MigrationDrop,
  type PairMeasure,
} from '../core/agility.js'
import { isKaizenError } from '../core/errors.js'
import type { HoldoutComparison } from '../core/gate.js'
import { compareGolden, compareSafety, nonRegression } from '../core/ship.js'
import { unchangedOn } from '../core/search/models.js'
import { pairedTest } from '../core/stats/paired.js'
import type { Db } from '../db/client.js'
import { getGraderSpec } from '../db/queries/graders.js'
import { contentOf, getPromptVersion } from '../db/queries/prompts.js'
import { candidates, goldenCases, promptVersions, traffic } from '../db/schema.js'
import { Evaluator, type EvalItem, type EvalOutcome } from '../evaluation/evaluator.js'
import { campaignRow, loadItems, progress } from './campaign-data.js'
import type { ActivityDeps } from './deps.js'
import { EvaluationPlanner } from './evaluation.js'

export interface CompareOnHoldoutInput {
  campaignId: string
  datasetId: string
  baselineVersionId: string
  winnerVersionId: string
  graderVersionId: string
  alpha: number
  minEffect: number
  goldenTolerance?: number
  seed: string
  budgetUsd?: number | null
  fanOut?: FanOutSettings
}

export type { HoldoutComparison } from '../core/gate.js'

/** The task's golden cases, as evaluation items. */
function goldenItems(db: Db, taskId: string): Promise<EvalItem[]> {
  return db
    .select({
      id: traffic.id,
      taskId: traffic.taskId,
      input: traffic.input,
      reference: traffic.reference,
      simExampleKey: traffic.simExampleKey,
    })
    .from(goldenCases)
    .innerJoin(traffic, eq(traffic.id, goldenCases.trafficId))
    .where(eq(goldenCases.taskId, taskId))
    .orderBy(asc(goldenCases.trafficId))
}

/** A migration's unchanged arm: production's prompt on the target model, as the search scored it (null: none). */
async function unchangedVersion(db: Db, campaignId: string, model: string): Promise<string | null> {
  const rows = await db
    .select({
      id: candidates.id,
      versionId: candidates.promptVersionId,
      parentIds: candidates.parentCandidateIds,
      operator: candidates.operator,
      status: candidates.status,
      content: { model: promptVersions.model },
    })
    .from(candidates)
    .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
    .where(eq(candidates.campaignId, campaignId))
  return unchangedOn(rows, model)?.versionId ?? null
}

interface ArmOutcomes {
  holdout: EvalOutcome[]
  golden: EvalOutcome[]
}

/** The verdict from both arms' outcomes (the rollouts count is added by the caller). */
function holdoutVerdict(
  input: Pick<CompareOnHoldoutInput, 'alpha' | 'minEffect' | 'goldenTolerance' | 'seed'>,
  golden: readonly EvalItem[],
  base: ArmOutcomes,
  win: ArmOutcomes,
): Omit<HoldoutComparison, 'rolloutsUsed'> {
  const goldenCmp =
    golden.length > 0
      ? compareGolden(
          golden.map((g, i) => ({
            itemId: g.id,
            baselinePass: base.golden[i]?.pass ?? null,
            winnerPass: win.golden[i]?.pass ?? null,
          })),
        )
      : null
  const safety = compareSafety(
    [...base.holdout, ...base.golden].map((o) => o.safety),
    [...win.holdout, ...win.golden].map((o) => o.safety),
  )
  const { failures: regressions } = nonRegression({
    golden: goldenCmp,
    safety,
    goldenTolerance: input.goldenTolerance ?? 0,
  })
  const pairs = base.holdout
    .map((b, i) => [b.score, win.holdout[i]?.score ?? null] as const)
    .filter((p): p is readonly [number, number] => p[0] !== null && p[1] !== null)
  const test = pairedTest(
    pairs.map((p) => p[0]),
    pairs.map((p) => p[1]),
    { alpha: input.alpha, minEffect: input.minEffect, seed: `${input.seed}:holdout` },
  )
  const meanCost = (xs: readonly EvalOutcome[]) => xs.reduce((a, x) => a + x.costUsd, 0) / Math.max(1, xs.length)
  const costRatio = meanCost(base.holdout) > 0 ? meanCost(win.holdout) / meanCost(base.holdout) : 1
  return {
    ...test,
    baselineHoldoutDQ: test.meanBaseline,
    winnerHoldoutDQ: test.meanCandidate,
    costRatio,
    golden: goldenCmp,
    safety,
    regressions,
  }
}

export function createHoldoutActivities(deps: ActivityDeps) {
  const { db } = deps
  const evaluator = new Evaluator(deps)
  /** Evaluate a prompt version on the holdout items (the default) or the golden set, under the campaign's budget. */
  const runner =
    (
      input: { campaignId: string; graderVersionId: string; budgetUsd?: number | null },
      spec: Awaited<ReturnType<typeof getGraderSpec>>,
      items: readonly EvalItem[],
    ) =>
    async (versionId: string, on: readonly EvalItem[] = items) =>
      evaluator.evaluate({
        campaignId: input.campaignId,
        content: contentOf(await getPromptVersion(db, versionId)),
        items: on,
        graderVersionId: input.graderVersionId,
        spec,
        signal: cancellationSignal(),
        onProgress: progress(on === items ? 'holdout' : 'golden'),
        budgetUsd: input.budgetUsd ?? null,
      })
  return {
    /** The holdout gate: the finalist against the baseline on items neither was selected on. */
    async compareOnHoldout(input: CompareOnHoldoutInput): Promise<HoldoutComparison | NeedsEvaluations> {
      const spec = await getGraderSpec(db, input.graderVersionId)
      const items = await loadItems(db, input.datasetId, 'holdout')
      const campaign = await campaignRow(db, input.campaignId)
      const golden = await goldenItems(db, campaign.taskId)
      const run = runner(input, spec, items)
      if (input.fanOut) {
        const planner = new EvaluationPlanner(deps, input.fanOut)
        for (const versionId of [input.baselineVersionId, input.winnerVersionId]) {
          const content = contentOf(await getPromptVersion(db, versionId))
          await planner.defer({ content }, [...items, ...golden])
        }
        if (planner.deferred) return planner.needs()
      }
      const baseHoldout = await run(input.baselineVersionId)
      const winHoldout = await run(input.winnerVersionId)
      const base = { holdout: baseHoldout, golden: golden.length > 0 ? await run(input.baselineVersionId, golden) : [] }
      const win = { holdout: winHoldout, golden: golden.length > 0 ? await run(input.winnerVersionId, golden) : [] }
      const verdict = holdoutVerdict(input, golden, base, win)
      for (const [versionId, mean] of [
        [input.baselineVersionId, verdict.meanBaseline],
        [input.winnerVersionId, verdict.meanCandidate],
      ] as const) {
        await db
          .update(candidates)
          .set({ holdoutMean: mean })
          .where(and(eq(candidates.campaignId, input.campaignId), eq(candidates.promptVersionId, versionId)))
      }
      return { ...verdict, rolloutsUsed: await deps.models.rollouts(input.campaignId) }
    },

    /**
     * A search over models: production and each model's finalists on the holdout, the front and the
     * decision (core/agility.ts); the pair that qualifies is then checked like any winner (golden
     * set, safety) against production on the same items.
     */
    async compareFinalists(input: CompareFinalistsInput): Promise<FinalistsComparison | NeedsEvaluations> {
      const spec = await getGraderSpec(db, input.graderVersionId)
      const items = await loadItems(db, input.datasetId, 'holdout')
      const campaign = await campaignRow(db, input.campaignId)
      const golden = await goldenItems(db, campaign.taskId)
      const finalists = input.finalists.filter((f) => f.versionId !== input.baselineVersionId)
      const versions = [input.baselineVersionId, ...finalists.map((f) => f.versionId)]
      const toModel = input.objective.kind === 'migrate' ? input.objective.toModel : null
      const unchangedId = toModel ? await unchangedVersion(db, input.campaignId, toModel) : null
      if (input.fanOut) {
        const planner = new EvaluationPlanner(deps, input.fanOut)
        for (const versionId of versions)
          await planner.defer({ content: contentOf(await getPromptVersion(db, versionId)) }, [...items, ...golden])
        if (unchangedId && !versions.includes(unchangedId))
          await planner.defer({ content: contentOf(await getPromptVersion(db, unchangedId)) }, items)
        if (planner.deferred) return planner.needs()
      }
      const run = runner(input, spec, items)
      const measure = (id: string, model: string, out: readonly EvalOutcome[]): PairMeasure => ({
        id,
        model,
        scores: out.map((o) => o.score),
        costPerRequest: out.reduce((a, o) => a + o.costUsd, 0) / Math.max(1, out.length),
        latencyMs: out.reduce((a, o) => a + o.latencyMs, 0) / Math.max(1, out.length),
      })
      const baseline = await run(input.baselineVersionId, items)
      const baselineModel = contentOf(await getPromptVersion(db, input.baselineVersionId)).model
      const outcomes = new Map<string, EvalOutcome[]>()
      for (const f of finalists) outcomes.set(f.versionId, await run(f.versionId, items))
      const production = measure(input.baselineVersionId, baselineModel, baseline)
      const measures = finalists.map((f) => measure(f.versionId, f.model, outcomes.get(f.versionId) as EvalOutcome[]))
      const decision = decideAgility(input.objective, production, measures, {
        alpha: input.alpha,
        seed: `${input.seed}:agility`,
      })
      let shipped: Omit<HoldoutComparison, 'rolloutsUsed'> | null = null
      if (decision.ship) {
        const base = { holdout: baseline, golden: golden.length > 0 ? await run(input.baselineVersionId, golden) : [] }
        const win = {
          holdout: outcomes.get(decision.ship) as EvalOutcome[],
          golden: golden.length > 0 ? await run(decision.ship, golden) : [],
        }
        shipped = holdoutVerdict({ ...input, minEffect: 0 }, golden, base, win)
      }
      // A migration's drop: production's prompt unchanged on the target model, on the same items
      // (after the decision, which it does not change; its holdout reserve was kept by the search).
      let drop: MigrationDrop | null = null
      if (toModel && unchangedId) {
        const out =
          outcomes.get(unchangedId) ??
          (await run(unchangedId, items).catch((err: unknown) => {
            if (isKaizenError(err) && err.code === 'BUDGET_EXHAUSTED') return null
            throw err
          }))
        if (out) {
          if (!outcomes.has(unchangedId)) outcomes.set(unchangedId, out)
          const targetId = migrationFinalist(decision, toModel)
          const target = measures.find((m) => m.id === targetId) ?? null
          drop = migrationDrop(production, measure(unchangedId, toModel, out), target)
        }
      }
      for (const [versionId, out] of [[input.baselineVersionId, baseline], ...outcomes] as const) {
        const xs = out.map((o) => o.score).filter((x): x is number => x !== null)
        await db
          .update(candidates)
          .set({ holdoutMean: xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length })
          .where(and(eq(candidates.campaignId, input.campaignId), eq(candidates.promptVersionId, versionId)))
      }
      return { decision, shipped, drop, rolloutsUsed: await deps.models.rollouts(input.campaignId) }
    },
  }
}

export interface CompareFinalistsInput {
  campaignId: string
  datasetId: string
  baselineVersionId: string
  finalists: ReadonlyArray<{ model: string; versionId: string }>
  graderVersionId: string
  objective: AgilityObjective
  alpha: number
  goldenTolerance?: number
  seed: string
  budgetUsd?: number | null
  fanOut?: FanOutSettings
}

export interface FinalistsComparison {
  decision: AgilityDecision
  /** The qualifying pair against production, as the holdout gate compares a winner (null: none qualifies). */
  shipped: Omit<HoldoutComparison, 'rolloutsUsed'> | null
  /** A migration's drop on the holdout (null: not a migration, or not measured: the spend budget ran out). */
  drop?: MigrationDrop | null
  rolloutsUsed: number
}
