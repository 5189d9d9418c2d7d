/**
 * @module sdk/resolve
 * `GET /v1/tasks/{task}/prompt?key=` with a cache per (task, key): an answer is reused while its
 * `Cache-Control: max-age` lasts (one second on Kaizen's server, which is how long a rollback may
 * take to be seen), then revalidated with `If-None-Match` (a 304 keeps the cached version). Calls
 * for one key in flight at once share one request. When the server cannot answer (no response,
 * 429, 5xx) and a version is cached for the key, that version is served marked `stale` instead of
 * failing the application; it is retried after a second, and served stale meanwhile. A 4xx (an
 * unknown task, a revoked token) is always thrown.
 */
import { KaizenClientError, errorFromBody } from './errors.js'
import { send, type Transport } from './http.js'
import type { ResolvedPrompt } from './types.js'

type Resolved = Omit<ResolvedPrompt, 'source' | 'stale' | 'error'>

interface Entry {
  value: Resolved
  etag: string | null
  /** Until when (client clock, ms) the value is used without asking the server. */
  freshUntil: number
  /** Set while the server cannot answer: hits are served stale with this error. */
  staleError: KaizenClientError | null
}

export interface PromptCacheOptions {
  /** Most (task, key) pairs kept; the least recently used goes first (default 10,000). 0: no cache. */
  maxEntries: number
  /** The clock (ms), for tests. */
  now: () => number
}

/** How long a stale answer is served before the server is asked again. */
const STALE_RETRY_MS = 1_000

/** The `max-age` of a Cache-Control header, in ms (0 when absent, or with no-cache / no-store). */
export function maxAgeMs(cacheControl: string | null): number {
  if (!cacheControl || /\bno-(cache|store)\b/i.test(cacheControl)) return 0
  const m = /\bmax-age=(\d+)/i.exec(cacheControl)
  return m ? Number(m[1]) * 1000 : 0
}

export class PromptCache {
  private readonly entries = new Map<string, Entry>()
  private readonly inFlight = new Map<string, Promise<ResolvedPrompt>>()

  constructor(
    private readonly transport: Transport,
    private readonly options: PromptCacheOptions,
  ) {}

  resolve(task: string, key: string): Promise<ResolvedPrompt> {
    const id = `${task}\u0000${key}`
    const entry = this.entries.get(id)
    if (entry && this.options.now() < entry.freshUntil) {
      this.touch(id, entry)
      return Promise.resolve(served(entry, entry.staleError ? 'stale' : 'cache'))
    }
    const pending = this.inFlight.get(id)
    if (pending) return pending
    const call = this.fetch(task, key, id, entry).finally(() => this.inFlight.delete(id))
    this.inFlight.set(id, call)
    return call
  }

  /** Forget every cached version (the next resolve of each key asks the server). */
  clear(): void {
    this.entries.clear()
  }

  private async fetch(task: string, key: string, id: string, entry: Entry | undefined): Promise<ResolvedPrompt> {
    const what = `resolve the prompt of task "${task}"`
    let error: KaizenClientError
    try {
      const res = await send(this.transport, {
        method: 'GET',
        path: `/v1/tasks/${encodeURIComponent(task)}/prompt?key=${encodeURIComponent(key)}`,
        headers: entry?.etag ? { 'if-none-match': entry.etag } : {},
        what,
      })
      const freshUntil = this.options.now() + maxAgeMs(res.headers.get('cache-control'))
      if (res.status === 304 && entry) {
        this.store(id, { ...entry, etag: res.headers.get('etag') ?? entry.etag, freshUntil, staleError: null })
        return served(entry, 'revalidated')
      }
      if (res.status === 200) {
        const body = parseBody(res.text, what)
        const value: Resolved = {
          task: body.task,
          key,
          version: body.version,
          arm: body.arm,
          canaryId: body.canaryId,
          routingWeight: body.routingWeight,
        }
        this.store(id, { value, etag: res.headers.get('etag'), freshUntil, staleError: null })
        return { ...value, source: 'network', stale: false }
      }
      error = errorFromBody(res, what)
    } catch (err) {
      if (!(err instanceof KaizenClientError)) throw err
      error = err
    }
    if (!entry || !error.retryable) throw error
    const stale = { ...entry, freshUntil: this.options.now() + STALE_RETRY_MS, staleError: error }
    this.store(id, stale)
    return served(stale, 'stale')
  }

  private store(id: string, entry: Entry): void {
    if (this.options.maxEntries <= 0) return
    this.entries.delete(id)
    this.entries.set(id, entry)
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
  }

  /** Most recently used last (Map order), so eviction takes the least recently used. */
  private touch(id: string, entry: Entry): void {
    this.entries.delete(id)
    this.entries.set(id, entry)
  }
}

function parseBody(text: string, what: string): Omit<Resolved, 'key'> {
  try {
    return JSON.parse(text) as Omit<Resolved, 'key'>
  } catch (err) {
    throw new KaizenClientError('HTTP', `${what}: the answer (HTTP 200) is not JSON`, { status: 200, cause: err })
  }
}

function served(entry: Entry, source: 'cache' | 'revalidated' | 'stale'): ResolvedPrompt {
  return entry.staleError && source !== 'revalidated'
    ? { ...entry.value, source: 'stale', stale: true, error: entry.staleError }
    : { ...entry.value, source, stale: false }
}
