/**
 * @module activities/judge-caller
 * Wire LLM judges to the model client: judge calls are cached, limited, retried and paid for like
 * any model call (purpose `judge`). A definitive failure becomes a judge error (null verdict); a
 * provider still unavailable after the retries is a transient null (not stored); a spent budget
 * stops the work.
 */
import { isKaizenError } from '../core/errors.js'
import type { JudgeCaller } from '../graders/judge.js'
import type { CallContext, ModelClient } from '../providers/client.js'

export function judgeCaller(models: ModelClient, ctx: Omit<CallContext, 'purpose'>): JudgeCaller {
  return async (request) => {
    try {
      const { record } = await models.complete(request, { ...ctx, purpose: 'judge' })
      return record.error !== null ? { text: null, error: record.error } : { text: record.output ?? '', error: null }
    } catch (err) {
      if (isKaizenError(err) && err.code === 'PROVIDER_UNAVAILABLE') return { text: null, error: err.message, transient: true }
      throw err
    }
  }
}
