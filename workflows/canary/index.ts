/**
 * @module workflows/canary
 * `canaryRelease`: serve the candidate to a slice of live traffic (sticky by routing key), ramp the
 * slice up step by step, compare with the concurrent baseline at every interval, and
 *   - roll back automatically on regression, in every state, including while waiting for a human;
 *   - when the evidence at the last step says "no worse", ask a human: the `approve` Update (with
 *     identity) promotes, `reject` rolls back; if nobody decides in time, follow the policy;
 *   - after promotion, bake: keep a holdback slice on the previous version, keep comparing, and
 *     roll production back on regression;
 *   - never promote on its own, and never leave the candidate on traffic unmonitored: a failure or
 *     a cancellation of this workflow takes it off.
 * Every label move, approval and rollback is an audit event; people are notified by webhook.
 *
 * 👉 Human decisions arrive as Updates, but all state changes happen in the main loop, one at a
 * time. An accepted decision is always settled: carried out, or refused with the reason.
 *
 * The runbook lives in this folder: `run.ts` (state, actions and every `patched()` branch),
 * `ramp.ts` (looks and ramp), `approval.ts` (the Updates' validator and handler), `decide.ts`
 * (carrying a decision out), `bake.ts` (the bake window).
 */
import {
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow'
import { guarded } from '../activities.js'
import { rootCause, rootMessage } from '../failures.js'
import { approveUpdate, canaryStatusQuery, rejectUpdate, supersedeSignal, type CanaryStatus } from '../messages.js'
import { receiveDecision, validateApproval } from './approval.js'
import { bake, finishBake } from './bake.js'
import { decide } from './decide.js'
import { advance, holdOnAlerts, look } from './ramp.js'
import { CanaryRun, ENDED, type CanaryInput } from './run.js'

export type { CanaryInput } from './run.js'

export async function canaryRelease(input: CanaryInput): Promise<CanaryStatus> {
  const run = new CanaryRun(input)
  const { status, config, late } = run
  setHandler(canaryStatusQuery, () => status)
  setHandler(supersedeSignal, ({ by }) => {
    run.supersededBy = by
  })
  setHandler(approveUpdate, (a) => receiveDecision(run, 'approve', a), {
    validator: (a) => validateApproval(status, run.pending, a, 'approve', config, late),
  })
  setHandler(rejectUpdate, (a) => receiveDecision(run, 'reject', a), {
    validator: (a) => validateApproval(status, run.pending, a, 'reject', config, late),
  })
  try {
    return await release(run)
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err
    await stopSafely(run, err)
    throw err
  }
}

/** Begin (unless resumed), ramp until a decision or a rollback, then bake. */
async function release(run: CanaryRun): Promise<CanaryStatus> {
  const { status, input } = run
  if (status.state === 'starting') {
    const begun = await guarded.beginCanary({
      ...input,
      config: run.config,
      weight: status.weight,
      supersedes: input.supersedes ?? null,
    })
    if (begun.conflict) {
      status.state = 'rolled_back'
      status.reason = `not started: ${begun.conflict}`
      await run.recordState(true)
      return await run.end()
    }
    status.state = 'running'
  }
  if (status.state === 'baking' || status.state === 'promoted') {
    await bake(run)
    return await run.end()
  }
  for (;;) {
    await condition(() => run.pending !== null || run.supersededBy !== null, run.intervalMs)
    const pending = run.pending
    if (pending !== null) {
      const decision = pending.decision
      if (run.v2 && decision === 'approve' && status.alertKinds?.includes('sample-ratio')) {
        // Accepted just before the check failed: the evidence it approved is now suspect.
        const alerts = (status.alerts ?? []).join('; ')
        run.settle(pending, {
          refused: `the sample-ratio check failed after this approval was sent (${alerts}); nothing was recorded`,
        })
        continue
      }
      // An approval a policy of several approvers counts but that does not promote yet: keep waiting.
      if ((await decide(run, pending)) === 'waiting') continue
      if (decision === 'approve' && (status.state as CanaryStatus['state']) === 'promoted') await bake(run)
      return await run.end()
    }
    if (run.supersededBy !== null) {
      await run.rollback(
        `superseded by ${run.supersededBy}`,
        'kaizen',
        status.analysis ? { analysis: status.analysis } : null,
      )
      return await run.end()
    }
    const analysis = await look(run)
    if (!analysis) return await run.end()
    if (run.v2 && (await holdOnAlerts(run, analysis)) === 'ended') return await run.end()
    if ((await advance(run, analysis)) === 'ended') return await run.end()

    if (workflowInfo().continueAsNewSuggested) {
      // A decision arriving now is handled in this run first; handlers must be done before moving on.
      await condition(() => allHandlersFinished() || run.pending !== null)
      if (run.pending !== null) continue
      return await continueAsNew<typeof canaryRelease>({ ...input, resume: run.resume() })
    }
  }
}

/** Never leave the candidate on live traffic without monitoring; refuse decisions not carried out. */
async function stopSafely(run: CanaryRun, err: unknown) {
  const { status, input, late } = run
  if (!ENDED.has(status.state)) {
    const why = isCancellation(err)
      ? 'canary workflow cancelled'
      : `canary workflow failed: ${late ? rootCause(err) : rootMessage(err)}`
    // While baking, production is the approved candidate: only the holdback goes.
    const stop =
      status.state === 'baking'
        ? () => finishBake(run, `bake window stopped (${why})`)
        : () => run.rollback(why, 'kaizen', null)
    await CancellationScope.nonCancellable(stop).catch(() => undefined)
  }
  for (let p = run.pending; p && !p.settled; p = run.pending)
    run.settle(p, {
      refused: `canary ${input.canaryId} stopped before the ${p.decision} could be applied: ${rootMessage(err)}`,
    })
}
