/**
 * @module evaluation/calibration
 * Calibrate a task's grader version on a labelled set and record the verdict (append-only), and
 * decide whether a grader may judge a canary: a trusted verdict, or an audited operator override.
 * Runs in the calling process (the CLI, `kaizen up`'s bootstrap, tests); LLM judge calls go
 * through the model client like any other.
 */
import { readFileSync } from 'node:fs'
import { and, desc, eq } from 'drizzle-orm'
import { KaizenError, formatPath } from '../core/errors.js'
import { appendAudit } from '../db/queries/audit.js'
import { currentGraderVersionId, getGraderSpec, getGraderVersion, latestTrust } from '../db/queries/graders.js'
import { requireTask } from '../db/queries/prompts.js'
import { auditEvents, graderTrust } from '../db/schema.js'
import { calibrate, LabelRecord, type CalibrationReport } from '../graders/calibration.js'
import { grade } from '../graders/engine.js'
import { contentHash } from '../lib/hash.js'
import type { EvaluationDeps } from './deps.js'
import { judgeCaller } from './judge-caller.js'

export function readLabels(path: string): LabelRecord[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new KaizenError('INVALID_INPUT', `--labels: cannot read ${path}: ${(err as Error).message}`)
  }
  const records: LabelRecord[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      throw new KaizenError('INVALID_INPUT', `${path}:${i + 1}: not JSON; the labels file has one JSON object per line`)
    }
    const parsed = LabelRecord.safeParse(json)
    if (!parsed.success) {
      const fields = parsed.error.issues.map((x) => `${formatPath(x.path)}: ${x.message}`).join('; ')
      throw new KaizenError(
        'INVALID_INPUT',
        `${path}:${i + 1}: ${fields}. Each line: {"id", "input": {...}, "output", "reference"?, ` +
          '"labels": {"overall": 1-5, "dimensions": {"<name>": "pass"|"fail"}, "safety"?}}',
      )
    }
    records.push(parsed.data)
  })
  if (records.length < 10)
    throw new KaizenError(
      'INSUFFICIENT_DATA',
      `${path} has ${records.length} labelled items; calibration needs at least 10 (50 or more for a useful verdict)`,
    )
  return records
}

/** The grader version a task uses now (activated, else its scenario's default). */
export async function currentGraderVersion(deps: EvaluationDeps, taskId: string): Promise<string> {
  return currentGraderVersionId(deps.db, await requireTask(deps.db, taskId))
}

export interface CalibrationOutcome {
  taskId: string
  graderVersionId: string
  trustId: string
  labelsHash: string
  report: CalibrationReport
}

export async function calibrateGrader(
  deps: EvaluationDeps,
  input: { taskId: string; graderVersionId?: string; labels: LabelRecord[]; actor: string; source: string },
): Promise<CalibrationOutcome> {
  const graderVersionId = input.graderVersionId ?? (await currentGraderVersion(deps, input.taskId))
  const version = await getGraderVersion(deps.db, graderVersionId)
  if (version.taskId !== input.taskId)
    throw new KaizenError(
      'INVALID_INPUT',
      `grader version ${graderVersionId} belongs to task ${version.taskId}, not ${input.taskId}`,
    )
  const spec = await getGraderSpec(deps.db, graderVersionId)
  const judge = judgeCaller(deps.models, { campaignId: null }, undefined, deps.redactor)
  const report = await calibrate(spec, input.labels, (item) => grade(spec, item, { judge }))
  const labelsHash = contentHash(input.labels)
  const trustId = `gt_${contentHash({ graderVersionId, labelsHash, report }).slice(0, 16)}`
  await deps.db
    .insert(graderTrust)
    .values({
      id: trustId,
      graderVersionId,
      taskId: input.taskId,
      trusted: report.trusted,
      labelsHash,
      labelsCount: input.labels.length,
      report: report as unknown as Record<string, unknown>,
      createdBy: input.actor,
    })
    .onConflictDoNothing({ target: graderTrust.id })
  await appendAudit(deps.db, {
    eventKey: `grader:${graderVersionId}:calibrated:${trustId}`,
    actor: input.actor,
    action: report.trusted ? 'grader.trusted' : 'grader.untrusted',
    taskId: input.taskId,
    subjectType: 'grader_version',
    subjectId: graderVersionId,
    details: { trustId, labelsHash, labels: input.labels.length, source: input.source, reasons: report.reasons },
  })
  return { taskId: input.taskId, graderVersionId, trustId, labelsHash, report }
}

export async function overrideGraderTrust(
  deps: EvaluationDeps,
  input: { graderVersionId: string; operator: string; reason: string },
): Promise<void> {
  if (!input.operator.trim())
    throw new KaizenError('FORBIDDEN', '--operator is required: an override records who made it')
  if (input.reason.trim().length < 10)
    throw new KaizenError(
      'INVALID_INPUT',
      '--reason: say why this grader may judge canaries without a trusted calibration (at least 10 characters)',
    )
  const version = await getGraderVersion(deps.db, input.graderVersionId)
  await appendAudit(deps.db, {
    eventKey: `grader:${version.id}:override:${input.operator}:${Date.now()}`,
    actor: `operator:${input.operator}`,
    action: 'grader.trust-override',
    taskId: version.taskId,
    subjectType: 'grader_version',
    subjectId: version.id,
    details: {
      graderVersionId: version.id,
      reason: input.reason,
      latestVerdict: (await latestTrust(deps.db, version.id))?.id ?? null,
    },
  })
}

/**
 * May this grader version judge a canary (the grader-trust check)? Trusted by its latest
 * calibration, or overridden (audited).
 */
export async function graderTrustCheck(
  db: EvaluationDeps['db'],
  graderVersionId: string,
): Promise<{ ok: boolean; via: 'calibration' | 'override' | null; reason: string }> {
  const verdict = await latestTrust(db, graderVersionId)
  if (verdict?.trusted) return { ok: true, via: 'calibration', reason: `trusted by calibration ${verdict.id}` }
  const [override] = await db
    .select({ actor: auditEvents.actor, details: auditEvents.details })
    .from(auditEvents)
    .where(and(eq(auditEvents.subjectId, graderVersionId), eq(auditEvents.action, 'grader.trust-override')))
    .orderBy(desc(auditEvents.id))
    .limit(1)
  if (override)
    return {
      ok: true,
      via: 'override',
      reason:
        `not trusted by calibration, overridden by ${override.actor}: ` +
        ((override.details as { reason?: string }).reason ?? ''),
    }
  const why = verdict
    ? `its calibration ${verdict.id} failed (${((verdict.report.reasons as string[] | undefined) ?? []).join('; ')})`
    : 'it has never been calibrated'
  return {
    ok: false,
    via: null,
    reason:
      `grader ${graderVersionId} is not trusted: ${why}. ` +
      'Run `kaizen grader calibrate --task <task> --labels FILE.jsonl`, ' +
      `or \`kaizen grader override --grader ${graderVersionId} --operator <you> --reason <why>\``,
  }
}

/**
 * On start-up: a scenario task whose current grader has never been calibrated is calibrated on
 * the scenario's shipped labels (`<scenarios>/labels/<scenario>.jsonl`), if there are any.
 */
export async function bootstrapCalibration(
  deps: EvaluationDeps,
  input: { taskId: string; labelsPath: string },
): Promise<CalibrationOutcome | null> {
  const id = await currentGraderVersion(deps, input.taskId)
  if (await latestTrust(deps.db, id)) return null
  let labels: LabelRecord[]
  try {
    labels = readLabels(input.labelsPath)
  } catch {
    return null
  }
  return calibrateGrader(deps, {
    taskId: input.taskId,
    graderVersionId: id,
    labels,
    actor: 'kaizen:bootstrap',
    source: input.labelsPath,
  })
}
