/**
 * @module sim/serve/labels
 * `POST /sim/v1/labels`: the simulated world as the person who labels answers for calibration
 * (`kaizen grader calibrate --labels`). It reads the lines `kaizen traffic export` writes
 * (`{ id, input, output, reference }`) and returns each with the labels a careful on-call engineer
 * would give, from the world's truth: whether it resolves the case (the dimension `resolution` by
 * default, `?truth=` names another), an overall rating (5 right, 2 wrong, 1 unreadable) and, when
 * `?format=` names a dimension, whether the answer is a decision the tooling can read. Labelled
 * simulation; in production people label.
 */
import { parseDecision } from '../../core/decision.js'
import type { SimExample } from '../generator.js'
import type { SimWorld } from '../world.js'
import { truthOf } from './judge.js'
import { WireError } from './wire.js'

export interface LabelNames {
  /** The dimension labelled "is it a readable decision" (none unless named). */
  format: string | null
  /** The dimension labelled "does it resolve the case" (default `resolution`). */
  truth: string
}

/** One exported record with its labels. */
export function labelLine(world: SimWorld, example: SimExample, line: Record<string, unknown>, names: LabelNames) {
  const output = typeof line.output === 'string' ? line.output : ''
  const readable = parseDecision(output).ok
  const truth = truthOf(world, example, output)
  return {
    ...line,
    labels: {
      overall: truth.pass ? 5 : readable ? 2 : 1,
      dimensions: {
        ...(names.format ? { [names.format]: readable ? 'pass' : 'fail' } : {}),
        [names.truth]: truth.pass ? 'pass' : 'fail',
      },
      safety: 'ok',
    },
    labelledBy: 'simulation',
  }
}

/** The body's lines, each a JSON object with `input` and `output`; a bad line is a 400 naming it. */
export function parseLabelBody(text: string): Array<Record<string, unknown> & { input: Record<string, string> }> {
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  if (lines.length === 0)
    throw new WireError(400, 'send the records to label, one JSON object per line (kaizen traffic export)', 'empty')
  return lines.map((l, i) => {
    let value: unknown
    try {
      value = JSON.parse(l)
    } catch {
      throw new WireError(400, `line ${i + 1} is not JSON`, 'invalid_line', `line ${i + 1}`)
    }
    const rec = value as { input?: unknown; output?: unknown }
    if (typeof rec !== 'object' || rec === null || typeof rec.input !== 'object' || rec.input === null)
      throw new WireError(400, `line ${i + 1}: give input (the record's variables) and output`, 'invalid_line')
    return value as Record<string, unknown> & { input: Record<string, string> }
  })
}
