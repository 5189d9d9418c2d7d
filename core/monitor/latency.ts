/**
 * @module core/monitor/latency
 * Latency as the change detector sees it. Latencies are not bounded like a score, and their tail is
 * what people feel, so each request counts as 1 when it is slower than the reference's p95 and 0
 * otherwise: a bounded metric with a known reference share (about 5 %), which the same detector as
 * for DQ and errors watches for a rise. While the reference is learned, latencies go into a small
 * log-bucket histogram (plain data, carried through workflow history); when it is frozen, the
 * threshold is the bucket edge nearest above the p95, and the reference share is the exact share of
 * reference requests above that edge. Cost per request is watched the same way (in micro-USD).
 *
 * Pure module: safe to import from workflow code.
 */

/** Buckets per doubling of latency: edges about 9 % apart. */
const PER_DOUBLING = 8
/** Bucket count: edges from 1.09 ms to 2^24 ms (4.7 h); the last bucket takes everything above. */
const BUCKETS = 24 * PER_DOUBLING

/** Counts of latencies per log bucket: bucket i holds latencies in (edge(i − 1), edge(i)]. */
export interface LatencySketch {
  counts: number[]
  n: number
}

export const emptyLatencySketch = (): LatencySketch => ({ counts: Array.from({ length: BUCKETS }, () => 0), n: 0 })

/** Upper edge of bucket i, in ms. */
export const bucketEdge = (i: number): number => 2 ** ((i + 1) / PER_DOUBLING)

function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0
  return Math.min(BUCKETS - 1, Math.max(0, Math.ceil(Math.log2(ms) * PER_DOUBLING) - 1))
}

/** Add latencies (null = not measured, skipped); returns a new sketch. */
export function addLatencies(sketch: LatencySketch, latencies: Iterable<number | null>): LatencySketch {
  const counts = [...sketch.counts]
  let n = sketch.n
  for (const ms of latencies) {
    if (ms === null || !Number.isFinite(ms) || ms < 0) continue
    counts[bucketOf(ms)]!++
    n++
  }
  return { counts, n }
}

/**
 * The slow-request threshold of a reference: the lowest bucket edge with at most `share` of the
 * reference's latencies above it, and that exact share. Null without observations.
 */
export function slowThreshold(
  sketch: LatencySketch,
  share = 0.05,
): { thresholdMs: number; shareAbove: number; n: number } | null {
  if (sketch.n === 0) return null
  let above = sketch.n
  for (let i = 0; i < BUCKETS - 1; i++) {
    above -= sketch.counts[i] ?? 0
    if (above / sketch.n <= share) return { thresholdMs: bucketEdge(i), shareAbove: above / sketch.n, n: sketch.n }
  }
  return { thresholdMs: bucketEdge(BUCKETS - 2), shareAbove: (sketch.counts[BUCKETS - 1] ?? 0) / sketch.n, n: sketch.n }
}
