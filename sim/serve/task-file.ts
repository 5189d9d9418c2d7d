/**
 * @module sim/serve/task-file
 * A task file (core/task-file.ts) for a scenario's task served by `kaizen sim serve`: the scenario's
 * seed prompt on `openai:<tier>`, the scenario's grader plus an LLM-judge dimension judged by
 * `openai:sim-judge`, and `openai:sim-proposer` as the search's proposer. `kaizen task apply -f` it
 * with OPENAI_BASE_URL pointing at the server, and the task runs on Kaizen's real-provider code.
 */
import { Document } from 'yaml'
import { KaizenError } from '../../core/errors.js'
import { defaultDqGrader, GraderSpec, type Dimension } from '../../core/grader-spec.js'
import { sentences } from '../../core/search/edits.js'
import { parseTaskFile, type TaskFile } from '../../core/task-file.js'
import type { Scenario } from '../scenario.js'
import { JUDGE_MODEL, PROPOSER_MODEL } from './models.js'

/** The judge's dimension: right or wrong against what resolved the case. */
const JUDGE_DIMENSION: Omit<Dimension, 'name'> = {
  weight: 1,
  veto: false,
  check: {
    type: 'llm-judge',
    rubric:
      'Would this decision resolve the case the way it was actually resolved: the right cause, the actions that ' +
      'fixed it with their targets, and the risk?',
    levels: [
      { label: 'wrong', description: 'the cause, an action or the risk is wrong or missing, or it is not a decision' },
      { label: 'right', description: 'the cause, the actions with their targets and the risk are what resolved it' },
    ],
    includeReference: true,
  },
}

/** The scenario's grader (as Kaizen derives it) with the judge's dimension added. */
function graderOf(scenario: Scenario): GraderSpec {
  const { grader, ...settings } = scenario.grading
  const base = grader ?? defaultDqGrader({ ...settings, passThreshold: 0.7 })
  const name = base.dimensions.some((d) => d.name === 'resolution') ? 'judge-resolution' : 'resolution'
  return GraderSpec.parse({
    ...base,
    dimensions: [...base.dimensions, { name, ...JUDGE_DIMENSION }],
    judge: { ...base.judge, model: `openai:${JUDGE_MODEL}` },
  })
}

export function simTaskFile(scenario: Scenario, tier = scenario.task.prompt.model): TaskFile {
  if (!scenario.models.some((m) => m.id === tier))
    throw new KaizenError(
      'INVALID_INPUT',
      `scenario ${scenario.id} has no model tier "${tier}" (tiers: ${scenario.models.map((m) => m.id).join(', ')})`,
    )
  const t = scenario.task
  return parseTaskFile(
    {
      id: `${t.id}-sim-serve`,
      title: `${t.title} (simulation over the OpenAI wire)`,
      description: `[simulation] ${t.description} Served by kaizen sim serve (scenario ${scenario.id}).`,
      model: `openai:${tier}`,
      params: t.prompt.params,
      inputs: t.inputFields,
      messages: [
        { role: 'system', content: t.prompt.system },
        { role: 'user', content: t.prompt.user },
      ],
      grader: graderOf(scenario),
      search: {
        proposerModel: `openai:${PROPOSER_MODEL}`,
        maxSentences: sentences(t.prompt.system).length + t.maxClauses,
        maxPromptTokens: t.maxPromptTokens,
      },
    },
    `the task file of scenario ${scenario.id}`,
  )
}

/** The task file as YAML, headed by a comment saying it is a simulation. */
export function simTaskFileYaml(scenario: Scenario, tier?: string): string {
  const doc = new Document(simTaskFile(scenario, tier))
  doc.commentBefore =
    ` [simulation] Scenario ${scenario.id}, served by kaizen sim serve: every model below is simulated.\n` +
    ' Apply with OPENAI_BASE_URL=<the server>/v1 kaizen task apply -f <this file>'
  return doc.toString({ lineWidth: 0 })
}
