/**
 * @module lib/hash
 * Content hashes and counter-based uniform draws (Node only: uses node:crypto, so workflow code
 * must not import this module).
 */
import { createHash } from 'node:crypto'
import { stringify } from 'safe-stable-stringify'
import type { PromptContent } from '../core/prompt.js'

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  const out = stringify(value)
  if (out === undefined) throw new TypeError('canonicalJson: value is not JSON-serialisable')
  return out
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Hash of any JSON value, independent of key order. */
export function contentHash(value: unknown): string {
  return sha256Hex(canonicalJson(value))
}

/**
 * A uniform number in [0, 1) that depends only on its parts: a counter-based random draw.
 * 52 bits taken from SHA-256, so draws for different parts are independent for all practical uses.
 *
 * @example
 * unitHash(1234, 'prompt text', 'example-7', 0, 'success') // same value in every process, forever
 */
export function unitHash(...parts: ReadonlyArray<string | number>): number {
  const hex = createHash('sha256').update(parts.join('\u001f')).digest('hex')
  return parseInt(hex.slice(0, 13), 16) / 2 ** 52
}

/** A standard normal draw from two counter-based uniforms (Box–Muller). */
export function normalHash(...parts: ReadonlyArray<string | number>): number {
  const u1 = Math.max(unitHash(...parts, 'n1'), 1e-12)
  const u2 = unitHash(...parts, 'n2')
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}

/** Identity of a prompt version's content: what the model sees and how it is called. */
export function promptContentHash(taskId: string, content: PromptContent): string {
  // Demonstrations join the hash only when present, so versions without them keep their identity.
  return contentHash({
    taskId,
    system: content.system,
    user: content.user,
    model: content.model,
    params: content.params,
    ...(content.examples?.length ? { examples: content.examples } : {}),
  })
}
