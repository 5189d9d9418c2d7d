/**
 * @module core/search/fewshot
 * Few-shot selection: search over which demonstrations a prompt carries, drawn from high-DQ
 * production answers of the training split (`ports.demonstrations`). Each proposal adds, swaps
 * or removes one demonstration of the best-ranked prompt (its instructions unchanged); it is
 * screened on a training minibatch that excludes every demonstration's own item (no prompt is
 * scored on an example it shows), strict acceptance, and pays for full validation only when
 * accepted — the same screen as GEPA's. Lineage records which traffic records were shown.
 *
 * Pure module: all I/O goes through the ports.
 */
import { MAX_DEMONSTRATIONS, type Demonstration, type PromptContent } from '../prompt.js'
import { Exhausted, evaluateWithin, ranked, sameText, screen } from './common.js'
import type { Candidate, DemonstrationSource, Proposal, RoundOutcome, SearchPorts, StrategySettings } from './types.js'

const sameDemo = (a: Demonstration, b: Demonstration) =>
  a.output === b.output && JSON.stringify(a.input) === JSON.stringify(b.input)

const sameContent = (a: PromptContent, b: PromptContent) =>
  sameText(a, b) && JSON.stringify(a.examples ?? []) === JSON.stringify(b.examples ?? [])

/** One edit of the parent's demonstrations: add (while below the cap), swap or remove one. */
export function editDemonstrations(
  parent: PromptContent,
  sources: readonly DemonstrationSource[],
  rng: SearchPorts['rng'],
  max = MAX_DEMONSTRATIONS,
): Proposal | null {
  const current = parent.examples ?? []
  const unused = sources.filter((s) => !current.some((d) => sameDemo(d, s.demonstration)))
  const moves = [
    ...(unused.length > 0 && current.length < max ? ['add', 'add'] : []),
    ...(unused.length > 0 && current.length > 0 ? ['swap'] : []),
    ...(current.length > 0 ? ['remove'] : []),
  ]
  if (moves.length === 0) return null
  const move = rng.pick(moves)
  let examples: Demonstration[]
  let used: DemonstrationSource | null = null
  if (move === 'add') {
    used = rng.pick(unused)
    examples = [...current, used.demonstration]
  } else if (move === 'swap') {
    used = rng.pick(unused)
    const at = rng.int(current.length)
    examples = current.map((d, i) => (i === at ? (used as DemonstrationSource).demonstration : d))
  } else {
    const at = rng.int(current.length)
    examples = current.filter((_, i) => i !== at)
  }
  const { examples: _old, ...rest } = parent
  const content: PromptContent = examples.length > 0 ? { ...rest, examples } : rest
  return {
    content,
    operator: `fewshot-${move}`,
    feedbackUsed: used ? [`demonstration from traffic ${used.itemId} (DQ ${used.score.toFixed(2)})`] : [],
  }
}

export async function fewShotRound(
  pool: Candidate[],
  settings: StrategySettings,
  ports: SearchPorts,
): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { proposals: 0, accepted: 0, exhausted: false, saturated: false }
  const sources = ports.demonstrations ? await ports.demonstrations() : []
  const parent = ranked(pool)[0]
  if (!parent || sources.length === 0) {
    outcome.saturated = true
    return outcome
  }
  const shown = new Set(sources.map((s) => s.itemId))
  const eligible = ports.trainIds.filter((id) => !shown.has(id))
  if (eligible.length === 0) {
    outcome.saturated = true
    return outcome
  }
  try {
    const minibatch = ports.rng.sample(eligible, settings.minibatchSize)
    const parentScores = await evaluateWithin(ports, parent.content, minibatch)
    for (let p = 0; p < settings.proposals; p++) {
      const proposal = editDemonstrations(parent.content, sources, ports.rng)
      if (!proposal || pool.some((c) => sameContent(c.content, proposal.content))) continue
      if (ports.admits && !ports.admits(proposal.content)) continue
      outcome.proposals++
      const { accepted } = await screen(pool, ports, [parent], proposal, minibatch, parentScores)
      if (accepted) outcome.accepted++
    }
  } catch (err) {
    if (!(err instanceof Exhausted)) throw err
    outcome.exhausted = true
  }
  return outcome
}
