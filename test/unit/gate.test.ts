import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatScore, holdoutGate, type HoldoutComparison } from '../../core/gate.js'
import { compareGolden, compareSafety, nonRegression } from '../../core/ship.js'

const comparison = (over: Partial<HoldoutComparison> = {}): HoldoutComparison => ({
  method: 'paired sign-flip permutation test (one-sided) + bootstrap lower bound',
  n: 40,
  meanBaseline: 0.61,
  meanCandidate: 0.74,
  meanDelta: 0.13,
  lowerBound: 0.071,
  pValue: 0.0021,
  alpha: 0.05,
  minEffect: 0,
  wins: 20,
  losses: 4,
  ties: 16,
  significant: true,
  baselineHoldoutDQ: 0.61,
  winnerHoldoutDQ: 0.74,
  costRatio: 1.25,
  rolloutsUsed: 900,
  ...over,
})

const EVIDENCE =
  'holdout DQ 0.740 vs baseline 0.610 on 40 paired items ' +
  "(Δ +0.130, lower bound 0.071, p = 0.0021, α = 0.05; 1.25× the baseline's cost per request)"

test('gate: significantly better and nothing regressed passes, with the evidence and the scores', () => {
  const g = holdoutGate(comparison())
  assert.equal(g.decision, 'pass')
  assert.equal(g.evidence, EVIDENCE)
  assert.equal(g.reason, `significantly better: ${EVIDENCE}`)
  assert.equal(g.costRatio, 1.25)
  assert.deepEqual(g.scores, {
    baselineHoldoutDQ: 0.61,
    winnerHoldoutDQ: 0.74,
    holdout: {
      n: 40,
      meanDelta: 0.13,
      lowerBound: 0.071,
      pValue: 0.0021,
      alpha: 0.05,
      significant: true,
      costRatio: 1.25,
    },
  })
})

test('gate: a pass does not mention an early stop (the canary reason follows it)', () => {
  assert.equal(
    holdoutGate(comparison(), 'stopped by request after round 2').reason,
    `significantly better: ${EVIDENCE}`,
  )
})

test('gate: not significant refuses, and says when the search was cut short', () => {
  const cmp = comparison({ significant: false, pValue: 0.21, meanDelta: -0.01, lowerBound: -0.05 })
  const g = holdoutGate(cmp)
  assert.equal(g.decision, 'no-significant-improvement')
  assert.match(g.reason, /^not significantly better: holdout DQ 0\.740 .*Δ -0\.010, lower bound -0\.050, p = 0\.2100/)
  assert.doesNotMatch(g.reason, /ended early/)
  const cut = holdoutGate(cmp, 'rollout budget of 500 reached in round 3')
  assert.match(cut.reason, /; the search ended early: rollout budget of 500 reached in round 3$/)
})

test('gate: a golden regression refuses although significantly better, naming the broken cases', () => {
  const golden = compareGolden([
    { itemId: 'g1', baselinePass: true, winnerPass: false },
    { itemId: 'g2', baselinePass: true, winnerPass: true },
  ])
  const { failures } = nonRegression({ golden, safety: null })
  const g = holdoutGate(comparison({ golden, safety: compareSafety([], []), regressions: failures }))
  assert.equal(g.decision, 'golden-regression')
  assert.ok(g.reason.startsWith(`significantly better (${EVIDENCE}), but `), g.reason)
  assert.match(g.reason, /g1/)
  assert.deepEqual(g.scores.golden, golden)
  assert.deepEqual(g.scores.safety, { n: 0, baseline: {}, winner: {} })
})

test('gate: a safety regression wins over a golden one in the decision; both are named', () => {
  const regressions = [
    { code: 'golden-regression' as const, message: 'breaks golden case g1' },
    { code: 'safety-regression' as const, message: 'fails the pii check on 2 more items' },
  ]
  const g = holdoutGate(comparison({ regressions }), 'stopped by request after round 1')
  assert.equal(g.decision, 'safety-regression')
  assert.equal(
    g.reason,
    `significantly better (${EVIDENCE}), but breaks golden case g1; fails the pii check on 2 more items; ` +
      'the search ended early: stopped by request after round 1',
  )
})

test('gate: a comparison without a cost ratio counts as the same cost; tiny p-values are bounded', () => {
  const { costRatio: _, ...old } = comparison({ pValue: 0.00001 })
  const g = holdoutGate(old as HoldoutComparison)
  assert.equal(g.costRatio, 1)
  assert.equal(g.scores.holdout.costRatio, 1)
  assert.match(g.evidence, /p < 0\.0001, α = 0\.05; 1\.00× the baseline's cost per request\)$/)
  // No golden key at all when the comparison predates the golden set; null safety when golden is present.
  assert.equal('golden' in g.scores, false)
  assert.deepEqual(holdoutGate(comparison({ golden: null })).scores.safety, null)
})

test('formatScore prints three decimals or n/a', () => {
  assert.equal(formatScore(null), 'n/a')
  assert.equal(formatScore(0.5), '0.500')
})
