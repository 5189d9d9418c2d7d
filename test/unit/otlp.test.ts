import assert from 'node:assert/strict'
import { test } from 'node:test'
import { spanToRecord } from '../../api/routes/otlp.js'

const span = (attributes: Array<[string, Record<string, unknown>]>) =>
  ({
    traceId: 't1',
    spanId: 's1',
    name: 'chat',
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000250000000',
    attributes: [
      ['gen_ai.operation.name', { stringValue: 'chat' }],
      ['kaizen.task', { stringValue: 'oncall-triage' }],
      ['kaizen.prompt_version', { stringValue: 'pv_1' }],
      ['gen_ai.request.model', { stringValue: 'openai:sim-standard' }],
      ...attributes,
    ].map(([key, value]) => ({ key, value })),
  }) as never

test('OTLP: a span becomes a record; simulated by kaizen.simulated or the simulation’s system fingerprint', () => {
  const plain = spanToRecord(span([['kaizen.input.service', { stringValue: 'api' }]]), {})!
  assert.deepEqual(
    [plain.id, plain.task, plain.promptVersion, plain.routingKey, plain.latencyMs, plain.input, plain.simulated],
    ['t1:s1', 'oncall-triage', 'pv_1', 't1', 250, { service: 'api' }, false],
  )
  assert.equal(spanToRecord(span([['kaizen.simulated', { boolValue: true }]]), {})!.simulated, true)
  const fingerprint = { stringValue: 'kaizen-simulation' }
  assert.equal(spanToRecord(span([['gen_ai.openai.response.system_fingerprint', fingerprint]]), {})!.simulated, true)
  assert.equal(spanToRecord(span([['openai.response.system_fingerprint', fingerprint]]), {})!.simulated, true)
  const other = { stringValue: 'fp_44709d6fcb' }
  assert.equal(spanToRecord(span([['openai.response.system_fingerprint', other]]), {})!.simulated, false)
  assert.equal(spanToRecord({ ...(span([]) as object), attributes: [] } as never, {}), null, 'not an LLM span')
})
