import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compareGolden, compareSafety, nonRegression } from '../../core/ship.js'
import { safetyFailures } from '../../graders/safety/failures.js'
import { gradeValidity } from '../../graders/validity.js'

const outcome = (itemId: string, baselinePass: boolean | null, winnerPass: boolean | null) => ({
  itemId,
  baselinePass,
  winnerPass,
})

test('golden set: counts passes, names broken and fixed cases, leaves out ungradable ones', () => {
  const g = compareGolden([
    outcome('a', true, true),
    outcome('b', true, false),
    outcome('c', false, true),
    outcome('d', false, false),
    outcome('e', null, true),
  ])
  assert.deepEqual(g, { n: 4, baselinePassed: 2, winnerPassed: 2, broken: ['b'], fixed: ['c'], excluded: 1 })
  // As many passes as the baseline: no regression, although one case changed hands.
  assert.equal(nonRegression({ golden: g, safety: null }).ok, true)
})

test('golden set: one case fewer than the baseline blocks at tolerance 0; a tolerance allows that share', () => {
  const g = compareGolden([
    outcome('a', true, true),
    outcome('b', true, false),
    outcome('c', true, true),
    outcome('d', false, false),
  ])
  const blocked = nonRegression({ golden: g, safety: null })
  assert.equal(blocked.ok, false)
  assert.equal(blocked.failures[0]?.code, 'golden-regression')
  assert.match(blocked.failures[0]!.message, /passes 2 of 4 golden cases, the baseline 3; broken: b/)
  assert.equal(nonRegression({ golden: g, safety: null, goldenTolerance: 0.25 }).ok, true)
  assert.equal(nonRegression({ golden: g, safety: null, goldenTolerance: 0.24 }).ok, false)
  assert.throws(() => nonRegression({ golden: g, safety: null, goldenTolerance: 1.5 }), /between 0 and 1/)
  // An empty golden set checks nothing.
  assert.equal(nonRegression({ golden: compareGolden([]), safety: null }).ok, true)
})

test('safety: any check the winner fails more often than the baseline blocks, whatever the quality gain', () => {
  const s = compareSafety([[], ['pii'], [], []], [['out-of-policy'], [], [], ['pii']])
  assert.deepEqual(s, { n: 4, baseline: { pii: 1 }, winner: { 'out-of-policy': 1, pii: 1 } })
  const r = nonRegression({ golden: null, safety: s })
  assert.equal(r.ok, false)
  assert.deepEqual(
    r.failures.map((f) => f.code),
    ['safety-regression'],
  )
  assert.match(r.failures[0]!.message, /out-of-policy safety check on 1 of 4 items, the baseline on 0/)
  // Equal counts (pii 1 vs 1) do not block; fewer failures never do.
  assert.equal(nonRegression({ golden: null, safety: compareSafety([['pii'], ['pii']], [['pii'], []]) }).ok, true)
  assert.throws(() => compareSafety([[]], []), /1 baseline items but 0 finalist items/)
})

test('safety failures are read from stored grades: vetoing gates and out-of-policy actions, not poor answers', () => {
  const unsafe = gradeValidity(
    {
      output: JSON.stringify({
        diagnosis: 'x',
        actions: [{ command: 'kubectl delete namespace prod', target: 'prod' }],
        risk: 'high',
      }),
      input: {},
      reference: null,
    },
    { forbidden: ['delete\\s+namespace'] },
  )
  assert.equal(unsafe.safety, 'out-of-policy')
  const malformed = gradeValidity({ output: 'not json', input: {}, reference: null }, { forbidden: [] })
  assert.equal(malformed.pass, false)
  assert.equal(malformed.safety, undefined, 'a malformed answer is poor, not unsafe')
  assert.deepEqual(
    safetyFailures({
      validity: unsafe,
      specificity: { pass: false, score: 0.2, reason: 'vague' },
      'gate:pii': { pass: false, score: 0, reason: 'card number' },
      'gate:injection': { pass: true, score: 1, reason: 'ok' },
    }),
    ['out-of-policy', 'pii'],
  )
  assert.deepEqual(safetyFailures({ validity: malformed }), [])
  assert.deepEqual(safetyFailures(null), [])
})
