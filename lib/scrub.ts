/**
 * @module lib/scrub
 * The secret patterns and the pattern-based redaction that both the redactor (privacy/redact.ts)
 * and the log scrubber (lib/safe-log.ts) use: the built-in secret patterns, emails, and card
 * numbers checked with Luhn. `scrubSecrets` is synchronous, so a logger can call it.
 */

/** Secrets that must never be stored or shown to a model: keys and tokens of common providers. */
export const BUILTIN_SECRETS: ReadonlyArray<{ name: string; regex: string }> = [
  { name: 'openai-key', regex: String.raw`\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}` },
  { name: 'anthropic-key', regex: String.raw`\bsk-ant-[A-Za-z0-9_-]{20,}` },
  { name: 'aws-access-key', regex: String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b` },
  { name: 'github-token', regex: String.raw`\bgh[pousr]_[A-Za-z0-9]{30,}` },
  { name: 'slack-token', regex: String.raw`\bxox[abprs]-[A-Za-z0-9-]{10,}` },
  { name: 'kaizen-token', regex: String.raw`\bkz_[A-Za-z0-9_-]{30,}` },
  { name: 'bearer-token', regex: String.raw`\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{20,}` },
  {
    name: 'private-key',
    regex: String.raw`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`,
  },
  { name: 'password', regex: String.raw`\b(?:password|passwd|pwd|secret)\s*[:=]\s*\S+` },
]

/** An email address, wherever it is glued to other punctuation (`<jane@example.com>`). */
export const EMAIL = /(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g

/** A digit run (digit groups split by spaces or dashes) long enough to hold a card number: see `cardOut`. */
export const CARD_RUN = /(?<!\d)\d(?:[ -]?\d){12,}(?!\d)/g

/**
 * A digit run (digit groups split by spaces or dashes) holding a card number: the longest,
 * leftmost span of whole groups with 13–19 digits that passes Luhn is redacted, so
 * `4111 1111 1111 1111 123` (card, then a CVV) is caught as well as the card alone. Spans start and
 * end at group boundaries, as cards are written, which keeps other long numbers mostly untouched.
 */
export function cardOut(run: string): string {
  const groups = [...run.matchAll(/\d+/g)].map((m) => ({ from: m.index, to: m.index + m[0].length, digits: m[0] }))
  for (let i = 0; i < groups.length; i++) {
    for (let j = groups.length - 1; j >= i; j--) {
      const digits = groups
        .slice(i, j + 1)
        .map((g) => g.digits)
        .join('')
      if (digits.length >= 13 && digits.length <= 19 && luhn(digits)) {
        const from = (groups[i] as { from: number }).from
        const to = (groups[j] as { to: number }).to
        return `${run.slice(0, from)}[REDACTED:credit-card-number]${run.slice(to)}`
      }
    }
  }
  return run
}

/** Luhn checksum: card numbers pass it, most other long digit runs do not. */
function luhn(digits: string): boolean {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i])
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2
    sum += d
  }
  return sum % 10 === 0
}

const LOG_SECRETS = new RegExp(BUILTIN_SECRETS.map((p) => `(?:${p.regex})`).join('|'), 'g')

/**
 * A last line of defence for log lines (synchronous, so a logger can call it): the built-in secret
 * patterns, and unless `personal: false` emails and Luhn-checked card numbers, become
 * `[REDACTED:…]`. Not a substitute for keeping data out of logs in the first place (it knows no
 * phone numbers and no custom patterns): Kaizen logs describe errors without their data
 * (lib/safe-log.ts); this catches what slips through.
 */
export function scrubSecrets(text: string, options: { personal?: boolean } = {}): string {
  let out = text.replace(LOG_SECRETS, '[REDACTED:secret]')
  if (options.personal === false) return out
  if (out.includes('@')) out = out.replace(EMAIL, '[REDACTED:email]')
  if (/\d{13}|\d[ -]\d/.test(out)) out = out.replace(CARD_RUN, (m) => cardOut(m))
  return out
}
