/**
 * @module serving/resolver
 * Which prompt version serves a request: production, or the canary for the routing keys it owns.
 * Label state is cached per task for at most `ttlMs` (1 s by default), so a rollback takes effect
 * within a second everywhere; `invalidate()` makes it immediate in this process. Reads are
 * single-flight and refreshed ahead (lib/refreshing-cache.ts), so serving rarely waits for the database.
 */
import { KaizenError } from '../core/errors.js'
import type { Db } from '../db/client.js'
import { getLabels } from '../db/queries/labels.js'
import { getPromptVersion, type PromptVersionRow } from '../db/queries/prompts.js'
import { RefreshingCache } from '../lib/refreshing-cache.js'
import { routeToCanary } from './routing.js'

export interface Resolution {
  version: PromptVersionRow
  /** null when no canary is running for the task. */
  arm: 'baseline' | 'canary' | null
  canaryId: string | null
  /** The canary label's weight this request was routed with (null when no canary runs). */
  weight: number | null
}

interface Entry {
  production: PromptVersionRow
  canary: { version: PromptVersionRow; weight: number; canaryId: string } | null
}

export class PromptResolver {
  private readonly cache: RefreshingCache<string, Entry>
  private readonly versions = new Map<string, PromptVersionRow>()

  constructor(
    private readonly db: Db,
    ttlMs = 1_000,
  ) {
    this.cache = new RefreshingCache((taskId) => this.load(taskId), ttlMs)
  }

  invalidate(taskId?: string): void {
    if (taskId) this.cache.delete(taskId)
    else this.cache.clear()
  }

  private async version(id: string): Promise<PromptVersionRow> {
    // Versions are immutable: cache them forever.
    let v = this.versions.get(id)
    if (!v) this.versions.set(id, (v = await getPromptVersion(this.db, id)))
    return v
  }

  private async load(taskId: string): Promise<Entry> {
    const labels = await getLabels(this.db, taskId)
    if (!labels.production) throw new KaizenError('NOT_FOUND', `task "${taskId}" has no production prompt version`)
    return {
      production: await this.version(labels.production.promptVersionId),
      canary:
        labels.canary && labels.canary.canaryId
          ? {
              version: await this.version(labels.canary.promptVersionId),
              weight: labels.canary.weight,
              canaryId: labels.canary.canaryId,
            }
          : null,
    }
  }

  async resolve(taskId: string, routingKey: string): Promise<Resolution> {
    const e = await this.cache.get(taskId)
    if (!e.canary) return { version: e.production, arm: null, canaryId: null, weight: null }
    const { canaryId, weight } = e.canary
    return routeToCanary(taskId, routingKey, canaryId, weight)
      ? { version: e.canary.version, arm: 'canary', canaryId, weight }
      : { version: e.production, arm: 'baseline', canaryId, weight }
  }
}
