import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  initialDetectorState,
  parseDetectorSettings,
  readDetector,
  settingsFromReference,
  updateDetector,
  type DetectorSettings,
} from '../../core/monitor/detector.js'
import {
  guardedReferenceAt,
  isWeekend,
  learnReference,
  referenceMeanAt,
  referenceOf,
} from '../../core/monitor/reference.js'
import { Rng } from '../../core/rng.js'

/** A rubric-like score in {0, ¼, ½, ¾, 1} with mean ¼ + ⅝·pGood. */
const score = (r: Rng, mean: number) => (r.float() < (mean - 0.25) / 0.625 ? r.pick([0.75, 1]) : r.pick([0, 0.25, 0.5]))
const stream = (r: Rng, n: number, mean: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => score(r, mean(i)))

const dqSettings = (arl: number): DetectorSettings =>
  parseDetectorSettings({ reference: 0.8, variance: 0.06, direction: 'drop', tolerance: 0, arl })

test('without a change the detector alarms no more often than its run length allows', () => {
  // P(alarm within T observations) ≤ T / arl (a union of Ville's inequality over the T starts).
  const r = Rng.fromSeed('monitor-null')
  const s = dqSettings(20_000)
  let alarms = 0
  const runs = 300
  for (let k = 0; k < runs; k++) {
    const st = updateDetector(
      s,
      initialDetectorState(s),
      stream(r, 2000, () => 0.8),
    )
    if (st.alarmAt !== null) alarms++
  }
  assert.ok(alarms / runs <= 0.1, `alarm rate ${alarms / runs} within 2,000 observations at arl 20,000`)
})

test('a drop in DQ is detected soon after it starts, and its onset and size are estimated', () => {
  const r = Rng.fromSeed('monitor-drop')
  const s = dqSettings(20_000)
  const delays: number[] = []
  let early = 0
  for (let k = 0; k < 60; k++) {
    const xs = stream(r, 3000, (i) => (i < 1000 ? 0.8 : 0.7))
    const st = updateDetector(s, initialDetectorState(s), xs)
    assert.ok(st.alarmAt !== null, 'a 0.10 drop is found within 2,000 observations')
    if (st.alarmAt <= 1000) early++
    else delays.push(st.alarmAt - 1000)
    if (k === 0) {
      const partial = updateDetector(s, initialDetectorState(s), xs.slice(0, st.alarmAt))
      const reading = readDetector(s, partial)
      assert.equal(reading.alarm, true)
      assert.ok(reading.statistic >= reading.threshold)
      assert.ok(Math.abs(reading.since - 1000) < 300, `onset estimated at ${reading.since}`)
      assert.ok(Math.abs((reading.meanSince ?? 0) - 0.7) < 0.07, `mean since onset ${reading.meanSince}`)
    }
  }
  assert.ok(early <= 2, `${early} alarms before the change`)
  delays.sort((a, b) => a - b)
  const med = delays[delays.length >> 1] as number
  assert.ok(med < 400, `median delay ${med} observations`)
})

test('a rise in the error rate is detected; a fall is not a change', () => {
  const r = Rng.fromSeed('monitor-rise')
  const s = parseDetectorSettings({ reference: 0.01, variance: 0.0099, direction: 'rise', arl: 20_000 })
  const burst = Array.from({ length: 2000 }, (_, i) => (r.float() < (i < 1000 ? 0.01 : 0.1) ? 1 : 0))
  const st = updateDetector(s, initialDetectorState(s), burst)
  assert.ok(st.alarmAt !== null && st.alarmAt > 1000 && st.alarmAt < 1300, `alarm at ${st.alarmAt}`)
  const better = Array.from({ length: 5000 }, () => 0)
  assert.equal(updateDetector(s, initialDetectorState(s), better).alarmAt, null)
})

test('missing scores are skipped, batches give the same state as one pass, the input state is untouched', () => {
  const r = Rng.fromSeed('monitor-batches')
  const s = dqSettings(5000)
  const xs = stream(r, 900, (i) => (i < 300 ? 0.8 : 0.65))
  const once = updateDetector(s, initialDetectorState(s), xs)
  let st = initialDetectorState(s)
  const before = JSON.stringify(st)
  const first = updateDetector(s, st, xs.slice(0, 100))
  assert.equal(JSON.stringify(st), before)
  st = first
  for (let i = 100; i < xs.length; i += 77) st = updateDetector(s, st, [null, ...xs.slice(i, i + 77), null])
  assert.deepEqual(st, once)
  assert.equal(once.n, 900)
  // A stream of missing scores says nothing: no alarm, no observations.
  const none = updateDetector(s, initialDetectorState(s), Array(5000).fill(null))
  assert.equal(none.n, 0)
  assert.equal(readDetector(s, none).meanSince, null)
})

test('settings: bad input names the field; a reference window gives the run length from the budget', () => {
  assert.throws(
    () => parseDetectorSettings({ reference: 1.2, variance: 0.1, direction: 'drop', arl: 100 }),
    (e: Error) => /reference/.test(e.message),
  )
  assert.throws(
    () => parseDetectorSettings({ reference: 0.8, variance: 0.1, direction: 'down' as 'drop', arl: 100 }),
    (e: Error) => /direction/.test(e.message),
  )
  const ref = referenceOf([0.5, 1, null, 0.75])
  assert.deepEqual(ref, { mean: 0.75, variance: 0.0625, n: 3 })
  const s = settingsFromReference(ref!, {
    direction: 'drop',
    tolerance: 0.01,
    falseAlarmsPer30Days: 0.5,
    observationsPerDay: 1000,
  })
  assert.equal(s.arl, 60_000)
  assert.equal(s.reference, 0.75)
  assert.equal(s.tolerance, 0.01)
})

test('the reference keeps a weekday and a weekend mean, shrunk toward the overall one, and is guarded', () => {
  const monday = Date.UTC(2026, 10, 2, 12)
  const saturday = Date.UTC(2026, 10, 7, 12)
  assert.equal(isWeekend(monday), false)
  assert.equal(isWeekend(saturday), true)
  // Saturday 01:00 UTC is still Friday at UTC−5.
  assert.equal(isWeekend(Date.UTC(2026, 10, 7, 1), -5), false)
  const obs = [
    ...Array.from({ length: 800 }, (_, i) => ({ at: monday, value: i % 5 === 0 ? 0.5 : 1 })),
    ...Array.from({ length: 200 }, (_, i) => ({ at: saturday, value: i % 2 === 0 ? 0.5 : 1 })),
    { at: saturday, value: null },
  ]
  const ref = learnReference(obs)!
  assert.equal(ref.n, 1000)
  assert.equal(ref.weekday?.n, 800)
  assert.ok(Math.abs(ref.weekday!.mean - 0.9) < 1e-9 && Math.abs(ref.weekend!.mean - 0.75) < 1e-9)
  const weekend = referenceMeanAt(ref, saturday)
  // 200 weekend observations and 200 of shrinkage: halfway between 0.75 and the overall 0.87.
  assert.ok(Math.abs(weekend - (0.75 + 0.87) / 2) < 1e-9, `weekend reference ${weekend}`)
  assert.ok(referenceMeanAt(ref, monday) > 0.88)
  const guardedDrop = guardedReferenceAt(ref, saturday, 'drop')
  const guardedRise = guardedReferenceAt(ref, saturday, 'rise')
  assert.ok(guardedDrop < weekend && guardedRise > weekend)
  assert.ok(Math.abs(weekend - guardedDrop - 2 * Math.sqrt(ref.variance / 400)) < 1e-9)
  assert.equal(guardedReferenceAt(ref, saturday, 'drop', { seasonal: false, z: 0 }), ref.mean)
  assert.equal(learnReference([{ at: monday, value: null }]), null)
})
