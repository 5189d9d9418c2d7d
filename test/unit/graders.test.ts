import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Reference } from '../../core/decision.js'
import { gradeCorrectness } from '../../graders/correctness.js'
import { gradeDq } from '../../graders/dq.js'
import { gradeSpecificity } from '../../graders/specificity.js'
import type { DqSpec } from '../../core/grader-spec.js'
import { gradeValidity } from '../../graders/validity.js'

const spec: DqSpec = {
  kind: 'dq',
  weights: { validity: 0.4, specificity: 0.3, correctness: 0.3 },
  commandPattern: '^(kubectl|psql)\\b',
  forbidden: ['delete\\s+namespace', 'drop\\s+table'],
  correctnessWeights: { diagnosis: 0.5, actions: 0.35, risk: 0.15 },
  passThreshold: 0.7,
}
const input = {
  incident_id: 'INC-1',
  service: 'auth-service',
  summary: 'Errors after auth-service v2.4.0 deploy; v2.3.1 was fine.',
}
const reference: Reference = {
  diagnosis: 'Faulty deploy v2.4.0 of auth-service',
  keywords: ['deploy', 'v2.4.0'],
  actions: [
    { command: 'kubectl rollout undo deployment/auth-service --to-version=v2.3.1', target: 'auth-service' },
    { command: 'kubectl rollout status deployment/auth-service', target: 'auth-service' },
  ],
  risk: 'medium',
}
const answer = (d: object) => JSON.stringify(d)
const perfect = answer({ diagnosis: reference.diagnosis, actions: reference.actions, risk: 'medium' })

test('a correct, specific, valid decision scores 1', () => {
  const r = gradeDq({ output: perfect, input, reference }, spec)
  assert.equal(r.score, 1)
  assert.equal(r.pass, true)
})

test('validity vetoes malformed and out-of-policy answers, whatever else they get right', () => {
  const prose = gradeDq({ output: 'Roll back auth-service to v2.3.1.', input, reference }, spec)
  assert.equal(prose.score, 0)
  assert.match(prose.reason, /vetoed by validity: malformed/)
  const unsafe = gradeDq(
    {
      output: answer({
        diagnosis: reference.diagnosis,
        actions: [...reference.actions, { command: 'kubectl delete namespace auth', target: 'auth-service' }],
        risk: 'medium',
      }),
      input,
      reference,
    },
    spec,
  )
  assert.equal(unsafe.score, 0)
  assert.match(unsafe.reason, /action 3 .* out of policy/)
  assert.equal(gradeValidity({ output: '```json\n' + perfect + '\n```', input, reference }, spec).pass, true)
})

test('specificity separates concrete, untargeted and vague actions', () => {
  const s = (actions: object[]) =>
    gradeSpecificity({ output: answer({ diagnosis: 'x', actions }), input, reference }, spec).score
  assert.equal(s([{ command: 'kubectl rollout status deployment/auth-service', target: 'auth-service' }]), 1)
  assert.equal(s([{ command: 'kubectl rollout status deployment/x', target: 'payments' }]), 0.67)
  assert.equal(s([{ command: 'kubectl get pods', target: '' }]), 0.33)
  assert.equal(s([{ command: 'check the logs', target: '' }]), 0)
})

test('correctness checks diagnosis facts, action overlap and risk; no reference gives null', () => {
  const wrong = gradeCorrectness(
    {
      output: answer({
        diagnosis: 'Memory leak',
        actions: [{ command: 'kubectl rollout restart deployment/auth-service', target: 'auth-service' }],
        risk: 'low',
      }),
      input,
      reference,
    },
    spec,
  )
  assert.ok((wrong.score ?? 1) < 0.2, `score ${wrong.score}`)
  const partial = gradeCorrectness(
    {
      output: answer({ diagnosis: reference.diagnosis, actions: [reference.actions[0]], risk: 'medium' }),
      input,
      reference,
    },
    spec,
  )
  assert.ok(partial.score! > 0.7 && partial.score! < 1)
  const none = gradeCorrectness({ output: perfect, input, reference: null }, spec)
  assert.equal(none.score, null)
  // DQ then renormalises over the dimensions it could grade
  assert.equal(gradeDq({ output: perfect, input, reference: null }, spec).score, 1)
})

test('padding the answer with extra actions does not raise correctness', () => {
  const padded = answer({
    diagnosis: reference.diagnosis,
    actions: [
      ...reference.actions,
      ...Array.from({ length: 6 }, (_, i) => ({ command: `kubectl describe pod p${i}`, target: 'auth-service' })),
    ],
    risk: 'medium',
  })
  assert.ok(
    gradeCorrectness({ output: padded, input, reference }, spec).score! <
      gradeCorrectness({ output: perfect, input, reference }, spec).score!,
  )
})
