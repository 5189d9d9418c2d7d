/**
 * @module cli/flags
 * Commander argument parsers: every numeric, enumerated, duration or otherwise typed flag is
 * parsed by type before a command does anything, and a bad value is refused with the flag's name,
 * the value typed and what is allowed (exit 2). Ranges come from the zod schemas that define the
 * setting (core/config.ts) or from a schema given here, never from a second description.
 *
 *   .option('--rounds <n>', 'search rounds', configFlag('--rounds', 'search.rounds'))
 */
import { msToNumber } from '@temporalio/common/lib/time.js'
import { z } from 'zod'
import { CampaignConfig } from '../core/config.js'
import { KaizenError } from '../core/errors.js'
import { didYouMean, schemaAt, unwrap } from '../core/strict.js'

export type FlagParser<T> = (value: string, previous?: T) => T

const refuse = (flag: string, value: string, problem: string): never => {
  throw new KaizenError('INVALID_INPUT', `${flag} "${value}" ${problem}`, { details: { fields: [flag] } })
}

type Check = { check?: string; value?: number; inclusive?: boolean; format?: string }
const checksOf = (schema: z.ZodType): Check[] =>
  (
    (unwrap(schema) as unknown as { _zod: { def: { checks?: Array<{ _zod: { def: Check } }> } } })._zod.def.checks ?? []
  ).map((c) => c._zod.def)

/** The numbers a zod number schema accepts, in words: "a whole number from 1 to 1000". */
export function describeRange(schema: z.ZodType): string {
  let whole = false
  let lo: { value: number; inclusive: boolean } | null = null
  let hi: { value: number; inclusive: boolean } | null = null
  for (const c of checksOf(schema)) {
    if (c.check === 'number_format' && (c.format === 'safeint' || c.format === 'int32' || c.format === 'uint32'))
      whole = true
    if (c.check === 'greater_than' && c.value !== undefined && (!lo || c.value >= lo.value))
      lo = { value: c.value, inclusive: c.inclusive ?? false }
    if (c.check === 'less_than' && c.value !== undefined && (!hi || c.value <= hi.value))
      hi = { value: c.value, inclusive: c.inclusive ?? false }
  }
  const what = whole ? 'a whole number' : 'a number'
  if (lo?.inclusive && hi?.inclusive) return `${what} from ${lo.value} to ${hi.value}`
  const parts = [
    lo ? `${lo.inclusive ? 'at least' : 'greater than'} ${lo.value}` : null,
    hi ? `${hi.inclusive ? 'at most' : 'less than'} ${hi.value}` : null,
  ].filter(Boolean)
  return parts.length > 0 ? `${what} ${parts.join(' and ')}` : what
}

/** The schema of a campaign setting, by its path in the config (`search.rounds`, `canary.weight`). */
export function configField(path: string): z.ZodType {
  const s = schemaAt(CampaignConfig, path.split('.'))
  if (!s) throw new KaizenError('INTERNAL', `no campaign setting ${path}`)
  return unwrap(s)
}

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i

/**
 * A number the schema accepts (ranges, whole numbers), or a refusal naming the flag, the value and
 * the range (and the setting the flag sets, if it is one).
 */
export function numberFlag(flag: string, schema: z.ZodType, setting?: string): FlagParser<number> {
  return (value: string) => {
    const text = value.trim()
    const range = describeRange(schema)
    const no = (problem: string) => refuse(flag, value, setting ? `(${setting}) ${problem}` : problem)
    if (!NUMERIC.test(text)) return no(`is not a number; use ${range}`)
    const n = Number(text)
    const parsed = unwrap(schema).safeParse(n)
    if (!parsed.success) {
      // A refinement's own words (e.g. why canary shares stop at 0.5) say more than the bounds.
      const custom = parsed.error.issues.find((i) => !/^(Too (big|small)|Invalid input)/.test(i.message))?.message
      return no(`is out of range: use ${range}${custom ? ` (${custom})` : ''}`)
    }
    return parsed.data as number
  }
}

/** A flag that sets a campaign setting (`--rounds` → `search.rounds`): its range is the setting's. */
export const configFlag = (flag: string, path: string) => numberFlag(flag, configField(path), path)

/** A whole number in [min, max]. */
export const intFlag = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  numberFlag(flag, z.number().int().min(min).max(max))

/** One of a fixed set of words. */
export function choiceFlag<T extends string>(flag: string, choices: readonly T[]): FlagParser<T> {
  return (value: string) => {
    if ((choices as readonly string[]).includes(value)) return value as T
    const hint = didYouMean(value, choices)
    return refuse(flag, value, `is not one of ${choices.join(', ')}${hint ? `; did you mean "${hint}"?` : ''}`)
  }
}

/** A comma-separated list of words from a fixed set (`ingest,read`). */
export function choiceListFlag<T extends string>(flag: string, choices: readonly T[]): FlagParser<T[]> {
  return (value: string) => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    if (items.length === 0)
      return refuse(
        flag,
        value,
        `names none of ${choices.join(', ')}; give a comma-separated list, e.g. ${choices.slice(0, 2).join(',')}`,
      )
    for (const item of items) {
      if (!(choices as readonly string[]).includes(item)) {
        const hint = didYouMean(item, choices)
        refuse(
          flag,
          value,
          `contains "${item}", which is not one of ${choices.join(', ')}${hint ? `; did you mean "${hint}"?` : ''}`,
        )
      }
    }
    return [...new Set(items)] as T[]
  }
}

/** A duration as Temporal reads it ("1 hour", "30 minutes", "90s"), at least `minMs` long. */
export function durationFlag(flag: string, minMs = 1_000): FlagParser<string> {
  return (value: string) => {
    let ms: number
    try {
      ms = msToNumber(value as Parameters<typeof msToNumber>[0])
    } catch {
      return refuse(flag, value, 'is not a duration; use a number and a unit, e.g. "1 hour", "30 minutes", "90s"')
    }
    if (!(ms >= minMs)) refuse(flag, value, `is too short: use at least ${minMs / 1000} s, e.g. "1 hour"`)
    return value
  }
}

/** A standard 5-field cron expression. */
export function cronFlag(flag: string): FlagParser<string> {
  return (value: string) => {
    const fields = value.trim().split(/\s+/)
    if (fields.length !== 5 || fields.some((f) => !/^[\d*,/\-A-Za-z?LW#]+$/.test(f))) {
      refuse(
        flag,
        value,
        'is not a 5-field cron expression (minute hour day-of-month month day-of-week); e.g. "0 2 * * *" is ' +
          '02:00 every day',
      )
    }
    return fields.join(' ')
  }
}

/** An IANA time zone (`UTC`, `Europe/Paris`). */
export function timezoneFlag(flag: string): FlagParser<string> {
  return (value: string) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: value })
    } catch {
      refuse(flag, value, 'is not an IANA time zone; use e.g. UTC, Europe/Paris, America/New_York')
    }
    return value
  }
}

/** Text matching a pattern (ids). */
export function patternFlag(flag: string, pattern: RegExp, what: string): FlagParser<string> {
  return (value: string) => (pattern.test(value) ? value : refuse(flag, value, `is not ${what}`))
}

/** Campaign ids, as the API accepts them. */
export const CAMPAIGN_ID = /^[A-Za-z0-9._:-]{1,200}$/
export const campaignIdFlag = (flag: string) =>
  patternFlag(flag, CAMPAIGN_ID, 'a valid id: use letters, digits and . _ : - (at most 200)')

/** A point in time in ISO 8601 with its offset (`2026-12-04T09:00:00Z`). */
export function timeFlag(flag: string): FlagParser<Date> {
  return (value: string) => {
    const t = Date.parse(value)
    if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t))
      return refuse(flag, value, 'is not an ISO time; use e.g. 2026-12-04T09:00:00Z')
    return new Date(t)
  }
}
