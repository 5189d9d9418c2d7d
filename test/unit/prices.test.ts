import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { isKaizenError } from '../../core/errors.js'
import { Prices } from '../../providers/prices.js'

test('a dated price applies from its date on; before the first date a model has no price', () => {
  const prices = new Prices({
    'acme-large': [
      { from: '2026-09-01', inputPerMTok: 2, outputPerMTok: 8 },
      { from: '2026-01-01', inputPerMTok: 3, outputPerMTok: 12 },
    ],
  })
  const at = (iso: string) => new Date(iso)
  assert.equal(prices.of('acme-large', at('2025-12-31T23:59:59Z')), null)
  assert.deepEqual(prices.of('acme-large', at('2026-01-01T00:00:00Z')), { inputPerMTok: 3, outputPerMTok: 12 })
  assert.deepEqual(prices.of('acme-large', at('2026-08-31T12:00:00Z')), { inputPerMTok: 3, outputPerMTok: 12 })
  assert.deepEqual(prices.of('acme-large', at('2026-09-01T00:00:00Z')), { inputPerMTok: 2, outputPerMTok: 8 })
  assert.equal(prices.cost('acme-large', { inputTokens: 1e6, outputTokens: 5e5 }, at('2026-10-01')), 6)
  // Snapshots by prefix, a provider prefix, and the built-in list prices still apply.
  assert.deepEqual(prices.of('openai:acme-large-2026-10', at('2026-10-01')), { inputPerMTok: 2, outputPerMTok: 8 })
  assert.deepEqual(prices.of('gpt-4.1-mini'), { inputPerMTok: 0.4, outputPerMTok: 1.6 })
  assert.equal(prices.of('unknown-model'), null)
})

test('a price file with a bad entry is refused naming the field and the two forms', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kaizen-prices-'))
  try {
    const file = join(dir, 'prices.yaml')
    writeFileSync(file, 'acme: [{ from: "next week", inputPerMTok: 1, outputPerMTok: 2 }]\n')
    assert.throws(
      () => Prices.fromFile(file),
      (e: unknown) =>
        isKaizenError(e) &&
        e.code === 'CONFIG_ERROR' &&
        /acme/.test(e.message) &&
        /"from": "2026-06-01"/.test(e.message),
    )
    writeFileSync(
      file,
      'acme:\n  - { from: 2026-06-01, inputPerMTok: 1, outputPerMTok: 2 }\n' +
        'beta: { inputPerMTok: 0.5, outputPerMTok: 1 }\n',
    )
    const prices = Prices.fromFile(file)
    assert.equal(prices.of('acme', new Date('2026-05-31')), null)
    assert.deepEqual(prices.of('acme', new Date('2026-06-02')), { inputPerMTok: 1, outputPerMTok: 2 })
    assert.deepEqual(prices.of('beta'), { inputPerMTok: 0.5, outputPerMTok: 1 })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
