import assert from 'node:assert/strict'
import { test } from 'node:test'
import { grade } from '../../graders/engine.js'
import type { JudgeCaller } from '../../graders/judge.js'
import { combineOrders, readPairwise } from '../../graders/pairwise.js'
import { GraderSpec } from '../../core/grader-spec.js'
import type { CompletionRequest } from '../../providers/types.js'

const spec = GraderSpec.parse({
  kind: 'grader',
  name: 'pairwise',
  dimensions: [
    {
      name: 'usefulness',
      check: {
        type: 'llm-pairwise',
        rubric: 'Which answer lets the on-call engineer act sooner?',
        referencePath: 'answer',
      },
    },
  ],
  gates: { injection: false, pii: false, refusal: false },
  judge: { model: 'judge-x' },
})
const item = {
  output: 'Roll back payments-api with kubectl rollout undo deployment/payments-api',
  input: { summary: '5xx after deploy' },
  reference: { answer: 'Restart the pods' },
}

/** The text of the answer shown as A / as B in a pairwise request. */
function shown(request: CompletionRequest): { a: string; b: string } {
  const user = request.messages.find((m) => m.role === 'user')?.content ?? ''
  const block = (label: string) =>
    new RegExp(`<<<DATA:\\w+ ${label}\\n([\\s\\S]*?)\\nDATA:\\w+>>>`).exec(user)?.[1] ?? ''
  return { a: block('answer A'), b: block('answer B') }
}
const reply = (winner: string) => ({ text: JSON.stringify({ reasoning: 'compared', winner }), error: null })

test('pairwise: the judge is asked in both orders, with the answer once as A and once as B', async () => {
  const seen: Array<{ a: string; b: string }> = []
  const judge: JudgeCaller = async (r) => {
    seen.push(shown(r))
    return reply('tie')
  }
  await grade(spec, item, { judge })
  assert.equal(seen.length, 2)
  assert.deepEqual(new Set(seen.map((s) => s.a)), new Set([item.output, item.reference.answer]))
  assert.ok(seen.every((s) => s.a !== s.b))
})

test('pairwise: a judge that always prefers the first answer gets a tie, never a win', async () => {
  const firstBiased: JudgeCaller = async () => reply('A')
  const r = await grade(spec, item, { judge: firstBiased })
  assert.equal(r.dimensions.usefulness?.score, 0.5)
  assert.match(r.dimensions.usefulness?.reason ?? '', /inconsistent across orders/)
  const secondBiased: JudgeCaller = async () => reply('B')
  assert.equal((await grade(spec, item, { judge: secondBiased })).dimensions.usefulness?.score, 0.5)
})

test('pairwise: a consistent winner counts (answer better → 1, reference better → 0)', async () => {
  const prefers =
    (text: string): JudgeCaller =>
    async (r) => {
      const s = shown(r)
      return reply(s.a.includes(text) ? 'A' : s.b.includes(text) ? 'B' : 'tie')
    }
  const better = await grade(spec, item, { judge: prefers('kubectl') })
  assert.equal(better.dimensions.usefulness?.score, 1)
  assert.equal(better.pass, true)
  const worse = await grade(spec, item, { judge: prefers('Restart') })
  assert.equal(worse.dimensions.usefulness?.score, 0)
  assert.equal(worse.pass, false)
})

test('pairwise: an unparseable or missing verdict in either order is null, not a score', async () => {
  let n = 0
  const flaky: JudgeCaller = async () => (n++ === 0 ? reply('A') : { text: 'A is better', error: null })
  const r = await grade(spec, item, { judge: flaky })
  assert.equal(r.dimensions.usefulness?.score, null)
  assert.equal(r.score, null)
  assert.deepEqual(r.excluded, ['usefulness'])
  assert.equal(readPairwise({ text: JSON.stringify({ reasoning: 'x', winner: 'C' }), error: null }).winner, null)
  assert.equal(
    combineOrders({ winner: 'A', reasoning: '' }, { winner: null, error: 'judge error: 500', transient: true }, 0.5)
      .transient,
    true,
  )
  const noRef = await grade(spec, { ...item, reference: null }, { judge: async () => reply('A') })
  assert.equal(noRef.dimensions.usefulness?.score, null)
})

test('pairwise: a spec with a pairwise dimension and no judge model is refused, naming the field', () => {
  const r = GraderSpec.safeParse({
    kind: 'grader',
    dimensions: [{ name: 'u', check: { type: 'llm-pairwise', rubric: 'Which answer is more useful?' } }],
  })
  assert.equal(r.success, false)
  assert.deepEqual(r.error?.issues[0]?.path, ['judge'])
})
