/**
 * @module providers/prices
 * What a model call costs, per million input and output tokens (USD). The built-in table covers
 * common hosted models as listed by their providers; a price file (KAIZEN_PRICES_FILE, JSON or
 * YAML `{ "<model>": { inputPerMTok, outputPerMTok } }`) overrides or extends it, e.g. for a
 * negotiated rate or a self-hosted model (price 0). A model without a price costs `null`: its
 * spend cannot be counted, so a campaign with a USD budget refuses it with a clear error.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { KaizenError, formatPath } from '../core/errors.js'

export const ModelPrice = z.object({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() })
export type ModelPrice = z.infer<typeof ModelPrice>
export const PriceTable = z.record(z.string().min(1), ModelPrice)
export type PriceTable = z.infer<typeof PriceTable>

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
  private readonly table: PriceTable
  constructor(overrides: PriceTable = {}, base: PriceTable = DEFAULT_PRICES) {
    this.table = { ...base, ...overrides }
  }

  /** The price of a model: exact id first, then the longest key the id starts with. */
  of(model: string): ModelPrice | null {
    const exact = this.table[model]
    if (exact) return exact
    let best: [string, ModelPrice] | null = null
    for (const [key, price] of Object.entries(this.table)) {
      if (model.startsWith(key) && (!best || key.length > best[0].length)) best = [key, price]
    }
    return best?.[1] ?? null
  }

  cost(model: string, usage: { inputTokens: number; outputTokens: number }): number | null {
    const p = this.of(model)
    return p ? (usage.inputTokens * p.inputPerMTok + usage.outputTokens * p.outputPerMTok) / 1e6 : null
  }

  static fromFile(path: string): Prices {
    let raw: unknown
    try {
      const text = readFileSync(path, 'utf8')
      raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
    } catch (err) {
      throw new KaizenError('CONFIG_ERROR', `KAIZEN_PRICES_FILE: cannot read ${path}: ${(err as Error).message}`)
    }
    const parsed = PriceTable.safeParse(raw)
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')
      throw new KaizenError(
        'CONFIG_ERROR',
        `KAIZEN_PRICES_FILE ${path}: ${fields}. Expected { "<model>": { "inputPerMTok": 0.15, "outputPerMTok": 0.6 } }`,
      )
    }
    return new Prices(parsed.data)
  }
}
