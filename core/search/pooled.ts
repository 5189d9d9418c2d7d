/**
 * @module core/search/pooled
 * Pooled estimates of candidate prompts' validation accuracy. Candidates in one search differ from
 * each other by a sentence or two, so each candidate's own 50-odd validation scores are not the
 * only evidence about it: every candidate sharing a sentence tells something about that sentence.
 * The model is additive: score(candidate, item) ≈ item difficulty + Σ effect(sentence in the
 * candidate) + candidate residual, fitted by ridge-penalised least squares (backfitting) on every
 * validation score the search has paid for, partial evaluations included. A candidate's estimate is
 * the average item difficulty plus its sentences' effects, plus its own residual shrunk towards 0
 * (so interactions the additive part misses still show once a candidate has enough items).
 *
 * Selecting the best of many candidates by their own noisy means over-rates the luckiest one
 * (winner's curse); the pooled estimate shares strength and is what the search ships by
 * (see `ranked` in ./common.ts).
 *
 * Pure module: all I/O goes through the ports.
 */
import { sentenceKey, sentences } from './edits.js'
import type { PromptContent } from '../prompt.js'
import { DEFAULT_STRATEGY_SETTINGS, type Candidate, type SearchPorts } from './types.js'

export interface PooledObservation {
  /** Candidate id. */
  candidate: string
  item: string
  score: number
}

export interface PooledOptions {
  /** Ridge penalty on sentence effects, in items (default 20). */
  ridge?: number
  /** A candidate's residual counts n / (n + residualPrior) (default 200). */
  residualPrior?: number
  /** Backfitting sweeps (default 25). */
  sweeps?: number
}

/** The sentence keys a prompt's instructions are made of (normalised, unique). */
export function sentenceKeys(system: string): string[] {
  return [
    ...new Set(
      sentences(system)
        .map(sentenceKey)
        .filter((s) => s.length > 0),
    ),
  ]
}

/**
 * Pooled estimate per candidate id (only candidates with at least one observation).
 * @param features candidate id → its sentence keys
 */
export function pooledEstimates(
  features: ReadonlyMap<string, readonly string[]>,
  observations: readonly PooledObservation[],
  options: PooledOptions = {},
): Map<string, number> {
  const ridge = options.ridge ?? DEFAULT_STRATEGY_SETTINGS.ridge
  const residualPrior = options.residualPrior ?? DEFAULT_STRATEGY_SETTINGS.residualPrior
  const sweeps = options.sweeps ?? 25
  const obs = observations.filter((o) => features.has(o.candidate))
  const out = new Map<string, number>()
  if (obs.length === 0) return out

  // Index sentences that vary across the observed candidates (a sentence every one has is part of the intercept).
  const observed = [...new Set(obs.map((o) => o.candidate))]
  const count = new Map<string, number>()
  for (const c of observed) for (const f of features.get(c) ?? []) count.set(f, (count.get(f) ?? 0) + 1)
  const varying = [...count.entries()].filter(([, n]) => n < observed.length).map(([f]) => f)
  const fIndex = new Map(varying.map((f, i) => [f, i]))
  const cFeat = new Map(
    observed.map((c) => [
      c,
      (features.get(c) ?? []).map((f) => fIndex.get(f)).filter((i): i is number => i !== undefined),
    ]),
  )
  const items = [...new Set(obs.map((o) => o.item))]
  const iIndex = new Map(items.map((it, i) => [it, i]))
  // Work per candidate, not per score: each candidate's sum, count and items.
  const cIndex = new Map(observed.map((c, j) => [c, j]))
  const C = observed.length
  const S = new Float64Array(C)
  const N = new Float64Array(C)
  const cItems: number[][] = observed.map(() => [])
  const Y = new Float64Array(items.length)
  const perItem = new Float64Array(items.length)
  for (const o of obs) {
    const j = cIndex.get(o.candidate) as number
    const i = iIndex.get(o.item) as number
    S[j] = (S[j] as number) + o.score
    N[j] = (N[j] as number) + 1
    ;(cItems[j] as number[]).push(i)
    Y[i] = (Y[i] as number) + o.score
    perItem[i] = (perItem[i] as number) + 1
  }
  const feats = observed.map((c) => cFeat.get(c) as number[])
  const withFeature: number[][] = varying.map(() => [])
  feats.forEach((fs, j) => {
    for (const k of fs) (withFeature[k] as number[]).push(j)
  })

  const w = new Float64Array(varying.length)
  const pred = new Float64Array(C) // Σ effects of each candidate's sentences, kept current
  const a = new Float64Array(items.length)
  const A = new Float64Array(C) // Σ difficulties of the items each candidate was scored on
  const difficulties = () => {
    const P = new Float64Array(items.length)
    for (let j = 0; j < C; j++) for (const i of cItems[j] as number[]) P[i] = (P[i] as number) + (pred[j] as number)
    for (let i = 0; i < items.length; i++) a[i] = ((Y[i] as number) - (P[i] as number)) / (perItem[i] as number)
    for (let j = 0; j < C; j++) A[j] = (cItems[j] as number[]).reduce((s, i) => s + (a[i] as number), 0)
  }
  for (let sweep = 0; sweep < sweeps; sweep++) {
    difficulties()
    // Each sentence effect given the rest (Gauss–Seidel over sentences).
    for (let k = 0; k < varying.length; k++) {
      const js = withFeature[k] as number[]
      const old = w[k] as number
      let s = 0
      let m = 0
      for (const j of js) {
        const n = N[j] as number
        s += (S[j] as number) - (A[j] as number) - n * ((pred[j] as number) - old)
        m += n
      }
      const next = s / (m + ridge)
      w[k] = next
      for (const j of js) pred[j] = (pred[j] as number) + next - old
    }
  }
  difficulties()
  const meanA = a.reduce((s, x) => s + x, 0) / items.length
  for (let j = 0; j < C; j++) {
    const residual = (S[j] as number) - (A[j] as number) - (N[j] as number) * (pred[j] as number)
    out.set(observed[j] as string, meanA + (pred[j] as number) + residual / ((N[j] as number) + residualPrior))
  }
  return out
}

/**
 * What a candidate is made of, for pooling: its model, and its instruction sentences and
 * demonstrations on that model (a sentence's effect is estimated per model: model × sentence).
 */
export function promptFeatures(content: PromptContent): string[] {
  const parts = [
    ...sentenceKeys(content.system),
    ...(content.examples ?? []).map((d) => `demo:${JSON.stringify(d.input)}`),
  ]
  return [`model:${content.model}`, ...parts.map((p) => `${content.model}\u0000${p}`)]
}

const fitted = new WeakMap<readonly Candidate[], string>()

/**
 * Set every scored candidate's `estimate` from the validation scores the search has already paid
 * for (every candidate's, rejected ones' partial evaluations included). Costs no rollouts; does
 * nothing when the ports cannot read known scores.
 */
export async function reestimate(
  pool: readonly Candidate[],
  ports: SearchPorts,
  options: PooledOptions & { asOfRoundStart?: boolean } = {},
): Promise<void> {
  if (!ports.knownScores) return
  // Nothing new since the last fit of this pool (no candidate added, no rollout paid): keep it.
  const remaining = await ports.rolloutsRemaining()
  const signature = [
    pool.length,
    remaining,
    options.asOfRoundStart === true,
    options.ridge ?? DEFAULT_STRATEGY_SETTINGS.ridge,
    options.residualPrior ?? DEFAULT_STRATEGY_SETTINGS.residualPrior,
  ].join(':')
  if (fitted.get(pool) === signature) return
  fitted.set(pool, signature)
  const features = new Map<string, string[]>()
  const observations: PooledObservation[] = []
  for (const c of pool) {
    features.set(c.id, promptFeatures(c.content))
    for (const s of await ports.knownScores(c.content, ports.validationIds, {
      asOfRoundStart: options.asOfRoundStart === true,
    }))
      if (s.score !== null) observations.push({ candidate: c.id, item: s.itemId, score: s.score })
  }
  const est = pooledEstimates(features, observations, options)
  for (const c of pool)
    if (c.status !== 'rejected' && c.validationMean !== null) c.estimate = est.get(c.id) ?? c.validationMean
}
