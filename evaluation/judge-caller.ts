/**
 * @module evaluation/judge-caller
 * Wire LLM judges to the model client: judge calls are cached, limited, retried and paid for like
 * any model call (purpose `judge`). A definitive failure becomes a judge error (null verdict); a
 * provider still unavailable after the retries is a transient null (not stored); a spent budget
 * stops the work.
 */
import { isKaizenError } from '../core/errors.js'
import type { Redactor } from '../privacy/redact.js'
import type { JudgeCaller } from '../graders/judge.js'
import type { CallContext, CallRecord, ModelClient } from '../providers/client.js'
import type { CompletionRequest } from '../providers/types.js'

/** A batch's cache lookup done up front: the keys looked up and the records found. */
export interface Prefetched {
  keys: ReadonlySet<string>
  found: ReadonlyMap<string, CallRecord>
}

/** Look up, in one query, the cached answers to every judge request a batch will make. */
export async function prefetchJudge(
  models: ModelClient,
  requests: readonly CompletionRequest[],
  redactor?: Redactor,
): Promise<Prefetched> {
  const sent = redactor ? await Promise.all(requests.map((r) => redactor.request(r))) : requests
  const keys = new Set(sent.map((r) => models.keyOf(r)))
  return { keys, found: keys.size > 0 ? await models.lookup([...keys]) : new Map() }
}

/** @param redactor when given, every judge request is redacted before it is sent (and cached as sent). */
export function judgeCaller(
  models: ModelClient,
  ctx: Omit<CallContext, 'purpose'>,
  prefetched?: Prefetched,
  redactor?: Redactor,
): JudgeCaller {
  // Identical requests share one call (kept after it settles: a later duplicate is then answered
  // from it, where the up-front lookup would have said "not cached"); a failed call is forgotten.
  const inFlight = new Map<string, Promise<{ record: CallRecord }>>()
  return async (original) => {
    try {
      const request = redactor ? await redactor.request(original) : original
      const key = models.keyOf(request)
      let call = inFlight.get(key)
      if (!call) {
        const known = prefetched?.keys.has(key) ? (prefetched.found.get(key) ?? null) : undefined
        call = models.complete(request, { ...ctx, purpose: 'judge' }, known)
        inFlight.set(key, call)
        call.catch(() => inFlight.delete(key))
      }
      const { record } = await call
      return record.error !== null ? { text: null, error: record.error } : { text: record.output ?? '', error: null }
    } catch (err) {
      if (isKaizenError(err) && err.code === 'PROVIDER_UNAVAILABLE')
        return { text: null, error: err.message, transient: true }
      throw err
    }
  }
}
