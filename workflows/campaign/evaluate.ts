/**
 * @module workflows/campaign/evaluate
 * Run a campaign step to its result while it answers with the evaluations it needs
 * (core/fanout.ts): run them as chunk activities on the evaluation task queue, all at once, then
 * ask the step again.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow'
import type { EvaluateChunkInput } from '../../activities/evaluation.js'
import { isNeeds, needsKey, type NeedsEvaluations } from '../../core/fanout.js'
import { evaluationChunks } from '../activities.js'
import { failureType, rootMessage } from '../failures.js'

/**
 * With `budgetStop`, a chunk refused by the spend budget is handed back to the step
 * (`budgetExhausted`) so it can end gracefully; otherwise the refusal fails the step as it would
 * have failed inline.
 */
export async function untilEvaluated<T>(
  step: (extra: { budgetExhausted?: string }) => Promise<T | NeedsEvaluations>,
  chunk: Omit<EvaluateChunkInput, 'contentKey' | 'itemIds'>,
  options: { budgetStop?: boolean } = {},
): Promise<T> {
  const chunks = evaluationChunks(workflowInfo().taskQueue)
  let asked = ''
  let budgetExhausted: string | undefined
  for (;;) {
    const answer = await step(budgetExhausted ? { budgetExhausted } : {})
    if (!isNeeds(answer)) return answer
    const key = needsKey(answer.needs)
    if (key === asked)
      throw ApplicationFailure.nonRetryable(
        `a campaign step asked twice for the same ${answer.needs.length} evaluation chunks; ` +
          'they do not reach the cache',
        'INTERNAL',
      )
    asked = key
    // Every chunk runs to its end (a failed one does not leave the others unaccounted for).
    const settled = await Promise.allSettled(answer.needs.map((c) => chunks.evaluateChunk({ ...chunk, ...c })))
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (!failed) continue
    if (options.budgetStop && !budgetExhausted && failureType(failed.reason) === 'BUDGET_EXHAUSTED')
      budgetExhausted = rootMessage(failed.reason)
    else throw failed.reason
  }
}
