/**
 * @module providers/prices
 * What a model call costs, per million input and output tokens (USD). The built-in table covers
 * common hosted models as listed by their providers; a price file (KAIZEN_PRICES_FILE, JSON or
 * YAML `{ "<model>": { inputPerMTok, outputPerMTok } }`, or per model a list of prices each with the
 * date it starts) overrides or extends it, e.g. for a negotiated rate, a price change or a
 * self-hosted model (price 0). A call is priced at its time. A model without a price costs `null`:
 * its spend cannot be counted, so a campaign with a USD budget refuses it with a clear error.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { KaizenError, formatPath } from '../core/errors.js'

export const ModelPrice = z.object({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() })
export type ModelPrice = z.infer<typeof ModelPrice>
/** A price from a date on (ISO date or date-time); the latest one not after a call's time applies. */
export const DatedPrice = ModelPrice.extend({
  from: z.union([z.iso.date(), z.iso.datetime({ offset: true })], {
    error: 'use an ISO date (2026-06-01) or date-time with an offset (2026-06-01T00:00:00Z)',
  }),
})
export type DatedPrice = z.infer<typeof DatedPrice>
/**
 * Per model: one price (always in effect), or a list of dated prices (a price change on a date, as
 * Langfuse's model definitions have a start date): `{ from: "2026-06-01", inputPerMTok, outputPerMTok }`.
 */
const DatedPrices = z.array(DatedPrice).min(1, 'list at least one { from, inputPerMTok, outputPerMTok }')
export const PriceTable = z.record(z.string().min(1), z.union([ModelPrice, DatedPrices]))
export type PriceTable = z.infer<typeof PriceTable>

/** What `usage` costs at `price` (USD). */
export const costAt = (price: ModelPrice, usage: { inputTokens: number; outputTokens: number }): number =>
  (usage.inputTokens * price.inputPerMTok + usage.outputTokens * price.outputPerMTok) / 1e6

interface Effective {
  /** Epoch ms from which the price applies (−∞: always). */
  from: number
  price: ModelPrice
}

/** List prices (USD per million tokens). Keys match a model id exactly or as a prefix (dated snapshots). */
export const DEFAULT_PRICES: PriceTable = {
  'gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'o4-mini': { inputPerMTok: 1.1, outputPerMTok: 4.4 },
  o3: { inputPerMTok: 2, outputPerMTok: 8 },
  'claude-opus-4': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-sonnet-4': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-7-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-5-haiku': { inputPerMTok: 0.8, outputPerMTok: 4 },
  'claude-haiku-4-5': { inputPerMTok: 1, outputPerMTok: 5 },
}

export class Prices {
  private readonly table = new Map<string, Effective[]>()
  constructor(overrides: PriceTable = {}, base: PriceTable = DEFAULT_PRICES) {
    for (const [model, entry] of Object.entries({ ...base, ...overrides })) {
      const list = Array.isArray(entry)
        ? entry.map(({ from, ...price }) => ({ from: Date.parse(from), price }))
        : [{ from: -Infinity, price: { inputPerMTok: entry.inputPerMTok, outputPerMTok: entry.outputPerMTok } }]
      this.table.set(
        model,
        list.sort((a, b) => a.from - b.from),
      )
    }
  }

  /**
   * The price of a model at a time (default now): the model's entry by exact id, else the longest
   * key the id starts with (dated snapshots), else the same without a `provider:` prefix
   * (`openai:gpt-4.1-mini`); of its prices, the latest that starts at or before `at`.
   */
  of(model: string, at: Date = new Date()): ModelPrice | null {
    const entries =
      this.entries(model) ?? (model.includes(':') ? this.entries(model.slice(model.indexOf(':') + 1)) : null)
    if (!entries) return null
    const t = at.getTime()
    let found: ModelPrice | null = null
    for (const e of entries) if (e.from <= t) found = e.price
    return found
  }

  private entries(model: string): Effective[] | null {
    const exact = this.table.get(model)
    if (exact) return exact
    let best: [string, Effective[]] | null = null
    for (const [key, list] of this.table) {
      if (model.startsWith(key) && (!best || key.length > best[0].length)) best = [key, list]
    }
    return best?.[1] ?? null
  }

  /** The model ids the table prices (dated snapshots match by prefix: see `of`). */
  models(): string[] {
    return [...this.table.keys()]
  }

  cost(model: string, usage: { inputTokens: number; outputTokens: number }, at?: Date): number | null {
    const p = this.of(model, at)
    return p ? costAt(p, usage) : null
  }

  static fromFile(path: string): Prices {
    let raw: unknown
    try {
      const text = readFileSync(path, 'utf8')
      raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
    } catch (err) {
      throw new KaizenError('CONFIG_ERROR', `KAIZEN_PRICES_FILE: cannot read ${path}: ${(err as Error).message}`)
    }
    // Each entry against the form it is written in, so an error names the field, not just "invalid".
    const table: PriceTable = {}
    const issues: Array<{ path: PropertyKey[]; message: string }> = []
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      issues.push({ path: [], message: 'expected a map of model ids to prices' })
    else
      for (const [model, v] of Object.entries(raw)) {
        const r = (Array.isArray(v) ? DatedPrices : ModelPrice).safeParse(v)
        if (r.success) table[model] = r.data
        else issues.push(...r.error.issues.map((i) => ({ ...i, path: [model, ...i.path] })))
      }
    if (issues.length > 0) {
      const fields = issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')
      throw new KaizenError(
        'CONFIG_ERROR',
        `KAIZEN_PRICES_FILE ${path}: ${fields}. ` +
          'Expected { "<model>": { "inputPerMTok": 0.15, "outputPerMTok": 0.6 } }, or per model a list of ' +
          'dated prices [{ "from": "2026-06-01", "inputPerMTok": 0.1, "outputPerMTok": 0.4 }]',
      )
    }
    return new Prices(table)
  }
}
