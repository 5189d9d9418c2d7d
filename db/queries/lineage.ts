/**
 * @module db/queries/lineage
 * A campaign's candidates as a lineage: every candidate with its prompt version, parents,
 * operator, the feedback it used and its scores per split; and the path from the seed to the
 * winner (or to the best candidate when nothing shipped).
 */
import { asc, eq } from 'drizzle-orm'
import { KaizenError } from '../../core/errors.js'
import type { Db } from '../client.js'
import { campaigns, candidates, promptVersions } from '../schema.js'

export interface LineageNode {
  candidateId: string
  promptVersionId: string
  version: number
  parents: string[]
  operator: string
  round: number
  status: 'seed' | 'accepted' | 'rejected'
  feedback: string[]
  minibatch: { parent: number; child: number; n: number } | null
  validationMean: number | null
  holdoutMean: number | null
  /** The model the prompt version runs on (a search over models moves prompts between them). */
  model: string
  instructions: string
}

export interface Lineage {
  campaignId: string
  taskId: string
  decision: string | null
  winnerVersionId: string | null
  nodes: LineageNode[]
  /** Seed first, the winner (or best candidate) last. */
  path: LineageNode[]
  /** A search over models: the holdout front of its finalists and production, and each one's verdict. */
  agility: unknown
}

export async function campaignLineage(db: Db, campaignId: string): Promise<Lineage> {
  const campaign = await db.query.campaigns.findFirst({ where: eq(campaigns.id, campaignId) })
  if (!campaign)
    throw new KaizenError(
      'NOT_FOUND',
      `unknown campaign "${campaignId}"; \`kaizen campaign list\` shows the recent ones`,
    )
  const rows = await db
    .select({ c: candidates, v: promptVersions })
    .from(candidates)
    .innerJoin(promptVersions, eq(promptVersions.id, candidates.promptVersionId))
    .where(eq(candidates.campaignId, campaignId))
    .orderBy(asc(candidates.round), asc(candidates.createdAt), asc(candidates.id))
  const nodes: LineageNode[] = rows.map(({ c, v }) => ({
    candidateId: c.id,
    promptVersionId: v.id,
    version: v.version,
    parents: c.parentCandidateIds,
    operator: c.operator,
    round: c.round,
    status: c.status,
    feedback: c.feedback,
    minibatch: c.minibatch ?? null,
    validationMean: c.validationMean,
    holdoutMean: c.holdoutMean,
    model: v.model,
    instructions: v.system,
  }))
  const byId = new Map(nodes.map((n) => [n.candidateId, n]))
  const best = [...nodes]
    .filter((n) => n.status !== 'rejected' && n.validationMean !== null)
    .sort((a, b) => (b.validationMean as number) - (a.validationMean as number))[0]
  const end: LineageNode | undefined = nodes.find((n) => n.promptVersionId === campaign.winnerVersionId) ?? best
  const path: LineageNode[] = []
  for (let n = end; n && path.length < 1_000; n = n.parents[0] ? byId.get(n.parents[0]) : undefined) path.unshift(n)
  return {
    campaignId,
    taskId: campaign.taskId,
    decision: campaign.decision,
    winnerVersionId: campaign.winnerVersionId,
    nodes,
    path,
    agility: campaign.result?.['agility'] ?? null,
  }
}
