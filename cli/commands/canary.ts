/**
 * @module cli/commands/canary
 * `kaizen canary status|approve|reject`, through client/operations.ts. Approvals are Temporal
 * Updates: the workflow's validator refuses a decision without an identity, or one the canary
 * cannot take now, and nothing is recorded then. During the bake window (from the approval on) a
 * reject rolls production back; an approval repeated by the same person returns the recorded one.
 */
import type { Command } from 'commander'
import { describeFailure, type FailureReport } from '../../client/failures.js'
import type { CanaryView } from '../../client/operations.js'
import type { CanaryStatus } from '../../workflows/messages.js'
import { requireOption, withOperations } from '../context.js'
import { describeChain, fmt, printJson, say } from '../output.js'

/** A canary's status (live or final), or why its workflow failed. */
export function describeCanaryView(v: CanaryView): string[] {
  if (v.failure)
    return [
      `Canary ${v.canaryId} · ${v.workflowStatus.toLowerCase()}: ${describeFailure(v.failure as FailureReport)}`,
      `  failure chain: ${describeChain(v.failure)}`,
    ]
  return describeCanary(v as unknown as CanaryStatus)
}

export function describeCanary(s: CanaryStatus): string[] {
  const ended = s.state === 'promoted' || s.state === 'rolled_back'
  const share = `${Math.round(s.weight * 100)}% of traffic`
  const ramp =
    s.steps && s.steps.length > 1
      ? ` (ramp ${s.steps.map((w) => `${Math.round(w * 100)}%`).join(' → ')}, step ${(s.step ?? 0) + 1})`
      : ''
  const lines = [
    `Canary ${s.canaryId} · task ${s.taskId} · ${s.state} · ` +
      `${ended ? 'ended' : s.state === 'baking' ? `${share} held back on the previous version` : `${share}${ramp}`}`,
  ]
  lines.push(`  candidate ${s.candidateVersionId} vs baseline ${s.baselineVersionId}`)
  if (s.reason) lines.push(`  ${s.reason}`)
  for (const alert of s.alerts ?? []) lines.push(`  ALERT: ${alert}`)
  const a = s.analysis
  if (a) {
    const arm = (name: string, x: typeof a.canary) =>
      `${name} ${x.requests} requests (${x.graded} graded, ${x.errors} errors; DQ ${fmt(x.meanScore)}, ` +
      `latency ` +
      `${x.meanLatencyMs === null || x.meanLatencyMs === undefined ? 'n/a' : `${Math.round(x.meanLatencyMs)} ms`}` +
      `, cost ` +
      `${x.meanCostUsd === null || x.meanCostUsd === undefined ? 'n/a' : `$${x.meanCostUsd.toFixed(6)}`})`
    const baking = a.treatment === 'baseline'
    lines.push(
      baking
        ? `  arms: ${arm('production (new)', a.baseline)}; ${arm('holdback (previous)', a.canary)}`
        : `  arms: ${arm('canary', a.canary)}; ${arm('baseline', a.baseline)}`,
    )
    if (a.effect) {
      lines.push(
        `  effect (${baking ? 'production − holdback' : 'canary − baseline'}, DQ): ${fmt(a.effect.estimate)} ` +
          `with an always-valid ${Math.round(a.effect.level * 100)}% interval [${fmt(a.effect.lower)}, ` +
          `${fmt(a.effect.upper)}] over ${a.pairedSamples} paired requests`,
      )
    }
    for (const m of a.metrics ?? [a.quality, a.errorRate]) {
      lines.push(
        `  ${m.metric.padEnd(10)} harm test: e-value ${m.harm.max.toFixed(2)} / ` +
          `${m.harm.threshold.toFixed(0)} (α ${m.harm.alpha ?? ''}, always-valid p ${fmt(m.harm.pValue, 4)}) → ` +
          `${m.harmful ? 'REGRESSION' : 'no regression'}`,
      )
    }
    lines.push(
      `  readiness (no worse than −${a.readiness.margin}): e-value ${a.readiness.max.toFixed(2)} / ` +
        `${a.readiness.threshold.toFixed(0)} → ${a.readiness.ready ? 'READY' : 'not yet'}`,
    )
    if (a.sampleRatio && a.sampleRatio.units > 0) {
      lines.push(
        `  sample ratio: ${a.sampleRatio.treatmentUnits} of ${a.sampleRatio.units} routing units on the ` +
          `label arm (expected ${Math.round((a.sampleRatio.expectedShare ?? 0) * 100)}%) → ` +
          `${a.sampleRatio.mismatch ? 'MISMATCH' : 'ok'}`,
      )
    }
    lines.push(
      `  hard floor: ${a.hardFloor.run} consecutive failed requests (limit ${a.hardFloor.limit})`,
      `  verdict: ${a.verdict} — ${a.reasons.join('; ')}`,
    )
  }
  if (s.decisions && s.decisions.length > 0)
    for (const d of s.decisions)
      lines.push(
        `  ${d.decision === 'approve' ? 'approved' : 'rejected'} by ` +
          `${d.approver}${d.role ? ` (${d.role})` : ''} at ${d.at} (${d.approvalId})`,
      )
  else if (s.decidedBy) lines.push(`  decided by ${s.decidedBy}`)
  return lines
}

function decide(verb: 'approve' | 'reject') {
  return async (canaryId: string, opts: { approver?: string; role?: string; comment?: string; json?: boolean }) => {
    const approver = requireOption(opts.approver, '--approver', `say who ${verb}s, e.g. --approver alice@example.com`)
    await withOperations(async (ops) => {
      const { outcome, message } = await ops.decideCanary(canaryId, verb, {
        approver,
        ...(opts.role ? { role: opts.role } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
      })
      if (opts.json) return printJson(outcome)
      say(message)
    })
  }
}

export function registerCanary(program: Command): void {
  const canary = program.command('canary').description('canary releases and human approval')

  canary
    .command('status <canaryId>')
    .description(
      'the evidence a human needs: arms, samples, effect, verdicts per metric (an ended canary: its final ' +
        'state, or why it failed)',
    )
    .option('--json', 'print as JSON')
    .action(async (canaryId: string, opts: { json?: boolean }) => {
      await withOperations(async (ops) => {
        const view = await ops.describeCanary(canaryId)
        if (opts.json) printJson(view)
        else for (const line of describeCanaryView(view)) say(line)
      })
    })

  for (const verb of ['approve', 'reject'] as const) {
    canary
      .command(`${verb} <canaryId>`)
      .description(
        verb === 'approve'
          ? 'promote the candidate to production (only when the canary awaits approval; repeated by the same ' +
              'approver: the recorded outcome)'
          : 'roll the candidate back (during the bake window, from the approval on: production back to the ' +
              'previous version)',
      )
      .option('--approver <identity>', 'who decides (required): a name or email')
      .option('--role <role>', "the approver's role, e.g. on-call, owner")
      .option('--comment <text>', 'why')
      .option('--json', 'print the outcome as JSON')
      .action(decide(verb))
  }
}
