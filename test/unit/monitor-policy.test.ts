import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KaizenError } from '../../core/errors.js'
import { MonitorConfig, parseMonitorConfig } from '../../core/monitor/config.js'
import { inputDrift, signature, similarity } from '../../core/monitor/input-drift.js'
import {
  alertKey,
  checkFloors,
  decideAlert,
  decideCampaign,
  gradingAllowance,
  utcDay,
} from '../../core/monitor/policy.js'
import { Rng } from '../../core/rng.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

test('monitor config: defaults from the schema; bad input names the field and the key probably meant', () => {
  const c = parseMonitorConfig(undefined)
  assert.deepEqual(c, MonitorConfig.parse({}))
  assert.equal(c.floors.dq, 0.7)
  assert.equal(c.floors.p95LatencyMs, 5000)
  assert.equal(c.checkEveryMs, HOUR)
  assert.equal(c.action.startCampaign, true)
  const bad = (v: unknown) => {
    try {
      parseMonitorConfig(v)
    } catch (e) {
      assert.ok(e instanceof KaizenError)
      assert.equal(e.code, 'INVALID_INPUT')
      return e.message
    }
    assert.fail('accepted')
  }
  assert.match(bad({ sampleRate: 2 }), /sampleRate/)
  assert.match(bad({ floors: { dqq: 0.6 } }), /floors\.dqq[\s\S]*dq/)
  // Webhook URLs are secrets: they come from the worker's environment, never from settings.
  assert.match(bad({ alerts: { webhookUrl: 'https://hooks.example.com/x' } }), /alerts\.webhookUrl/)
  assert.equal(parseMonitorConfig({ floors: { dq: null } }).floors.dq, null)
})

test('floors: breaches, passes, and too little data reported as missing (never as ok)', () => {
  const floors = MonitorConfig.parse({ floors: { errorRate: 0.1 } }).floors
  const v = checkFloors(floors, { graded: 50, dqMean: 0.65, requests: 60, errors: 9, p95LatencyMs: 4000 })
  assert.deepEqual(
    v.map((x) => [x.floor, x.status]),
    [
      ['dq', 'breach'],
      ['p95LatencyMs', 'ok'],
      ['errorRate', 'breach'],
    ],
  )
  const thin = checkFloors(floors, { graded: 3, dqMean: 0.95, requests: 3, errors: 0, p95LatencyMs: 100 })
  assert.deepEqual(
    thin.map((x) => x.status),
    ['missing', 'missing', 'missing'],
  )
  const slow = checkFloors(floors, { graded: 50, dqMean: 0.9, requests: 50, errors: 0, p95LatencyMs: 5001 })
  assert.equal(slow.find((x) => x.floor === 'p95LatencyMs')?.status, 'breach')
})

test('judge budget: grading stops when the day is spent, and says so', () => {
  assert.deepEqual(gradingAllowance({ sampled: 10, costPerGradeUsd: 0.01, spentTodayUsd: 0, budgetUsd: 1 }), {
    grade: 10,
    exhausted: false,
    remainingUsd: 0.9,
  })
  const partial = gradingAllowance({ sampled: 10, costPerGradeUsd: 0.01, spentTodayUsd: 0.95, budgetUsd: 1 })
  assert.equal(partial.grade, 5)
  assert.equal(partial.exhausted, true)
  const none = gradingAllowance({ sampled: 10, costPerGradeUsd: 0.01, spentTodayUsd: 1.2, budgetUsd: 1 })
  assert.deepEqual([none.grade, none.exhausted, none.remainingUsd], [0, true, 0])
  assert.equal(gradingAllowance({ sampled: 7, costPerGradeUsd: 0, spentTodayUsd: 5, budgetUsd: 1 }).grade, 7)
  assert.equal(utcDay(Date.UTC(2026, 11, 5, 23, 59)), '2026-12-05')
})

test('alerts: an open one absorbs duplicates; an acknowledged one holds the cooldown', () => {
  const key = alertKey('billing', 'dq', 'change')
  assert.equal(key, 'billing/dq/change')
  assert.deepEqual(decideAlert(null, 0, HOUR), { raise: true })
  const open = { key, raisedAt: 0, acknowledgedAt: null }
  assert.equal((decideAlert(open, 10 * HOUR, HOUR) as { reason: string }).reason, 'duplicate')
  const acked = { key, raisedAt: 0, acknowledgedAt: 1000 }
  assert.equal((decideAlert(acked, HOUR / 2, HOUR) as { reason: string }).reason, 'cooldown')
  assert.deepEqual(decideAlert(acked, HOUR, HOUR), { raise: true })
})

test('campaigns: never while busy, within the cooldown or past the 30-day cap', () => {
  const action = MonitorConfig.parse({}).action
  const now = 100 * DAY
  assert.deepEqual(decideCampaign(action, { now, busy: null, startedAt: [] }), { start: true })
  const busy = decideCampaign(action, { now, busy: 'canary canary-7', startedAt: [] })
  assert.equal(busy.start === false && busy.reason, 'busy')
  assert.match((busy as { detail: string }).detail, /canary-7/)
  const cool = decideCampaign(action, { now, busy: null, startedAt: [now - 2 * DAY] })
  assert.equal(cool.start === false && cool.reason, 'cooldown')
  assert.match((cool as { detail: string }).detail, /120\.0 h left/)
  const cap = decideCampaign(
    { ...action, cooldownMs: DAY },
    { now, busy: null, startedAt: [now - 20 * DAY, now - 9 * DAY] },
  )
  assert.equal(cap.start === false && cap.reason, 'budget')
  const old = decideCampaign(action, { now, busy: null, startedAt: [now - 40 * DAY, now - 31 * DAY] })
  assert.deepEqual(old, { start: true })
  const off = decideCampaign({ ...action, startCampaign: false }, { now, busy: null, startedAt: [] })
  assert.equal(off.start === false && off.reason, 'disabled')
})

test('input drift: a new kind of request raises the novel share; the same kinds do not', () => {
  assert.equal(similarity(signature('disk full on db-1'), signature('disk full on db-1')), 1)
  assert.ok(similarity(signature('disk full on db-1'), signature('certificate expired for api.example.com')) < 0.1)
  const r = Rng.fromSeed('input-drift')
  const hosts = ['db-1', 'db-2', 'web-3', 'cache-4', 'queue-5']
  const known = (i: number) =>
    [
      `disk usage on ${r.pick(hosts)} crossed ${80 + (i % 15)} percent, volume /var/lib/data filling up`,
      `pod ${r.pick(hosts)} restarting in a crash loop after deploy ${i % 9}, exit code 137 out of memory`,
      `p99 latency on ${r.pick(hosts)} above ${200 + (i % 7) * 50} ms since the last release, error budget burning`,
    ][i % 3] as string
  const novelKind = (i: number) =>
    `tls certificate for service ${r.pick(hosts)}.internal expires in ${i % 5} days, renewal job failed with acme error`
  const reference = Array.from({ length: 120 }, (_, i) => known(i))
  const same = inputDrift(
    reference,
    Array.from({ length: 60 }, (_, i) => known(i + 7)),
  )
  assert.ok(same.increase !== null && same.increase < 0.1, `same kinds: increase ${same.increase}`)
  const shifted = inputDrift(
    reference,
    Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? novelKind(i) : known(i))),
  )
  assert.ok(shifted.increase !== null && shifted.increase > 0.35, `half new: increase ${shifted.increase}`)
  assert.ok(shifted.examples.length > 0 && shifted.examples.every((i) => i % 2 === 0))
  const empty = inputDrift([], ['x'])
  assert.deepEqual([empty.referenceNovelShare, empty.recentNovelShare, empty.increase], [null, null, null])
})
