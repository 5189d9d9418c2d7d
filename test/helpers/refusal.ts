import assert from 'node:assert/strict'
import { isKaizenError, type ErrorCode } from '../../core/errors.js'

/** The message a call is refused with (a KaizenError of `code`); fails the test if it is accepted. */
export function refusal(run: () => unknown, code: ErrorCode = 'INVALID_INPUT'): string {
  try {
    run()
  } catch (e) {
    assert.ok(isKaizenError(e) && e.code === code, String(e))
    return e.message
  }
  assert.fail('the input was accepted')
}
