/**
 * @module sdk/render
 * A prompt version's messages for one input, rendered by core/prompt.ts's `renderMessages`: the
 * function the gateway and the evaluator use, so an application that renders locally sends the
 * model exactly what Kaizen would. Every missing variable is named at once as `input.<name>` (the
 * gateway's 400 names them the same way).
 */
import { renderMessages, renderTemplate, templateVariables, type ChatMessage } from '../core/prompt.js'
import { KaizenClientError } from './errors.js'
import type { PromptContent } from './types.js'

/** Whether `{{name}}` renders with this input (present and not null, nested names included). */
function renders(name: string, input: Record<string, unknown>): boolean {
  try {
    renderTemplate(`{{${name}}}`, input)
    return true
  } catch {
    return false
  }
}

/**
 * The chat messages (system, the version's demonstrations as user/assistant turns, the user
 * message) that `version` sends for `input`. Throws `KaizenClientError` `INVALID_INPUT` naming
 * every missing variable (`fields: ['input.ticket', …]`).
 *
 * @example
 * render(prompt.version, { ticket: 'db down' })
 * // [{ role: 'system', content: '…' }, { role: 'user', content: 'Ticket: db down' }]
 */
export function render(version: { content: PromptContent }, input: Record<string, string>): ChatMessage[] {
  const missing = templateVariables(version.content.user).filter((name) => !renders(name, input))
  if (missing.length > 0) {
    throw new KaizenClientError(
      'INVALID_INPUT',
      `the prompt needs input ${missing.map((m) => `"${m}"`).join(', ')} ` +
        `(given: ${Object.keys(input).join(', ') || 'none'}); add it to input`,
      { fields: missing.map((m) => `input.${m}`) },
    )
  }
  try {
    return renderMessages(version.content, input)
  } catch (err) {
    // A demonstration stored with the version that its own template cannot render: the version is at fault.
    throw new KaizenClientError('INVALID_INPUT', err instanceof Error ? err.message : String(err), { cause: err })
  }
}
