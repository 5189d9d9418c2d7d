import assert from 'node:assert/strict'
import { test } from 'node:test'
import { medianInterval, wilsonInterval } from '../../bench/lib/cli.js'

test('the median’s 95 % interval is the order statistics the binomial table gives, whatever the order', () => {
  const shuffled = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % n) + 1)
  // Ranks from the binomial(n, ½) table: n = 40 → 14th and 27th; n = 20 → 6th and 15th; n = 6 → 1st and 6th.
  assert.deepEqual(medianInterval(shuffled(40)), [14, 27])
  assert.deepEqual(medianInterval(shuffled(20)), [6, 15])
  assert.deepEqual(medianInterval(shuffled(6)), [1, 6])
  assert.equal(medianInterval(shuffled(5)), null, 'five values cannot give 95 %')
  // Its coverage, by simulation: the population median of uniform(0, 1) values is 0.5.
  let covered = 0
  let state = 12345
  const u = () => ((state = (state * 1103515245 + 12345) % 2 ** 31), state / 2 ** 31)
  for (let r = 0; r < 2000; r++) {
    const i = medianInterval(Array.from({ length: 40 }, u)) as [number, number]
    if (i[0] <= 0.5 && 0.5 <= i[1]) covered++
  }
  assert.ok(covered / 2000 > 0.93 && covered / 2000 < 0.985, `coverage ${covered / 2000}`)
})

test('Wilson’s interval for a rate stays within 0–1 and matches the textbook values', () => {
  const [lo, hi] = wilsonInterval(8, 12) as [number, number]
  assert.ok(Math.abs(lo - 0.3906) < 1e-3 && Math.abs(hi - 0.8619) < 1e-3, `${lo} ${hi}`)
  const [lo2, hi2] = wilsonInterval(12, 12) as [number, number]
  assert.ok(Math.abs(lo2 - 0.7575) < 1e-3 && hi2 === 1)
  assert.equal(wilsonInterval(0, 0), null)
})
