import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RefreshingCache } from '../../lib/refreshing-cache.js'

test('refreshing cache: single-flight reads, refresh ahead past half the TTL, failures not cached', async () => {
  let reads = 0
  let fail = false
  const cache = new RefreshingCache(async (k: string) => {
    reads++
    await new Promise((r) => setTimeout(r, 5))
    if (fail) throw new Error('db down')
    return `${k}:${reads}`
  }, 100)
  const first = await Promise.all([cache.get('a'), cache.get('a'), cache.get('a')])
  assert.deepEqual(first, ['a:1', 'a:1', 'a:1'])
  assert.equal(reads, 1, 'concurrent misses share one read')
  assert.equal(await cache.get('a'), 'a:1')
  await new Promise((r) => setTimeout(r, 60))
  assert.equal(await cache.get('a'), 'a:1', 'past half its life the entry is still served…')
  await new Promise((r) => setTimeout(r, 10))
  assert.equal(reads, 2, '…while a fresh read runs')
  assert.equal(await cache.get('a'), 'a:2')
  cache.delete('a')
  fail = true
  await assert.rejects(cache.get('a'), /db down/)
  fail = false
  assert.equal(await cache.get('a'), 'a:4', 'a failed read is not cached')
})
