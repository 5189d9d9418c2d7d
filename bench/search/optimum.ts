/**
 * The exact objective of the search benchmark: the mean success probability of a set of clauses
 * over a fixed list of examples (no sampling noise), and the best set of clauses under the task's
 * clause limit — by exhaustive enumeration when there are at most `maxSubsets` subsets (default
 * 3,000,000, which covers every instance of the bundled families), otherwise by exact-objective
 * multistart local search (add / remove / swap moves, pair moves for synergy pairs, then
 * perturbation restarts from the best set).
 *
 * `exactAccuracy` repeats `SimWorld.logit`'s additions term by term in the same order, so it equals
 * the mean of `world.probability` to the last bit. The searches group examples by (cluster,
 * required clauses) and read each group's sigmoid sum from a table interpolated on a fine grid,
 * whose error has a proven bound (TABLE_ERROR, about 1.5e-7); enumeration re-scores every subset
 * within twice that bound of the best on the exact objective, so its answer is the exact optimum.
 * Both report their answer's accuracy through `exactAccuracy`.
 */
import { Rng } from '../../core/rng.js'
import { normalHash } from '../../lib/hash.js'
import type { Scenario } from '../../sim/scenario.js'
import { normalizeText, type SimWorld } from '../../sim/world.js'

export type Split = 'test' | 'train' | 'validation' | 'holdout'

/**
 * Keys of the first `n` examples of a split (`test-0`, `test-1`, …). Examples are functions of the
 * scenario seed and the key (sim/generator.ts), so the same keys give different examples in
 * different instances, and the splits never share an example.
 */
export function exampleKeys(scenario: Scenario, split: Split, n: number): string[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`exampleKeys: n must be a whole number ≥ 0 (got ${n})`)
  void scenario // keys are scenario-independent; the scenario seed makes the examples differ
  return Array.from({ length: n }, (_, i) => `${split}-${i}`)
}

/** The first sentence of every prompt `promptFor` builds; it names no clause. */
export const PROMPT_PREAMBLE = 'Read the input and answer as instructed.'

/**
 * Instruction text holding exactly these clauses: a preamble, then the first paraphrase of each
 * clause (one sentence each). `world.parseClauses` maps it back to exactly these clauses.
 */
export function promptFor(scenario: Scenario, clauses: readonly string[]): string {
  const wanted = [...new Set(clauses)]
  const sentences = wanted.map((id) => {
    const c = scenario.clauses.find((x) => x.id === id)
    if (!c) throw new Error(`promptFor: unknown clause "${id}" in scenario ${scenario.id}`)
    const p = (c.paraphrases[0] as string).trim()
    return /[.!?]$/.test(p) ? p : `${p}.`
  })
  const text = [PROMPT_PREAMBLE, ...sentences].join(' ')
  // The same matching as SimWorld.parseClauses: a paraphrase found anywhere in the normalised text.
  const norm = normalizeText(text)
  const found = scenario.clauses
    .filter((c) => c.paraphrases.some((p) => norm.includes(normalizeText(p))))
    .map((c) => c.id)
  if (found.length !== wanted.length || !wanted.every((id) => found.includes(id))) {
    throw new Error(
      `promptFor: the text for [${wanted.join(', ')}] parses as [${found.join(', ')}] in scenario ` +
        `${scenario.id} (a paraphrase contains another)`,
    )
  }
  return text
}

// ---------------------------------------------------------------------------------------------
// Precomputed world data

interface ExampleSet {
  n: number
  base: Float64Array
  cluster: Int32Array
  /** Required clause indices of example i: reqIdx[reqStart[i] .. reqStart[i+1]). */
  reqStart: Int32Array
  reqIdx: Int32Array
  /** Examples grouped by (cluster, required set), for the regrouped objective. */
  types: Array<{ cluster: number; req: Int32Array; start: number; end: number }>
  /** Bases ordered by type. */
  typedBase: Float64Array
}

interface Prep {
  ids: string[]
  index: Map<string, number>
  clusters: string[]
  /** clusterNoiseSd · normalHash(seed, 'cluster-effect', cluster, clause), per cluster, by clause id. */
  noise: Map<string, Float64Array>
  sets: WeakMap<readonly string[], ExampleSet>
}

const preps = new WeakMap<SimWorld, Prep>()

function prep(world: SimWorld): Prep {
  let p = preps.get(world)
  if (!p) {
    const s = world.scenario
    p = {
      ids: s.clauses.map((c) => c.id),
      index: new Map(s.clauses.map((c, i) => [c.id, i])),
      clusters: s.clusters.map((c) => c.id),
      noise: new Map(),
      sets: new WeakMap(),
    }
    preps.set(world, p)
  }
  return p
}

function noiseOf(world: SimWorld, p: Prep, clause: string): Float64Array {
  let v = p.noise.get(clause)
  if (!v) {
    const s = world.scenario
    v = Float64Array.from(
      p.clusters,
      (cluster) => s.effects.clusterNoiseSd * normalHash(s.seed, 'cluster-effect', cluster, clause),
    )
    p.noise.set(clause, v)
  }
  return v
}

function exampleSet(world: SimWorld, p: Prep, keys: readonly string[]): ExampleSet {
  const cached = p.sets.get(keys)
  if (cached) return cached
  const n = keys.length
  const clusterIndex = new Map(p.clusters.map((c, i) => [c, i]))
  const base = new Float64Array(n)
  const cluster = new Int32Array(n)
  const reqStart = new Int32Array(n + 1)
  const req: number[] = []
  const typeOf = new Map<string, number>()
  const typeList: Array<{ cluster: number; req: Int32Array; members: number[] }> = []
  keys.forEach((key, i) => {
    const ex = world.example(key)
    base[i] = ex.base
    const c = clusterIndex.get(ex.cluster)
    if (c === undefined) throw new Error(`example ${key} has unknown cluster ${ex.cluster}`)
    cluster[i] = c
    const r = ex.required.map((id) => {
      const j = p.index.get(id)
      if (j === undefined) throw new Error(`example ${key} requires unknown clause ${id}`)
      return j
    })
    req.push(...r)
    reqStart[i + 1] = req.length
    const sorted = [...r].sort((a, b) => a - b)
    const tkey = `${c}:${sorted.join(',')}`
    let t = typeOf.get(tkey)
    if (t === undefined) {
      t = typeList.length
      typeOf.set(tkey, t)
      typeList.push({ cluster: c, req: Int32Array.from(sorted), members: [] })
    }
    typeList[t]?.members.push(i)
  })
  const typedBase = new Float64Array(n)
  const types: ExampleSet['types'] = []
  let at = 0
  for (const t of typeList) {
    const start = at
    for (const i of t.members) typedBase[at++] = base[i] as number
    types.push({ cluster: t.cluster, req: t.req, start, end: at })
  }
  const set: ExampleSet = { n, base, cluster, reqStart, reqIdx: Int32Array.from(req), types, typedBase }
  p.sets.set(keys, set)
  return set
}

// ---------------------------------------------------------------------------------------------
// Exact accuracy

/**
 * Mean of `world.probability(world.example(k), clauses, modelId)` over the keys, computed from
 * cached per-example data with the same additions in the same order (bit-for-bit equal).
 */
export function exactAccuracy(
  world: SimWorld,
  clauses: readonly string[],
  keys: readonly string[],
  modelId = 'sim-standard',
): number {
  if (keys.length === 0) throw new RangeError('exactAccuracy needs at least one example key')
  const p = prep(world)
  const set = exampleSet(world, p, keys)
  const e = world.scenario.effects
  const ability = world.model(modelId).ability
  const present = [...new Set(clauses)]
  const has = new Set(present)
  const flag = new Uint8Array(p.ids.length)
  for (const id of present) {
    const i = p.index.get(id)
    if (i !== undefined) flag[i] = 1
  }
  // The terms SimWorld.logit adds after the requirements, per cluster, in its order.
  const lengthCost = e.length.costPerClause * Math.max(0, present.length - e.length.freeClauses)
  const terms = p.clusters.map((cluster, c) => {
    const t: number[] = present.map((id) => noiseOf(world, p, id)[c] as number)
    for (const g of e.generic) if (has.has(g.clause)) t.push(g.weight)
    for (const k of e.conflicts) {
      if (!has.has(k.clause)) continue
      if (k.hurts.includes(cluster)) t.push(-k.weight)
      else if (k.helps.includes(cluster)) t.push(k.helpWeight)
    }
    for (const syn of e.synergies) {
      const m = (has.has(syn.clauses[0]) ? 1 : 0) + (has.has(syn.clauses[1]) ? 1 : 0)
      if (m === 2) t.push(syn.together)
      else if (m === 1) t.push(syn.alone)
    }
    t.push(-lengthCost)
    return Float64Array.from(t)
  })
  return meanProbability(set, terms, flag, e.requirementWeight, ability)
}

/** The hot loop of exactAccuracy, kept small so it optimises well. */
function meanProbability(
  set: ExampleSet,
  terms: readonly Float64Array[],
  flag: Uint8Array,
  alpha: number,
  ability: number,
): number {
  const { n, base, cluster, reqStart, reqIdx } = set
  let sum = 0
  for (let i = 0; i < n; i++) {
    let x = (base[i] as number) + ability
    const r1 = reqStart[i + 1] as number
    for (let r = reqStart[i] as number; r < r1; r++) if (flag[reqIdx[r] as number] === 1) x += alpha
    const t = terms[cluster[i] as number] as Float64Array
    const m = t.length
    for (let j = 0; j < m; j++) x += t[j] as number
    sum += 1 / (1 + Math.exp(-x))
  }
  return sum / n
}

// ---------------------------------------------------------------------------------------------
// The regrouped objective over clause-index subsets (for the searches)

/** Grid step of the interpolation tables of sigmoid sums. */
const STEP = 1 / 256
/**
 * Largest error of the interpolated accuracy: linear interpolation of a function f on a grid of
 * step h errs by at most h²/8 · max|f''|, and max|σ''| = 1/(6√3); the accuracy is a weighted mean
 * of sigmoids, so the same bound holds for it (plus a margin for rounding).
 */
const TABLE_ERROR = ((STEP * STEP) / 8) * (1 / (6 * Math.sqrt(3))) + 1e-12

class Objective {
  readonly K: number
  readonly C: number
  readonly limit: number
  /** noise + generic + conflict effect of clause i on cluster c, at [i * C + c]. */
  readonly effect: Float64Array
  readonly pairs: Array<[number, number, number, number]> // [a, b, alone, together]
  private readonly ability: number
  private readonly alpha: number
  private readonly free: number
  private readonly cost: number
  private readonly n: number
  // Example types (cluster, required set), flattened.
  private readonly typeCluster: Int32Array
  private readonly typeReqStart: Int32Array
  private readonly typeReqIdx: Int32Array
  private readonly typeStart: Int32Array
  private readonly typeBase: Float64Array
  // Per type: F(s) = Σ σ(base + s) / n on the grid lo + g·STEP.
  private readonly tableLo: Float64Array
  private readonly tableStart: Int32Array
  private readonly tableLen: Int32Array
  private readonly table: Float64Array
  private readonly rows: Float64Array
  private readonly mask: Uint8Array
  evaluations = 0

  constructor(
    world: SimWorld,
    set: ExampleSet,
    modelId: string,
    private readonly p: Prep,
  ) {
    const e = world.scenario.effects
    const K = p.ids.length
    const C = p.clusters.length
    this.K = K
    this.C = C
    this.limit = world.scenario.task.maxClauses
    this.effect = new Float64Array(K * C)
    p.ids.forEach((id, i) => {
      const noise = noiseOf(world, p, id)
      p.clusters.forEach((cluster, c) => {
        let v = noise[c] as number
        for (const g of e.generic) if (g.clause === id) v += g.weight
        for (const k of e.conflicts) {
          if (k.clause !== id) continue
          if (k.hurts.includes(cluster)) v -= k.weight
          else if (k.helps.includes(cluster)) v += k.helpWeight
        }
        this.effect[i * C + c] = v
      })
    })
    this.pairs = e.synergies.map((syn) => [
      p.index.get(syn.clauses[0]) as number,
      p.index.get(syn.clauses[1]) as number,
      syn.alone,
      syn.together,
    ])
    this.ability = world.model(modelId).ability
    this.alpha = e.requirementWeight
    this.free = e.length.freeClauses
    this.cost = e.length.costPerClause
    this.n = set.n
    const T = set.types.length
    this.typeCluster = Int32Array.from(set.types, (t) => t.cluster)
    this.typeReqStart = new Int32Array(T + 1)
    const req: number[] = []
    set.types.forEach((t, j) => {
      req.push(...t.req)
      this.typeReqStart[j + 1] = req.length
    })
    this.typeReqIdx = Int32Array.from(req)
    this.typeStart = Int32Array.from([...set.types.map((t) => t.start), set.n])
    this.typeBase = set.typedBase
    this.rows = new Float64Array((this.limit + 1) * C)
    this.mask = new Uint8Array(K)

    // Tables over every value a subset of at most `limit` clauses can give a type's logit shift.
    const L = Math.min(this.limit, K)
    let pairLo = 0
    let pairHi = 0
    for (const [, , alone, together] of this.pairs) {
      pairLo += Math.min(0, alone, together)
      pairHi += Math.max(0, alone, together)
    }
    const clusterLo = new Float64Array(C)
    const clusterHi = new Float64Array(C)
    for (let c = 0; c < C; c++) {
      const col = Array.from({ length: K }, (_, i) => this.effect[i * C + c] as number).sort((a, b) => a - b)
      const neg = col.filter((v) => v < 0).slice(0, L)
      const pos = col
        .filter((v) => v > 0)
        .reverse()
        .slice(0, L)
      clusterLo[c] = this.ability - this.cost * Math.max(0, L - this.free) + neg.reduce((a, v) => a + v, 0) + pairLo
      clusterHi[c] = this.ability + pos.reduce((a, v) => a + v, 0) + pairHi
    }
    this.tableLo = new Float64Array(T)
    this.tableStart = new Int32Array(T)
    this.tableLen = new Int32Array(T)
    let total = 0
    for (let t = 0; t < T; t++) {
      const c = this.typeCluster[t] as number
      const lo = (clusterLo[c] as number) - 4 * STEP
      const hi =
        (clusterHi[c] as number) +
        this.alpha * ((this.typeReqStart[t + 1] as number) - (this.typeReqStart[t] as number)) +
        4 * STEP
      this.tableLo[t] = lo
      this.tableStart[t] = total
      this.tableLen[t] = Math.ceil((hi - lo) / STEP) + 2
      total += this.tableLen[t] as number
    }
    this.table = new Float64Array(total)
    for (let t = 0; t < T; t++) {
      const lo = this.tableLo[t] as number
      const from = this.typeStart[t] as number
      const to = this.typeStart[t + 1] as number
      for (let g = 0, at = this.tableStart[t] as number; g < (this.tableLen[t] as number); g++, at++) {
        const s = lo + g * STEP
        let sum = 0
        for (let j = from; j < to; j++) sum += 1 / (1 + Math.exp(-((this.typeBase[j] as number) + s)))
        this.table[at] = sum / this.n
      }
    }
  }

  /** Ability, synergy pairs and length cost of a subset with this mask and size. */
  private common(mask: Uint8Array, size: number): number {
    let v = this.ability - this.cost * Math.max(0, size - this.free)
    for (const [a, b, alone, together] of this.pairs) {
      const m = (mask[a] as number) + (mask[b] as number)
      if (m === 2) v += together
      else if (m === 1) v += alone
    }
    return v
  }

  private shift(t: number, rows: Float64Array, offset: number, mask: Uint8Array, common: number): number {
    let s = (rows[offset + (this.typeCluster[t] as number)] as number) + common
    for (let r = this.typeReqStart[t] as number; r < (this.typeReqStart[t + 1] as number); r++)
      if (mask[this.typeReqIdx[r] as number]) s += this.alpha
    return s
  }

  private exactType(t: number, s: number): number {
    let sum = 0
    for (let j = this.typeStart[t] as number; j < (this.typeStart[t + 1] as number); j++)
      sum += 1 / (1 + Math.exp(-((this.typeBase[j] as number) + s)))
    return sum / this.n
  }

  /**
   * Accuracy of the subset whose summed clause effects are rows[offset .. offset + C) and whose
   * members are marked in `mask`: exact (sigmoid per example) or interpolated (within TABLE_ERROR).
   */
  valueAt(rows: Float64Array, offset: number, mask: Uint8Array, size: number, exact: boolean): number {
    this.evaluations++
    const common = this.common(mask, size)
    const T = this.typeCluster.length
    let acc = 0
    for (let t = 0; t < T; t++) {
      const s = this.shift(t, rows, offset, mask, common)
      if (exact) {
        acc += this.exactType(t, s)
        continue
      }
      const u = (s - (this.tableLo[t] as number)) / STEP
      const g = Math.floor(u)
      if (g < 0 || g + 1 >= (this.tableLen[t] as number)) {
        acc += this.exactType(t, s)
        continue
      }
      const at = (this.tableStart[t] as number) + g
      const f0 = this.table[at] as number
      acc += f0 + (u - g) * ((this.table[at + 1] as number) - f0)
    }
    return acc
  }

  value(subset: readonly number[], exact: boolean): number {
    const { C, rows, mask, effect } = this
    rows.fill(0, 0, C)
    for (const i of subset) {
      mask[i] = 1
      for (let c = 0; c < C; c++) rows[c] = (rows[c] as number) + (effect[i * C + c] as number)
    }
    const v = this.valueAt(rows, 0, mask, subset.length, exact)
    for (const i of subset) mask[i] = 0
    return v
  }

  ids(subset: readonly number[]): string[] {
    return [...subset].sort((a, b) => a - b).map((i) => this.p.ids[i] as string)
  }
}

/** Number of subsets of K items with at most L items. */
export function subsetCount(K: number, L: number): number {
  let total = 0
  let binom = 1
  for (let k = 0; k <= Math.min(K, L); k++) {
    total += binom
    binom = (binom * (K - k)) / (k + 1)
  }
  return Math.round(total)
}

/**
 * Every subset, on the interpolated objective; the subsets within 2·TABLE_ERROR of the best are
 * then compared on the exact objective, so the answer is the exact optimum.
 */
function enumerate(obj: Objective): number[] {
  const { K, C, limit, effect } = obj
  const rows = new Float64Array((limit + 1) * C)
  const mask = new Uint8Array(K)
  const list: number[] = []
  const tol = 2 * TABLE_ERROR
  let best = Number.NEGATIVE_INFINITY
  let near: Array<{ subset: number[]; approx: number }> = []
  const visit = (start: number, depth: number) => {
    const v = obj.valueAt(rows, depth * C, mask, depth, false)
    if (v > best) best = v
    if (v >= best - tol) {
      near.push({ subset: [...list], approx: v })
      if (near.length > 4096) near = near.filter((x) => x.approx >= best - tol)
    }
    if (depth >= limit) return
    const from = depth * C
    const to = from + C
    for (let i = start; i < K; i++) {
      for (let c = 0; c < C; c++) rows[to + c] = (rows[from + c] as number) + (effect[i * C + c] as number)
      mask[i] = 1
      list.push(i)
      visit(i + 1, depth + 1)
      list.pop()
      mask[i] = 0
    }
  }
  visit(0, 0)
  let answer: number[] = []
  let answerValue = Number.NEGATIVE_INFINITY
  for (const x of near) {
    if (x.approx < best - tol) continue
    const v = obj.value(x.subset, true)
    if (v > answerValue) {
      answerValue = v
      answer = x.subset
    }
  }
  return answer
}

/** Steepest-ascent local search (interpolated objective) with single, swap and synergy-pair moves. */
function climb(
  obj: Objective,
  start: readonly number[],
  memo: Map<string, number>,
): { subset: number[]; value: number } {
  const evalOf = (subset: number[]) => {
    subset.sort((a, b) => a - b)
    const key = subset.join(',')
    let v = memo.get(key)
    if (v === undefined) {
      v = obj.value(subset, false)
      memo.set(key, v)
    }
    return v
  }
  let cur = [...new Set(start)].slice(0, obj.limit)
  let curValue = evalOf(cur)
  for (;;) {
    const inSet = new Set(cur)
    const out = Array.from({ length: obj.K }, (_, i) => i).filter((i) => !inSet.has(i))
    const move: { best: number[] | null; value: number } = { best: null, value: curValue + 1e-12 }
    const consider = (cand: number[]) => {
      if (cand.length > obj.limit) return
      const v = evalOf(cand)
      if (v > move.value) {
        move.value = v
        move.best = cand
      }
    }
    const without = (...drop: number[]) => cur.filter((i) => !drop.includes(i))
    for (const j of out) consider([...cur, j])
    for (const i of cur) consider(without(i))
    for (const i of cur) for (const j of out) consider([...without(i), j])
    for (const [a, b] of obj.pairs) {
      const ha = inSet.has(a)
      const hb = inSet.has(b)
      if (!ha && !hb) {
        consider([...cur, a, b])
        for (const i of cur) consider([...without(i), a, b])
        for (let x = 0; x < cur.length; x++)
          for (let y = x + 1; y < cur.length; y++) consider([...without(cur[x] as number, cur[y] as number), a, b])
      } else if (ha && hb) {
        consider(without(a, b))
        for (const j of out) consider([...without(a, b), j])
        for (let x = 0; x < out.length; x++)
          for (let y = x + 1; y < out.length; y++) consider([...without(a, b), out[x] as number, out[y] as number])
      }
    }
    if (move.best === null) return { subset: cur, value: obj.value(cur, true) }
    cur = move.best
    curValue = move.value
  }
}

function multistart(world: SimWorld, obj: Objective, p: Prep, options: OptimumOptions): number[] {
  const s = world.scenario
  const rng = Rng.fromSeed('bench-search-optimum', s.id, s.seed)
  const memo = new Map<string, number>()
  const all = Array.from({ length: obj.K }, (_, i) => i)
  const seedClauses = world.parseClauses(s.task.prompt.system).map((id) => p.index.get(id) as number)
  const starts: number[][] = [[], seedClauses]
  for (let r = 0; r < (options.starts ?? 12); r++) starts.push(rng.sample(all, 1 + rng.int(obj.limit)))
  let best = { subset: [] as number[], value: Number.NEGATIVE_INFINITY }
  const keep = (r: { subset: number[]; value: number }) => {
    if (r.value > best.value) best = r
  }
  for (const start of starts) keep(climb(obj, start, memo))
  // Iterated local search: kick the best set (2–3 random changes) and climb again.
  for (let k = 0; k < (options.kicks ?? 12); k++) {
    let cand = [...best.subset]
    const changes = 2 + rng.int(2)
    for (let c = 0; c < changes; c++) {
      if (cand.length > 0 && (cand.length >= obj.limit || rng.float() < 0.5)) {
        const drop = rng.pick(cand)
        cand = cand.filter((i) => i !== drop)
      } else {
        const absent = all.filter((i) => !cand.includes(i))
        if (absent.length > 0) cand = [...cand, rng.pick(absent)]
      }
    }
    keep(climb(obj, cand, memo))
  }
  return best.subset
}

export interface OptimumOptions {
  /** 'auto' (default): enumeration when at most `maxSubsets` subsets, else multistart. */
  method?: 'auto' | 'enumeration' | 'multistart'
  /** Largest number of subsets 'auto' enumerates (default 3,000,000: about 2 s). */
  maxSubsets?: number
  /** Random starts of the multistart search, besides the empty set and the seed prompt's clauses (default 12). */
  starts?: number
  /** Perturbation restarts from the best set found (default 12). */
  kicks?: number
}

export interface Optimum {
  /** The best clause set, in scenario order. */
  clauses: string[]
  /** Its exact accuracy (exactAccuracy over the keys). */
  accuracy: number
  method: 'enumeration' | 'multistart'
  /** Objective evaluations (interpolated and exact). */
  evaluations: number
}

/**
 * The clause set with the highest exact accuracy over the keys, with at most `task.maxClauses`
 * clauses. Deterministic (the multistart search draws from an Rng seeded by the scenario).
 */
export function exactOptimum(
  world: SimWorld,
  keys: readonly string[],
  modelId = 'sim-standard',
  options: OptimumOptions = {},
): Optimum {
  if (keys.length === 0) throw new RangeError('exactOptimum needs at least one example key')
  const p = prep(world)
  const obj = new Objective(world, exampleSet(world, p, keys), modelId, p)
  const method = options.method ?? 'auto'
  const useEnumeration =
    method === 'enumeration' ||
    (method === 'auto' && subsetCount(obj.K, obj.limit) <= (options.maxSubsets ?? 3_000_000))
  const subset = useEnumeration ? enumerate(obj) : multistart(world, obj, p, options)
  const clauses = obj.ids(subset)
  return {
    clauses,
    accuracy: exactAccuracy(world, clauses, keys, modelId),
    method: useEnumeration ? 'enumeration' : 'multistart',
    evaluations: obj.evaluations,
  }
}
