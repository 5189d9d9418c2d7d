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
  const ramp = s.steps && s.steps.length > 1 ? ` (ramp ${s.steps.map((w) => `${Math.round(w * 100)}%`).join(' → ')}, step ${(s.step ?? 0) + 1})` : ''
  const lines = [`Canary ${s.canaryId} · task ${s.taskId} · ${s.state} · ${ended ? 'ended' : s.state === 'baking' ? `${share} held back on the previous version` : `${share}${ramp}`}`]
  lines.push(`  candidate ${s.candidateVersionId} vs baseline ${s.baselineVersionId}`)
  if (s.reason) lines.push(`  ${s.reason}`)
  for (const alert of s.alerts ?? []) lines.push(`  ALERT: ${alert}`)
  const a = s.analysis
  if (a) {
    const arm = (name: string, x: typeof a.canary) =>
      `${name} ${x.requests} requests (${x.graded} graded, ${x.errors} errors; DQ ${fmt(x.meanScore)}, latency ${x.meanLatencyMs === null || x.meanLatencyMs === undefined ? 'n/a' : `${Math.round(x.meanLatencyMs)} ms`}, cost ${x.meanCostUsd === null || x.meanCostUsd === undefined ? 'n/a' : `$${x.meanCostUsd.toFixed(6)}`})`
    const baking = a.treatment === 'baseline'
    lines.push(
      baking
        ? `  arms: ${arm('production (new)', a.baseline)}; ${arm('holdback (previous)', a.canary)}`
        : `  arms: ${arm('canary', a.canary)}; ${arm('baseline', a.baseline)}`,
    )
    if (a.effect) {
      lines.push(
        `  effect (${baking ? 'production − holdback' : 'canary − baseline'}, DQ): ${fmt(a.effect.estimate)} with an always-valid ${Math.round(a.effect.level * 100)}% interval [${fmt(a.effect.lower)}, ${fmt(a.effect.upper)}] over ${a.pairedSamples} paired requests`,
      )
    }
    for (const m of a.metrics ?? [a.quality, a.errorRate]) {
      lines.push(`  ${m.metric.padEnd(10)} harm test: e-value ${m.harm.max.toFixed(2)} / ${m.harm.threshold.toFixed(0)} (α ${m.harm.alpha ?? ''}, always-valid p ${fmt(m.harm.pValue, 4)}) → ${m.harmful ? 'REGRESSION' : 'no regression'}`)
    }
    lines.push(`  readiness (no worse than −${a.readiness.margin}): e-value ${a.readiness.max.toFixed(2)} / ${a.readiness.threshold.toFixed(0)} → ${a.readiness.ready ? 'READY' : 'not yet'}`)
    if (a.sampleRatio && a.sampleRatio.units > 0) {
      lines.push(`  sample ratio: ${a.sampleRatio.treatmentUnits} of ${a.sampleRatio.units} routing units on the label arm (expected ${Math.round((a.sampleRatio.expectedShare ?? 0) * 100)}%) → ${a.sampleRatio.mismatch ? 'MISMATCH' : 'ok'}`)
    }
    lines.push(`  hard floor: ${a.hardFloor.run} consecutive failed requests (limit ${a.hardFloor.limit})`, `  verdict: ${a.verdict} — ${a.reasons.join('; ')}`)
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
