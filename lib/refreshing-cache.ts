/**
 * @module lib/refreshing-cache
 * A small in-process cache for values read from the database on a hot path: an entry lives for
 * `ttlMs`; past half its life it is still served while a fresh read runs in the background
 * (refresh ahead), so requests do not wait each time the cache turns over; reads are single-flight
 * per key (concurrent misses share one read). A failed read is not cached.
 */
export class RefreshingCache<K, V> {
  private readonly entries = new Map<K, { at: number; value: V }>()
  private readonly loading = new Map<K, Promise<V>>()

  constructor(
    private readonly load: (key: K) => Promise<V>,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    /** The clock (tests drive their own). */
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: K): Promise<V> {
    const hit = this.entries.get(key)
    const age = hit ? this.now() - hit.at : Infinity
    if (hit && age < this.ttlMs) {
      if (age >= this.ttlMs / 2) this.reload(key).catch(() => undefined)
      return hit.value
    }
    return this.reload(key)
  }

  delete(key: K): void {
    this.entries.delete(key)
  }

  clear(): void {
    this.entries.clear()
  }

  private reload(key: K): Promise<V> {
    let pending = this.loading.get(key)
    if (!pending) {
      const at = this.now()
      pending = this.load(key)
        .then((value) => {
          if (this.entries.size >= this.maxEntries) this.entries.clear()
          this.entries.set(key, { at, value })
          return value
        })
        .finally(() => this.loading.delete(key))
      this.loading.set(key, pending)
    }
    return pending
  }
}
