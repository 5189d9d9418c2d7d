import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ApplicationFailure } from '@temporalio/common'
import { toApplicationFailure } from '../../activities/failure.js'
import { KaizenError } from '../../core/errors.js'
import { LossReport, describeError, safeLogLine, scrubLogText } from '../../lib/safe-log.js'
import { describeError as describeForCli } from '../../cli/output.js'

const TOKEN = 'CiQwMWEyM2RhMy1iNjk1LTc5NTYtYjRhOC05ZDFiNTMyNDkzZjMSIGxvZ3M='

/** A drizzle query error as it arrives: the SQL and its parameters in the message and as fields. */
function drizzleError(cause: Error): Error {
  const err = new Error(
    'Failed query: insert into "traffic" ("id", "input") values ($1, $2)\nparams: ' +
      'tr_1,{"summary":"jane@example.com sk-live-abcdefghijklmnopqrstuvwxyz"}',
  )
  Object.assign(err, {
    query: 'insert into "traffic" ("id", "input") values ($1, $2)',
    params: ['tr_1', { summary: 'jane@example.com' }],
    cause,
  })
  return err
}
const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
    code: 'ECONNREFUSED',
    errno: -111,
    syscall: 'connect',
  })

test('task tokens are withheld in every form the SDK and its core print them', () => {
  for (const line of [
    `Activity failed {"taskToken":"${TOKEN}","activityId":"4"}`,
    `handling event PreparedWFT { task_token: TaskToken(${TOKEN}), attempt: 1 }`,
    `poll result task_token=${TOKEN} next`,
  ]) {
    const out = scrubLogText(line)
    assert.ok(!out.includes(TOKEN), out)
    assert.doesNotMatch(out, /task_?token/i)
    assert.match(out, /\[token withheld\]/)
  }
  assert.equal(scrubLogText('Activity completed {"activityId":"4"}'), 'Activity completed {"activityId":"4"}')
})

test('SDK log lines: secret fields dropped, errors described, SQL parameters and secrets never printed', () => {
  const line = safeLogLine('Activity failed', {
    taskToken: TOKEN,
    activityType: 'searchRound',
    error: drizzleError(refused()),
    nested: { apiKey: 'sk-live-abcdefghijklmnopqrstuvwxyz', authorization: 'Bearer abc', fine: 1 },
    big: 12n,
  })
  assert.equal(
    line,
    'Activity failed {"activityType":"searchRound","error":"database unavailable: connection refused ' +
      '(ECONNREFUSED) during insert into traffic","nested":{"fine":1},"big":"12"}',
  )
  // A message that folds a query error into itself, and a secret in free text.
  const folded = scrubLogText(`could not store: Failed query: insert into "t" values ($1)\nparams: jane@example.com`)
  assert.equal(folded, 'could not store: [database query withheld]')
  assert.equal(
    scrubLogText('calling with sk-live-abcdefghijklmnopqrstuvwxyz for jane@example.com'),
    'calling with [REDACTED:secret] for [REDACTED:email]',
  )
})

test('describeError: Kaizen messages kept (identities too), other errors cut to a scrubbed first line', () => {
  assert.equal(
    describeError(new KaizenError('CONFLICT', 'canary c-1 was already approved by ops@example.com')),
    'canary c-1 was already approved by ops@example.com',
  )
  assert.equal(describeError(new TypeError('bad thing\nsecond line with jane@example.com')), 'TypeError: bad thing')
  assert.equal(describeError(new Error(`x${'y'.repeat(400)}`)).length, 301)
  assert.equal(describeError('card 4111 1111 1111 1111'), 'card [REDACTED:credit-card-number]')
  // The CLI's last resort says the same, and a lost database is exit code 7.
  assert.deepEqual(describeForCli(drizzleError(refused())), {
    message: 'database unavailable: connection refused (ECONNREFUSED) during insert into traffic',
    code: 7,
  })
})

test('activity failures: unknown errors are sanitised and still retried; Kaizen errors keep their codes', () => {
  const plain = toApplicationFailure(new RangeError('index 7 out of range')) as ApplicationFailure
  assert.equal(plain.type, 'RangeError')
  assert.equal(plain.nonRetryable, false)
  assert.equal(plain.message, 'RangeError: index 7 out of range')
  assert.match(plain.stack ?? '', /^ApplicationFailure: RangeError: index 7 out of range\n\s+at /)

  const db = toApplicationFailure(drizzleError(refused())) as ApplicationFailure
  assert.equal(db.type, 'INFRA_UNAVAILABLE')
  assert.equal(db.nonRetryable, false)
  assert.doesNotMatch(`${db.message}${db.stack}`, /params|jane@|Failed query/)

  const rejected = toApplicationFailure(
    new KaizenError('INVALID_INPUT', 'bad config', { details: { fields: ['x'] } }),
  ) as ApplicationFailure
  assert.equal(rejected.type, 'INVALID_INPUT')
  assert.equal(rejected.nonRetryable, true)
  const later = toApplicationFailure(
    new KaizenError('PROVIDER_UNAVAILABLE', 'rate limited', { details: { retryAfterMs: 1500 } }),
  ) as ApplicationFailure
  assert.equal(later.nonRetryable, false)
  assert.equal(later.nextRetryDelay, 1500)
})

test('LossReport: losses counted into one line, flushed when asked (and not before)', () => {
  const lines: string[] = []
  const report = new LossReport(
    (n, reasons) => `${n} lost (${reasons})`,
    (l) => lines.push(l),
    3_600_000,
  )
  report.flush()
  assert.deepEqual(lines, [], 'nothing lost, nothing said')
  report.lost('ECONNREFUSED')
  report.lost('ECONNREFUSED')
  report.lost('connection terminated')
  assert.deepEqual(lines, [])
  report.flush()
  report.flush()
  assert.deepEqual(lines, ['3 lost (ECONNREFUSED, connection terminated)'])
  report.lost('ECONNRESET', 2)
  report.flush()
  assert.deepEqual(lines, ['3 lost (ECONNREFUSED, connection terminated)', '2 lost (ECONNRESET)'])
  assert.equal(report.total, 5)
})

test('LossReport: the line comes by itself once the interval has passed', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const lines: string[] = []
  const report = new LossReport(
    (n) => `${n} lost`,
    (l) => lines.push(l),
    10_000,
  )
  report.lost('ECONNREFUSED')
  t.mock.timers.tick(9_999)
  report.lost('ECONNREFUSED')
  assert.deepEqual(lines, [])
  t.mock.timers.tick(1)
  assert.deepEqual(lines, ['2 lost'])
})
