import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { StoreMetrics } from '../../api/store-metrics.js'
import type { Db } from '../../db/client.js'

test(`store metrics: a failed database read serves the last good values with \
kaizen_store_metrics_up 0, and recovers`, async () => {
  let down = false
  let reads = 0
  // Answers every aggregate query with one row of ones (counts, sums, bucket counts).
  const db = {
    execute: async () => {
      reads++
      if (down) throw new Error('connection refused')
      return {
        rows: [
          new Proxy(
            {},
            {
              get: (_t, k) =>
                k === 'status' || k === 'state' || k === 'decision'
                  ? 'x'
                  : k === 'finished' || k === 'ended'
                    ? true
                    : 1,
            },
          ),
        ],
      }
    },
  } as unknown as Db
  const registry = new Registry()
  new StoreMetrics(db, 0).register(registry)
  const first = await registry.metrics()
  assert.match(first, /^kaizen_store_metrics_up 1$/m)
  assert.match(first, /^kaizen_grades_total\{result="pass"\} 1$/m)
  down = true
  const during = await registry.metrics()
  assert.match(during, /^kaizen_store_metrics_up 0$/m)
  assert.match(during, /^kaizen_grades_total\{result="pass"\} 1$/m, 'the last good values are served')
  down = false
  assert.match(await registry.metrics(), /^kaizen_store_metrics_up 1$/m)
  assert.ok(reads > 0)
})
