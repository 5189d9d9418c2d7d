/**
 * @module db/queries/scores
 * Reading the stored scores of traffic records under a grader version.
 */
import { and, eq, inArray } from 'drizzle-orm'
import type { Db } from '../client.js'
import { scores, traffic } from '../schema.js'

/** Joins a traffic record to its score under the grader version (for a left join on `scores`). */
export const trafficScoreOn = (graderVersionId: string) =>
  and(eq(scores.subjectType, 'traffic'), eq(scores.subjectId, traffic.id), eq(scores.graderVersionId, graderVersionId))

/**
 * Stored scores of these traffic records under the grader version (records without one are left
 * out). Looked up by key in slices of 1,000 rather than joined: rows written moments ago have no
 * planner statistics yet, and a join degenerates into a nested loop (seen: 0.7 s for 2,000 items).
 */
export async function trafficScores(
  db: Db,
  graderVersionId: string,
  ids: readonly string[],
): Promise<Array<{ id: string; score: number | null; pass: boolean }>> {
  const out: Array<{ id: string; score: number | null; pass: boolean }> = []
  for (let i = 0; i < ids.length; i += 1_000) {
    out.push(
      ...(await db
        .select({ id: scores.subjectId, score: scores.score, pass: scores.pass })
        .from(scores)
        .where(
          and(
            eq(scores.subjectType, 'traffic'),
            eq(scores.graderVersionId, graderVersionId),
            inArray(scores.subjectId, ids.slice(i, i + 1_000)),
          ),
        )),
    )
  }
  return out
}
