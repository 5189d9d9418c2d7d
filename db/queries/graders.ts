/**
 * @module db/queries/graders
 * Immutable grader versions. The id is the content hash of the grader's spec and code version,
 * so changing a rubric, a weight or the grading code makes a new version, and every score stays
 * traceable to exactly what produced it.
 */
import { eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import { DqSpec } from '../../graders/types.js'
import { contentHash } from '../../lib/hash.js'
import type { Scenario } from '../../sim/scenario.js'
import type { Db } from '../client.js'
import { graderVersions } from '../schema.js'

/** Bump when the grading code changes behaviour: old scores then stay tied to the old version. */
export const DQ_GRADER_CODE_VERSION = 'dq-deterministic@1'

export function dqSpecFromScenario(scenario: Scenario): DqSpec {
  return DqSpec.parse({ kind: 'dq', ...scenario.grading })
}

export async function ensureGraderVersion(db: Db, taskId: string, spec: DqSpec): Promise<string> {
  const id = `gv_${contentHash({ taskId, spec, code: DQ_GRADER_CODE_VERSION }).slice(0, 16)}`
  await db
    .insert(graderVersions)
    .values({ id, taskId, name: 'decision-quality', spec, codeVersion: DQ_GRADER_CODE_VERSION })
    .onConflictDoNothing({ target: graderVersions.id })
  return id
}

export async function getGraderSpec(db: Db, id: string): Promise<DqSpec> {
  const row = await db.query.graderVersions.findFirst({ where: eq(graderVersions.id, id) })
  if (!row) throw new KaizenError('NOT_FOUND', `unknown grader version "${id}"`)
  if (row.codeVersion !== DQ_GRADER_CODE_VERSION) {
    throw new KaizenError('CONFLICT', `grader version ${id} was made by ${row.codeVersion}; this build grades with ${DQ_GRADER_CODE_VERSION}`)
  }
  return DqSpec.parse(row.spec)
}
