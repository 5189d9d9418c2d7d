/**
 * bench:monitor — detecting quality drift in live traffic (issue 18).
 *
 * Simulated hourly checks of graded live traffic (./traffic.ts): 7 days of reference, then 30 days
 * monitored, in six scenarios (stationary, DQ drops of 0.05 and 0.10, a gradual drift of 0.10 over
 * a week, a 6-hour burst of errors, day-of-week seasonality). Side by side on the same runs:
 *
 * - **kaizen**: the e-detector (core/monitor/detector.ts) on DQ and on the error rate;
 * - **threshold-1h / -24h** and **t-test-6h / -24h** at their usual settings (average 0.05 below the
 *   reference; one-sided test at α = 0.05 every hour);
 * - the same four peers **calibrated** to the false-alarm budget: the most sensitive setting whose
 *   false alarms, on separate calibration runs of stationary and seasonal traffic, stay within
 *   `--fa-budget` per 30 days.
 *
 * After an alarm every rule is silent for 24 hours (the alert's cooldown) and starts afresh. For
 * each scenario and rule: false alarms per 30 days (alarms before the change), the median delay in
 * graded requests and in hours (from the change to the hourly check that alarmed), and the miss
 * rate (no alarm within 7 days of the change; 24 hours for the error burst).
 *
 *   npm run bench:monitor [-- --seeds 200 --split test|dev --rate 50 --fa-budget 1 --tolerance 0 --json]
 */
import { parseArgs } from 'node:util'
import { failer, median, wholeNumberFlag } from '../lib/cli.js'
import { kaizenRule, referenceFrom, thresholdRule, tTestRule, type RuleSpec } from './rules.js'
import { MONITORED_DAYS, SCENARIOS, generateRun, type Run, type Scenario } from './traffic.js'

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '200' },
    split: { type: 'string', default: 'test' },
    rate: { type: 'string', default: '50' },
    'fa-budget': { type: 'string', default: '1' },
    tolerance: { type: 'string', default: '0' },
    'calibration-seeds': { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  },
})
const fail = failer('bench:monitor')
const int = wholeNumberFlag(fail)
if (values.split !== 'test' && values.split !== 'dev') fail('--split: use "test" (reporting seeds) or "dev" (tuning)')
const seeds = int('seeds', values.seeds, 1)
const rate = int('rate', values.rate, 1)
const calibrationSeeds = int('calibration-seeds', values['calibration-seeds'], 1)
const faBudget = Number(values['fa-budget'])
if (!(faBudget > 0))
  fail(`--fa-budget: use a positive number of false alarms per 30 days (got "${values['fa-budget']}")`)
const tolerance = Number(values.tolerance)
if (!(tolerance >= 0 && tolerance < 0.5)) fail(`--tolerance: use a number from 0 to 0.5 (got "${values.tolerance}")`)
const seedBase = values.split === 'dev' ? 0 : 1000
const CALIBRATION_BASE = 5000
const COOLDOWN_HOURS = 24

interface Outcome {
  falseAlarms: number
  preChangeHours: number
  delayHours: number | null
  delayRequests: number | null
}

function evaluate(spec: RuleSpec, run: Run): Outcome {
  const ref = referenceFrom(run.reference)
  let rule = spec.make(ref)
  let quietUntil = -1
  let falseAlarms = 0
  let detectedAt: number | null = null
  const deadline = run.changeHour === null ? Infinity : run.changeHour + (run.scenario === 'error-burst' ? 24 : 7 * 24)
  for (const hour of run.monitored) {
    if (hour.hour < quietUntil) continue
    if (hour.hour === quietUntil) rule = spec.make(ref)
    if (!rule.check(hour)) continue
    if (run.changeHour !== null && hour.hour >= run.changeHour) {
      if (hour.hour < deadline) detectedAt = hour.hour
      break
    }
    falseAlarms++
    quietUntil = hour.hour + COOLDOWN_HOURS
  }
  const preChangeHours = run.changeHour ?? run.monitored.length
  let delayRequests: number | null = null
  if (detectedAt !== null && run.changeHour !== null) {
    delayRequests = 0
    for (const h of run.monitored)
      if (h.hour >= run.changeHour && h.hour <= detectedAt) delayRequests += h.scores.length
  }
  return {
    falseAlarms,
    preChangeHours,
    delayHours: detectedAt === null || run.changeHour === null ? null : detectedAt - run.changeHour + 1,
    delayRequests,
  }
}

const runsOf = (scenario: Scenario, base: number, count: number): Run[] =>
  Array.from({ length: count }, (_, i) => generateRun(scenario, base + i, rate))

const falseAlarmRate = (outcomes: readonly Outcome[]): number => {
  const hours = outcomes.reduce((a, o) => a + o.preChangeHours, 0)
  return hours === 0 ? 0 : (outcomes.reduce((a, o) => a + o.falseAlarms, 0) * 30 * 24) / hours
}

// Calibration: the most sensitive setting of each peer whose false alarms stay within the budget on
// stationary and seasonal traffic (runs apart from the reported ones).
const calibration = [
  ...runsOf('stationary', CALIBRATION_BASE, calibrationSeeds),
  ...runsOf('seasonality', CALIBRATION_BASE, calibrationSeeds),
]
const worstFalseAlarms = (spec: RuleSpec): number =>
  Math.max(
    ...(['stationary', 'seasonality'] as const).map((s) =>
      falseAlarmRate(calibration.filter((r) => r.scenario === s).map((r) => evaluate(spec, r))),
    ),
  )
function calibrate(name: string, grid: readonly number[], make: (x: number) => RuleSpec): RuleSpec & { at: number } {
  // The grid runs from the most to the least sensitive setting.
  for (const x of grid) {
    const spec = make(x)
    if (worstFalseAlarms(spec) <= faBudget) return { ...spec, name, at: x }
  }
  const last = grid[grid.length - 1] as number
  return { ...make(last), name, at: last }
}
const offsets = Array.from({ length: 40 }, (_, i) => 0.005 * (i + 1))
const zs = Array.from({ length: 46 }, (_, i) => 1.5 + 0.1 * i)
const calibrated = [
  calibrate('threshold-1h (calibrated)', offsets, (x) => thresholdRule('', 1, x)),
  calibrate('threshold-24h (calibrated)', offsets, (x) => thresholdRule('', 24, x)),
  calibrate('t-test-6h (calibrated)', zs, (x) => tTestRule('', 6, x)),
  calibrate('t-test-24h (calibrated)', zs, (x) => tTestRule('', 24, x)),
]

const rules: RuleSpec[] = [
  kaizenRule('kaizen', { tolerance, falseAlarmsPer30Days: faBudget, seasonal: true }),
  kaizenRule('kaizen (no weekly profile)', { tolerance, falseAlarmsPer30Days: faBudget, seasonal: false }),
  thresholdRule('threshold-1h', 1, 0.05),
  thresholdRule('threshold-24h', 24, 0.05),
  tTestRule('t-test-6h', 6, 1.645),
  tTestRule('t-test-24h', 24, 1.645),
  ...calibrated,
]

interface Row {
  scenario: Scenario
  detector: string
  falseAlarmsPer30d: number
  delayMedianRequests: number | null
  delayMedianHours: number | null
  missRate: number | null
}
const rows: Row[] = []
const started = performance.now()
for (const scenario of SCENARIOS) {
  const runs = runsOf(scenario, seedBase, seeds)
  for (const spec of rules) {
    const outcomes = runs.map((r) => evaluate(spec, r))
    const changed = runs[0]?.changeHour !== null
    const delays = outcomes.flatMap((o) => (o.delayHours === null ? [] : [o]))
    rows.push({
      scenario,
      detector: spec.name,
      falseAlarmsPer30d: +falseAlarmRate(outcomes).toFixed(3),
      delayMedianRequests: changed ? median(delays.map((o) => o.delayRequests as number)) : null,
      delayMedianHours: changed ? median(delays.map((o) => o.delayHours as number)) : null,
      missRate: changed ? +(1 - delays.length / outcomes.length).toFixed(3) : null,
    })
  }
}

// The issue's goals, checked on this run. The delay is compared at matched false alarms: with the
// peers calibrated to the same budget, those whose false alarms (the worse of stationary and
// seasonal traffic) are at least Kaizen's. The peers at their usual settings alarm 5–25 times a
// month, and a rule that alarms that often is trivially early; they are reported, not compared.
const row = (scenario: Scenario, detector: string) =>
  rows.find((r) => r.scenario === scenario && r.detector === detector) as Row
const worstFa = (name: string) =>
  Math.max(row('stationary', name).falseAlarmsPer30d, row('seasonality', name).falseAlarmsPer30d)
const kaizenFa = worstFa('kaizen')
const matched = calibrated.filter((r) => worstFa(r.name) >= kaizenFa)
const bestPeerDelay = (scenario: Scenario) => {
  const ds = matched.flatMap((r) => {
    const x = row(scenario, r.name)
    return x.delayMedianHours === null || (x.missRate ?? 1) >= 0.5 ? [] : [{ name: r.name, hours: x.delayMedianHours }]
  })
  return ds.sort((a, b) => a.hours - b.hours)[0] ?? null
}
const drop = { kaizenHours: row('drop-0.05', 'kaizen').delayMedianHours, bestPeer: bestPeerDelay('drop-0.05') }
const checks = {
  kaizenFalseAlarmsPer30d: kaizenFa,
  falseAlarmsWithinOnePer30d: kaizenFa <= 1,
  drop005: drop,
  drop005NoSlowerThanMatchedPeers:
    drop.kaizenHours !== null && (drop.bestPeer === null || drop.kaizenHours <= drop.bestPeer.hours),
}
const out = {
  split: values.split,
  seeds,
  rate,
  faBudget,
  tolerance,
  days: MONITORED_DAYS,
  calibrated: calibrated.map((c) => ({ detector: c.name, setting: c.at })),
  rows,
  checks,
  seconds: +((performance.now() - started) / 1000).toFixed(1),
}
if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
else {
  const log = (line: string) => process.stderr.write(`${line}\n`)
  log(
    `${seeds} ${values.split} runs a scenario, ${rate} graded requests an hour at full volume, ` +
      `budget ${faBudget} / 30 d`,
  )
  log(`calibrated: ${out.calibrated.map((c) => `${c.detector} at ${c.setting.toFixed(3)}`).join('; ')}`)
  const f = (x: number | null, d = 0) => (x === null ? '—' : x.toFixed(d))
  for (const scenario of SCENARIOS) {
    log(`\n${scenario}`)
    log('detector                     false alarms/30d  delay (requests)  delay (hours)  missed')
    for (const r of rows.filter((x) => x.scenario === scenario))
      log(
        `${r.detector.padEnd(28)} ${f(r.falseAlarmsPer30d, 2).padStart(16)}  ` +
          `${f(r.delayMedianRequests).padStart(16)}  ${f(r.delayMedianHours).padStart(13)}  ` +
          `${r.missRate === null ? '—' : `${(100 * r.missRate).toFixed(0)} %`}`,
      )
  }
  log(`\nchecks: ${JSON.stringify(checks)}`)
  log(`(${out.seconds} s)`)
}
