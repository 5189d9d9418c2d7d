/**
 * @module sim/serve/examples
 * The inputs `kaizen sim serve` can answer: the examples it hands out (`GET /sim/v1/examples`), which
 * are the scenario's examples with the keys `serve:000000`, `serve:000001`, … (deterministic: every
 * server of the same scenario hands out the same ones), indexed so that a request's input is
 * recognised at once:
 *
 * - by its input variables (the judge's case block): one map lookup;
 * - by the rendered user message (a task request made with the scenario's user template): one lookup;
 * - otherwise by scanning for an example whose every input value appears in the message (a task
 *   file with its own user template): linear in the examples handed out, still well under a millisecond
 *   per thousand.
 */
import { renderTemplate } from '../../core/prompt.js'
import type { SimExample } from '../generator.js'
import type { SimWorld } from '../world.js'

/** Most examples one scenario's index holds (`offset + count` of a page may not pass it). */
export const MAX_INDEXED = 100_000

/** Whitespace collapsed, and the judge's fence markers neutralised as graders/judge.ts does. */
export function normalizeValue(text: string): string {
  return text
    .replace(/<<<|>>>/g, '≪')
    .replace(/DATA:/gi, 'DATA∶')
    .replace(/\s+/g, ' ')
    .trim()
}

export const exampleKey = (n: number): string => `serve:${String(n).padStart(6, '0')}`

export class ExampleIndex {
  private readonly examples: SimExample[] = []
  private readonly byInput = new Map<string, number>()
  private readonly byMessage = new Map<string, number>()
  /** Each example's normalised input values, for the scan. */
  private readonly values: string[][] = []

  constructor(
    readonly world: SimWorld,
    preload = 0,
  ) {
    this.extendTo(preload)
  }

  get size(): number {
    return this.examples.length
  }

  /** Examples `offset` to `offset + count - 1`, generated and indexed as needed. */
  page(offset: number, count: number): SimExample[] {
    this.extendTo(Math.min(MAX_INDEXED, offset + count))
    return this.examples.slice(offset, offset + count)
  }

  private extendTo(n: number): void {
    for (let i = this.examples.length; i < n; i++) {
      const ex = this.world.example(exampleKey(i))
      this.examples.push(ex)
      this.values.push(this.world.scenario.task.inputFields.map((f) => normalizeValue(ex.input[f] ?? '')))
      const byInput = this.inputKey(ex.input)
      if (!this.byInput.has(byInput)) this.byInput.set(byInput, i)
      const message = normalizeValue(this.render(ex))
      if (!this.byMessage.has(message)) this.byMessage.set(message, i)
    }
  }

  private render(ex: SimExample): string {
    return renderTemplate(this.world.scenario.task.prompt.user, ex.input, 'the scenario user template')
  }

  /** The scenario's input fields, in order, with normalised values: equal inputs, equal keys. */
  private inputKey(input: Readonly<Record<string, string>>): string {
    return JSON.stringify(this.world.scenario.task.inputFields.map((f) => normalizeValue(input[f] ?? '')))
  }

  /** The example with exactly these input variables (the scenario's input fields; others ignored). */
  findByInput(input: Readonly<Record<string, string>>): SimExample | null {
    const fields = this.world.scenario.task.inputFields
    if (!fields.every((f) => typeof input[f] === 'string')) return null
    const i = this.byInput.get(this.inputKey(input))
    return i === undefined ? null : (this.examples[i] as SimExample)
  }

  /** The example a user message carries: the scenario's template rendered, else every input value in it. */
  findInText(text: string): SimExample | null {
    const norm = normalizeValue(text)
    const i = this.byMessage.get(norm)
    if (i !== undefined) return this.examples[i] as SimExample
    const found = this.values.findIndex((values) => values.every((v) => norm.includes(v)))
    return found < 0 ? null : (this.examples[found] as SimExample)
  }
}
