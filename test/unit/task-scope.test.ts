import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TaskPattern, taskAllowed, tasksRefused } from '../../core/task-scope.js'

test('task patterns: * matches any run of characters, other characters only themselves; null allows all', () => {
  assert.equal(taskAllowed(['support-*'], 'support-triage'), true)
  assert.equal(taskAllowed(['support-*'], 'support-'), true)
  assert.equal(taskAllowed(['support-*'], 'billing-support-x'), false)
  assert.equal(taskAllowed(['a.b'], 'axb'), false, 'a dot is a dot, not any character')
  assert.equal(taskAllowed(['billing', 'support-*'], 'billing'), true)
  assert.equal(taskAllowed(null, 'anything'), true)
  assert.deepEqual(tasksRefused(['support-*'], ['support-a', 'billing', 'billing', 'audit']), ['audit', 'billing'])
  assert.equal(TaskPattern.safeParse('Support Team').success, false)
  assert.equal(TaskPattern.safeParse('*').success, true)
})
