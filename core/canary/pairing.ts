/**
 * @module core/canary/pairing
 * Turn graded live requests of two concurrent arms into paired per-request observations, one
 * sequence per metric, in arrival order.
 *
 * Requests are grouped in time blocks; inside a closed block each treatment request gets its own
 * disjoint group of reference requests (contiguous in arrival order). Disjoint groups keep the
 * pairs independent (the e-processes' martingale property); a shared block mean would not.
 *
 * Pure module: safe to import from workflow code.
 */

export type Arm = 'baseline' | 'canary'

export interface Observation {
  /** The arm the request was routed to (`canary` = routed by the canary label). */
  arm: Arm
  /** Arrival time, ms since epoch. */
  at: number
  /** Routing unit (e.g. user) the request belongs to; used by the sample-ratio check. */
  unit: string
  /** DQ score in [0, 1]; null when the grader could not score it. */
  score: number | null
  /** The request failed (no usable output). */
  error: boolean
  latencyMs: number | null
  costUsd: number | null
  /** The canary label's weight this request was routed with, when recorded. */
  routedWeight?: number | null
}

export interface PairedSeries {
  /** treatment quality − mean reference quality (errors count as 0). */
  quality: number[]
  /** mean reference error rate − treatment error. */
  errors: number[]
  /** 1 if the treatment request was slower than its first reference request, ½ on ties, else 0. */
  slower: number[]
  /** treatment cost and the cost of its first reference request, per pair. */
  cost: Array<{ treatment: number; reference: number }>
  /** Arrival time of each quality pair's treatment request. */
  qualityAt: number[]
  /** Treatment requests in closed blocks that found no reference request to pair with. */
  unpaired: number
}

export const qualityOf = (o: Observation): number | null => (o.error ? 0 : o.score)

const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length

/**
 * @param treatment the arm under test: `canary` during a canary, `baseline` (production) during
 *   a bake window, where the label-routed arm is the holdback on the previous version
 * @param closedBefore only blocks that ended before this time are used
 */
export function pairObservations(
  observations: readonly Observation[],
  options: { blockMs: number; closedBefore: number; treatment: Arm },
): PairedSeries {
  const out: PairedSeries = { quality: [], errors: [], slower: [], cost: [], qualityAt: [], unpaired: 0 }
  if (observations.length === 0) return out
  // Fixed block boundaries (multiples of blockMs): a block means the same whatever data came first.
  const obs = [...observations].sort((a, b) => a.at - b.at)
  const blocks = new Map<number, { ref: Observation[]; treat: Observation[] }>()
  for (const o of obs) {
    const b = Math.floor(o.at / options.blockMs)
    if ((b + 1) * options.blockMs > options.closedBefore) continue // still open
    let block = blocks.get(b)
    if (!block) blocks.set(b, (block = { ref: [], treat: [] }))
    ;(o.arm === options.treatment ? block.treat : block.ref).push(o)
  }
  for (const b of [...blocks.keys()].sort((x, y) => x - y)) {
    const { ref, treat } = blocks.get(b) as { ref: Observation[]; treat: Observation[] }
    if (treat.length === 0) continue
    const paired = Math.min(treat.length, ref.length)
    out.unpaired += treat.length - paired
    if (paired === 0) continue
    const per = Math.floor(ref.length / paired)
    const extra = ref.length - per * paired
    let next = 0
    for (let i = 0; i < paired; i++) {
      const size = per + (i < extra ? 1 : 0)
      const group = ref.slice(next, next + size)
      next += size
      const t = treat[i] as Observation
      const refQ = mean(group.map(qualityOf).filter((q): q is number => q !== null))
      const q = qualityOf(t)
      if (q !== null && refQ !== null) {
        out.quality.push(q - refQ)
        out.qualityAt.push(t.at)
      }
      out.errors.push((mean(group.map((o) => (o.error ? 1 : 0))) as number) - (t.error ? 1 : 0))
      const first = group[0] as Observation
      if (t.latencyMs !== null && first.latencyMs !== null && !t.error && !first.error) {
        out.slower.push(t.latencyMs > first.latencyMs ? 1 : t.latencyMs === first.latencyMs ? 0.5 : 0)
      }
      // One reference request, as for latency: under "same cost distribution" the two are exchangeable.
      if (t.costUsd !== null && first.costUsd !== null)
        out.cost.push({ treatment: t.costUsd, reference: first.costUsd })
    }
  }
  return out
}
