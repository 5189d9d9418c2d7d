/**
 * @module privacy/redact
 * Personal data and secrets are redacted before traffic is stored and before any judge sees it.
 * Personal data (emails, phone numbers, card numbers, IP addresses) is detected by Arcjet's redact
 * library; secrets (API keys, tokens, passwords) by regular expressions, the built-in ones
 * (lib/scrub.ts, shared with the log scrubber) plus any in the redaction file (`KAIZEN_REDACTION_FILE`, YAML or JSON):
 *
 *   entities: [email, phone-number, credit-card-number, ip-address]   # any subset; [] turns it off
 *   patterns:
 *     - { name: employee-id, regex: "EMP-[0-9]{6}" }
 *
 * A match becomes `[REDACTED:<kind>]`. Many texts are redacted in one library call (joined with a
 * separator the library never alters), which is what keeps ingestion fast.
 */
import { readFile } from 'node:fs/promises'
import { redact } from '@arcjet/redact'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { KaizenError, fromZodError } from '../core/errors.js'
import { BUILTIN_SECRETS, CARD_RUN, EMAIL, cardOut } from '../lib/scrub.js'
import type { CompletionRequest } from '../providers/types.js'

const ENTITIES = ['email', 'phone-number', 'credit-card-number', 'ip-address'] as const

export const RedactionConfig = z
  .object({
    entities: z.array(z.enum(ENTITIES, { message: `use some of ${ENTITIES.join(', ')}` })).default([...ENTITIES]),
    patterns: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z0-9-]+$/, 'use lower-case letters, digits and dashes'),
            regex: z
              .string()
              .min(1)
              .refine((r) => {
                try {
                  new RegExp(r, 'g')
                  return true
                } catch {
                  return false
                }
              }, 'not a valid regular expression'),
          })
          .strict(),
      )
      .default([]),
    /** Keep the built-in secret patterns (default true). */
    builtinSecrets: z.boolean().default(true),
  })
  .strict()
export type RedactionConfig = z.infer<typeof RedactionConfig>

const SEPARATOR = '\n\u241E\n'

/**
 * A second pass after the library, which reads whitespace-separated words and so misses an entity
 * glued to other punctuation (`<jane@example.com>`, `ip=10.1.2.3;`, `card:4111…`). Phone numbers
 * have no safe pattern of this kind and are left to the library.
 */
const FALLBACK: Partial<Record<(typeof ENTITIES)[number], RegExp>> = {
  email: EMAIL,
  'ip-address': /(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.]*\d)/g,
  'credit-card-number': CARD_RUN,
}

const MAYBE_ENTITY = /@|\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,}|(?:\d[\s().+-]*){7,}/i

export class Redactor {
  private readonly secrets: RegExp
  private readonly names: string[]
  private readonly entities: Array<(typeof ENTITIES)[number]>

  constructor(config: RedactionConfig = RedactionConfig.parse({})) {
    const patterns = [...(config.builtinSecrets ? BUILTIN_SECRETS : []), ...config.patterns]
    this.entities = [...config.entities]
    // One alternation, each pattern a named group so the replacement says which kind matched.
    this.secrets =
      patterns.length > 0 ? new RegExp(patterns.map((p, i) => `(?<kzp${i}>${p.regex})`).join('|'), 'g') : /$^/g
    this.names = patterns.map((p) => p.name)
  }

  private secretsOut(text: string): string {
    return text.replace(this.secrets, (...args) => {
      // The matching alternative is the one named group that took part (a pattern's own groups are ignored).
      const groups = args[args.length - 1] as Record<string, string | undefined>
      const hit = Object.keys(groups).find((k) => /^kzp\d+$/.test(k) && groups[k] !== undefined)
      return `[REDACTED:${(hit && this.names[Number(hit.slice(3))]) || 'secret'}]`
    })
  }

  /** Redact many texts (one library call for all of them). */
  async texts(texts: readonly string[]): Promise<string[]> {
    if (texts.length === 0) return []
    const cleaned = texts.map((t) => this.secretsOut(t))
    if (this.entities.length === 0) return cleaned
    // Only texts that could hold an entity go to the library: an email needs "@", the others need
    // an IP-like, IPv6-like or long digit run (phone and card numbers have at least 7 digits).
    const suspect = cleaned.map((t, i) => (MAYBE_ENTITY.test(t) ? i : -1)).filter((i) => i >= 0)
    if (suspect.length === 0) return cleaned
    const options = { entities: this.entities, replace: (kind: string) => `[REDACTED:${kind}]` }
    const [joined] = await redact(suspect.map((i) => cleaned[i]).join(SEPARATOR), options)
    let parts = joined.split(SEPARATOR)
    // The separator was touched (it never should be): fall back to one call per text.
    if (parts.length !== suspect.length)
      parts = await Promise.all(suspect.map(async (i) => (await redact(cleaned[i] as string, options))[0]))
    const out = [...cleaned]
    suspect.forEach((i, k) => (out[i] = this.fallbackOut(parts[k] as string)))
    return out
  }

  private fallbackOut(text: string): string {
    let out = text
    for (const kind of this.entities) {
      const re = FALLBACK[kind]
      if (!re) continue
      out = out.replace(re, (m) => (kind === 'credit-card-number' ? cardOut(m) : `[REDACTED:${kind}]`))
    }
    return out
  }

  async text(text: string): Promise<string> {
    return (await this.texts([text]))[0] as string
  }

  /** A JSON value with every string in it redacted (keys are kept), e.g. a feedback outcome. */
  async json<T>(value: T): Promise<T> {
    const strings: string[] = []
    const collect = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v)
      else if (Array.isArray(v)) v.forEach(collect)
      else if (v !== null && typeof v === 'object') Object.values(v).forEach(collect)
    }
    collect(value)
    const clean = await this.texts(strings)
    let i = 0
    const rebuild = (v: unknown): unknown => {
      if (typeof v === 'string') return clean[i++]
      if (Array.isArray(v)) return v.map(rebuild)
      if (v !== null && typeof v === 'object')
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rebuild(x)]))
      return v
    }
    return rebuild(value) as T
  }

  /** A model request with every message redacted (what a judge or the LLM proposer is sent). */
  async request(request: CompletionRequest): Promise<CompletionRequest> {
    const contents = await this.texts(request.messages.map((m) => m.content))
    return { ...request, messages: request.messages.map((m, i) => ({ ...m, content: contents[i] as string })) }
  }
}

/** The redaction settings: defaults, or the file named by KAIZEN_REDACTION_FILE (validated). */
export async function loadRedaction(file: string | undefined): Promise<Redactor> {
  if (!file) return new Redactor()
  let raw: unknown
  try {
    raw = parseYaml(await readFile(file, 'utf8'))
  } catch (err) {
    throw new KaizenError(
      'CONFIG_ERROR',
      `KAIZEN_REDACTION_FILE ${file} cannot be read as YAML or JSON: ${(err as Error).message}`,
    )
  }
  const parsed = RedactionConfig.safeParse(raw ?? {})
  if (!parsed.success) throw fromZodError(parsed.error, `redaction file ${file}`)
  return new Redactor(parsed.data)
}
