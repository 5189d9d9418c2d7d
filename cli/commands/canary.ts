/**
 * @module cli/commands/canary
 * `kaizen canary status|approve|reject`. Approvals are Temporal Updates: the workflow's validator
 * refuses a decision without an identity, or for a canary that is not waiting for one, and
 * nothing is recorded then.
 */
import type { Command } from 'commander'
import { KaizenError } from '../../core/errors.js'
import { approveUpdate, canaryStatusQuery, rejectUpdate, type CanaryStatus } from '../../workflows/messages.js'
import { requireOption, withClient } from '../context.js'
import { fmt, printJson, say } from '../output.js'

export function describeCanary(s: CanaryStatus): string[] {
  const ended = s.state === 'promoted' || s.state === 'rolled_back'
  const share = `${Math.round(s.weight * 100)}% of traffic`
  const lines = [`Canary ${s.canaryId} · task ${s.taskId} · ${s.state} · ${ended ? `ended (had ${share})` : share}`]
  lines.push(`  candidate ${s.candidateVersionId} vs baseline ${s.baselineVersionId}`)
  if (s.reason) lines.push(`  ${s.reason}`)
  const a = s.analysis
  if (a) {
    lines.push(
      `  arms: canary ${a.canary.requests} requests (${a.canary.graded} graded, ${a.canary.errors} errors, mean DQ ${fmt(a.canary.meanScore)}); ` +
        `baseline ${a.baseline.requests} (${a.baseline.graded} graded, ${a.baseline.errors} errors, mean DQ ${fmt(a.baseline.meanScore)})`,
      `  paired with the concurrent baseline: ${a.pairedSamples} · effect (canary − baseline) DQ ${fmt(a.quality.meanDelta)}`,
      `  quality harm test: e-value ${a.quality.harm.max.toFixed(2)} / ${a.quality.harm.threshold.toFixed(0)} (always-valid p ${fmt(a.quality.harm.pValue, 4)}) → ${a.quality.harmful ? 'REGRESSION' : 'no regression'}`,
      `  error-rate harm test: e-value ${a.errorRate.harm.max.toFixed(2)} / ${a.errorRate.harm.threshold.toFixed(0)} → ${a.errorRate.harmful ? 'REGRESSION' : 'no regression'}`,
      `  readiness (no worse than −${a.readiness.margin}): e-value ${a.readiness.max.toFixed(2)} / ${a.readiness.threshold.toFixed(0)} → ${a.readiness.ready ? 'READY' : 'not yet'}`,
      `  hard floor: ${a.hardFloor.run} consecutive failed canary requests (limit ${a.hardFloor.limit})`,
      `  verdict: ${a.verdict} — ${a.reasons.join('; ')}`,
    )
  }
  if (s.decidedBy) lines.push(`  decided by ${s.decidedBy}`)
  return lines
}

function decide(verb: 'approve' | 'reject') {
  return async (canaryId: string, opts: { approver?: string; role?: string; comment?: string; json?: boolean }) => {
    const approver = requireOption(opts.approver, '--approver', `say who ${verb}s, e.g. --approver alice@example.com`)
    await withClient(async (client) => {
      const handle = client.workflow.getHandle(canaryId)
      const d = await handle.describe()
      if (d.type !== 'canaryRelease') throw new KaizenError('NOT_FOUND', `${canaryId} is not a canary (it is a ${d.type} workflow)`)
      if (d.status.name !== 'RUNNING') throw new KaizenError('CONFLICT', `canary ${canaryId} has ended (${d.status.name.toLowerCase()}); nothing to ${verb}`)
      const outcome = await handle.executeUpdate(verb === 'approve' ? approveUpdate : rejectUpdate, {
        args: [{ approver, ...(opts.role ? { role: opts.role } : {}), ...(opts.comment ? { comment: opts.comment } : {}) }],
      })
      if (opts.json) return printJson(outcome)
      say(
        verb === 'approve'
          ? `Approved by ${outcome.approver}: canary ${canaryId} is ${outcome.state}; production is now ${outcome.productionVersionId}.`
          : `Rejected by ${outcome.approver}: canary ${canaryId} is ${outcome.state}; production stays ${outcome.productionVersionId}.`,
      )
    })
  }
}

export function registerCanary(program: Command): void {
  const canary = program.command('canary').description('canary releases and human approval')

  canary
    .command('status <canaryId>')
    .description('the evidence a human needs: arms, samples, effect, verdicts per metric')
    .option('--json', 'print as JSON')
    .action(async (canaryId: string, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        const s = await client.workflow.getHandle(canaryId).query(canaryStatusQuery)
        if (opts.json) printJson(s)
        else for (const line of describeCanary(s)) say(line)
      })
    })

  for (const verb of ['approve', 'reject'] as const) {
    canary
      .command(`${verb} <canaryId>`)
      .description(verb === 'approve' ? 'promote the candidate to production (only when the canary awaits approval)' : 'roll the candidate back')
      .option('--approver <identity>', 'who decides (required): a name or email')
      .option('--role <role>', 'the approver\'s role, e.g. on-call, owner')
      .option('--comment <text>', 'why')
      .option('--json', 'print the outcome as JSON')
      .action(decide(verb))
  }
}
