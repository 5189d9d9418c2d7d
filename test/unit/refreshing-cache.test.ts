import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RefreshingCache } from '../../lib/refreshing-cache.js'

test('refreshing cache: single-flight reads, refresh ahead past half the TTL, failures not cached', async () => {
  let reads = 0
  let fail = false
  // A clock of the test's own: the ages below are exact whatever the machine's load.
  let now = 1_000
  const cache = new RefreshingCache(
    async (k: string) => {
      reads++
      await new Promise((r) => setImmediate(r))
      if (fail) throw new Error('db down')
      return `${k}:${reads}`
    },
    100,
    10_000,
    () => now,
  )
  const first = await Promise.all([cache.get('a'), cache.get('a'), cache.get('a')])
  assert.deepEqual(first, ['a:1', 'a:1', 'a:1'])
  assert.equal(reads, 1, 'concurrent misses share one read')
  assert.equal(await cache.get('a'), 'a:1')
  now += 60
  assert.equal(await cache.get('a'), 'a:1', 'past half its life the entry is still served…')
  await new Promise((r) => setImmediate(r))
  await new Promise((r) => setImmediate(r))
  assert.equal(reads, 2, '…while a fresh read runs')
  assert.equal(await cache.get('a'), 'a:2')
  cache.delete('a')
  fail = true
  await assert.rejects(cache.get('a'), /db down/)
  fail = false
  assert.equal(await cache.get('a'), 'a:4', 'a failed read is not cached')
})

test('refreshing cache: an entry past its whole life is read again before it is served', async () => {
  let reads = 0
  let now = 0
  const cache = new RefreshingCache(
    async (k: string) => `${k}:${++reads}`,
    100,
    10_000,
    () => now,
  )
  assert.equal(await cache.get('b'), 'b:1')
  now += 49
  assert.equal(await cache.get('b'), 'b:1', 'young: served, no read')
  assert.equal(reads, 1)
  now += 51
  assert.equal(await cache.get('b'), 'b:2', 'expired: read again and the fresh value served')
})
