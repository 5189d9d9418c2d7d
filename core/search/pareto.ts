/**
 * @module core/search/pareto
 * GEPA's parent selection: the per-instance Pareto front. For each validation item, the
 * candidates with the best score on it; a candidate's weight is the number of items it is best
 * on, after removing candidates dominated by another front member. Specialists that are best on
 * a few items survive alongside the best average, which keeps the search from collapsing on one
 * lineage.
 *
 * Pure module: no I/O.
 */
export interface Scored {
  id: string
  /** Scores on the validation items, in one fixed item order (null = not gradable). */
  scores: ReadonlyArray<number | null>
}

/** weight per candidate id: number of items it is (jointly) best on, dominated ones removed. */
export function paretoWeights(pool: readonly Scored[]): Map<string, number> {
  const n = Math.max(0, ...pool.map((p) => p.scores.length))
  const bestOn = new Map<string, Set<number>>()
  for (let i = 0; i < n; i++) {
    let best = -Infinity
    for (const p of pool) best = Math.max(best, p.scores[i] ?? -Infinity)
    if (best === -Infinity) continue
    for (const p of pool) {
      if ((p.scores[i] ?? -Infinity) >= best - 1e-12) {
        let s = bestOn.get(p.id)
        if (!s) bestOn.set(p.id, (s = new Set()))
        s.add(i)
      }
    }
  }
  // A front member whose winning items are a strict subset of another's is dominated.
  const ids = [...bestOn.keys()]
  const dominated = new Set<string>()
  for (const a of ids) {
    const sa = bestOn.get(a) as Set<number>
    for (const b of ids) {
      if (a === b || dominated.has(b)) continue
      const sb = bestOn.get(b) as Set<number>
      if (sa.size < sb.size && [...sa].every((i) => sb.has(i))) {
        dominated.add(a)
        break
      }
      // Equal sets: keep the first (stable), drop the later.
      if (sa.size === sb.size && ids.indexOf(b) < ids.indexOf(a) && [...sa].every((i) => sb.has(i))) {
        dominated.add(a)
        break
      }
    }
  }
  const out = new Map<string, number>()
  for (const id of ids) if (!dominated.has(id)) out.set(id, (bestOn.get(id) as Set<number>).size)
  return out
}
