/**
 * `npm run bench:canary [-- --json] [--replicates N] [--scenarios a,b]`
 *
 * Simulates per-request scores of a canary and its concurrent baseline and runs, on the very same
 * data (common random numbers), Kaizen's detector and the reference detectors, for each scenario,
 * canary share (50 % and 10 %) and look interval (every 10 and every 50 canary samples), up to
 * 2,000 canary samples. Reports the false-rollback rate with no change, power and N80 (canary
 * samples by which 80 % of regressions are caught), Kaizen's readiness speed and false-ready rate,
 * and how many graded requests Kaizen needs to roll back a canary that fails every request.
 */
import { writeFileSync } from 'node:fs'
import { DEFAULT_ANALYSIS } from '../../core/canary/analyze.js'
import { flaggerLike, kaizen, kayentaLike, nFix, tTestEveryLook, tTestSingle, type Outcome } from './detectors.js'
import { FastRng } from './random.js'
import { generate, SCENARIOS, type Condition, type Sample, type Scenario } from './scenarios.js'

interface Options {
  json: boolean
  jsonOut: string | null
  replicates: number
  scenarios: string[]
  nMax: number
  seed: number
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    json: false,
    jsonOut: null,
    replicates: 2_000,
    scenarios: SCENARIOS.map((s) => s.name),
    nMax: 2_000,
    seed: 20261121,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) fail(`${a} needs a value`)
      return v as string
    }
    if (a === '--json') o.json = true
    else if (a === '--json-out') o.jsonOut = value()
    else if (a === '--replicates') o.replicates = positive(a, value())
    else if (a === '--n-max') o.nMax = positive(a, value())
    else if (a === '--seed') o.seed = positive(a, value())
    else if (a === '--scenarios') {
      o.scenarios = value().split(',')
      for (const s of o.scenarios)
        if (!SCENARIOS.some((x) => x.name === s))
          fail(`--scenarios: unknown scenario "${s}" (known: ${SCENARIOS.map((x) => x.name).join(', ')})`)
    } else
      fail(
        `unknown option ${a} (options: --json, --json-out FILE, --replicates N, --scenarios a,b, --n-max N, --seed N)`,
      )
  }
  if (o.nMax % 50 !== 0) fail('--n-max must be a multiple of 50 (the look intervals are 10 and 50)')
  return o
}

function positive(flag: string | undefined, v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) fail(`${flag} must be a positive whole number (got "${v}")`)
  return n
}

function fail(message: string): never {
  process.stderr.write(`bench:canary: ${message}\n`)
  process.exit(2)
}

const SHARES = [
  { share: 50, r: 1 },
  { share: 10, r: 9 },
]
const LOOKS = [10, 50]

export interface Row {
  scenario: string
  detector: string
  falseRollbackRate: number
  power: number
  /** Canary samples by which 80 % of regressions were rolled back; null when power < 80 %. */
  n80: number | null
  /** Kaizen only. */
  readyRate?: number
  n80Ready?: number | null
  /** P(ready | Δ = −margin); null where the scenario's regression is smaller than the margin. */
  falseReadyRate?: number | null
}

const quantile = (xs: number[], q: number): number | null => {
  const sorted = [...xs].sort((a, b) => a - b)
  const v = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
  return v === undefined || !Number.isFinite(v) ? null : v
}

/** Flagger windows: the canary-only mean of each look window. */
function windowMeans(s: Sample, k: number): Float64Array {
  const out = new Float64Array(s.canary.length / k)
  for (let w = 0; w < out.length; w++) {
    let sum = 0
    for (let i = w * k; i < (w + 1) * k; i++) sum += s.canary[i] as number
    out[w] = sum / k
  }
  return out
}

/** Oracle calibration: the threshold giving a 5 % false-rollback rate with F failed checks on stationary null data. */
function calibrate(nullWindows: Float64Array[], failures: number): number {
  const rate = (t: number) =>
    nullWindows.filter((w) => w.reduce((n, x) => n + (x < t ? 1 : 0), 0) >= failures).length / nullWindows.length
  let lo = 0
  let hi = 1
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2
    if (rate(mid) > 0.05) hi = mid
    else lo = mid
  }
  return lo
}

function main() {
  const o = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const rows: Row[] = []
  // `${scenario}/${r}/${k}` → threshold on that scenario's stationary null data
  const calibrated = new Map<string, number>()
  log(`bench:canary: ${o.replicates} replicates, up to ${o.nMax} canary samples, scenarios ${o.scenarios.join(', ')}`)

  for (const scenario of SCENARIOS.filter(
    (s) => o.scenarios.includes(s.name) || (s.name === 'continuous' && o.scenarios.includes('common-drift')),
  )) {
    for (const { share, r } of SHARES) {
      const t0 = Date.now()
      const nfix = nFix(scenario.variance, scenario.delta, r)
      type Acc = Record<string, Record<Condition, Array<Outcome>>>
      const acc: Record<number, Acc> = {}
      const windows: Record<number, Record<Condition, Float64Array[]>> = {}
      for (const k of LOOKS) {
        acc[k] = {}
        windows[k] = { null: [], regression: [], 'total-failure': [] }
      }
      const record = (k: number, name: string, c: Condition, out: Outcome) => {
        const a = (acc[k] as Acc)[name] ?? ((acc[k] as Acc)[name] = { null: [], regression: [], 'total-failure': [] })
        a[c].push(out)
      }
      for (const condition of ['null', 'regression'] as const) {
        // Common random numbers: the same replicate seeds for every detector and both look intervals.
        for (let rep = 0; rep < o.replicates; rep++) {
          const rng = new FastRng(o.seed ^ (rep * 2654435761) ^ (condition === 'null' ? 0 : 0x5bd1e995) ^ (r * 7919))
          const sample = generate(scenario, condition, r, o.nMax, rng)
          for (const k of LOOKS) {
            record(k, 'kaizen', condition, kaizen(sample, k))
            record(k, 't-test (single look at n_fix)', condition, tTestSingle(sample, nfix))
            record(k, 't-test (every look)', condition, tTestEveryLook(sample, k))
            record(k, 'kayenta-like', condition, kayentaLike(sample, k, scenario.levels))
            record(
              k,
              'flagger-like (T = μ₀ − δ/2, 5 failures)',
              condition,
              flaggerLike(sample, k, scenario.baselineMean - scenario.delta / 2, 5),
            )
            ;(windows[k] as Record<Condition, Float64Array[]>)[condition].push(windowMeans(sample, k))
          }
        }
      }
      for (const k of LOOKS) {
        // Flagger with an oracle threshold: 5 % false rollbacks on stationary data (for drift: the continuous
        // scenario's).
        const own = `${scenario.name}/${r}/${k}`
        if (!scenario.drift) calibrated.set(own, calibrate((windows[k] as Record<Condition, Float64Array[]>).null, 3))
        const t = calibrated.get(scenario.drift ? `continuous/${r}/${k}` : own) as number
        for (const c of ['null', 'regression'] as const) {
          for (const w of (windows[k] as Record<Condition, Float64Array[]>)[c]) {
            let failed = 0
            let at: number | null = null
            for (let i = 0; i < w.length && at === null; i++)
              if ((w[i] as number) < t && ++failed >= 3) at = (i + 1) * k
            record(k, 'flagger-like (oracle T, 3 failures)', c, { rollbackAt: at })
          }
        }
        if (!o.scenarios.includes(scenario.name)) continue
        const name = `${scenario.name}/${share}%/every-${k}`
        for (const [detector, outcomes] of Object.entries(acc[k] as Acc)) {
          const fr = outcomes.null.filter((x) => x.rollbackAt !== null).length / outcomes.null.length
          const hits = outcomes.regression.map((x) => x.rollbackAt ?? Number.POSITIVE_INFINITY)
          const power = hits.filter(Number.isFinite).length / hits.length
          const row: Row = {
            scenario: name,
            detector,
            falseRollbackRate: fr,
            power,
            n80: power >= 0.8 ? quantile(hits, 0.8) : null,
          }
          if (detector === 'kaizen') {
            const ready = outcomes.null.map((x) => x.readyAt ?? Number.POSITIVE_INFINITY)
            row.readyRate = ready.filter(Number.isFinite).length / ready.length
            row.n80Ready = row.readyRate >= 0.8 ? quantile(ready, 0.8) : null
            // Defined at Δ = −margin: a smaller regression (rare errors: −0.02) is rightly "no worse than −margin".
            row.falseReadyRate =
              scenario.delta >= DEFAULT_ANALYSIS.margin
                ? outcomes.regression.filter((x) => x.readyAt !== null && x.readyAt !== undefined).length /
                  outcomes.regression.length
                : null
          }
          rows.push(row)
        }
      }
      log(`  ${scenario.name} ${share}%: ${((Date.now() - t0) / 1000).toFixed(1)} s (n_fix ${nfix})`)
    }
  }

  // A canary that fails every request, judged at every graded request.
  const totalFailure: Array<{ share: number; max: number; median: number }> = []
  for (const { share, r } of SHARES) {
    const at: number[] = []
    for (let rep = 0; rep < o.replicates; rep++) {
      const sample = generate(SCENARIOS[0] as Scenario, 'total-failure', r, 200, new FastRng(o.seed + rep))
      at.push(kaizen(sample, 1).rollbackAt ?? Number.POSITIVE_INFINITY)
    }
    totalFailure.push({ share, max: Math.max(...at), median: quantile(at, 0.5) ?? Number.POSITIVE_INFINITY })
  }

  const seconds = (Date.now() - started) / 1000
  const report = {
    replicates: o.replicates,
    nMax: o.nMax,
    alphaBudget: { quality: DEFAULT_ANALYSIS.alphaQuality, errorRate: DEFAULT_ANALYSIS.alphaError },
    results: rows,
    totalFailure,
    seconds,
  }
  if (o.jsonOut) writeFileSync(o.jsonOut, `${JSON.stringify(report, null, 2)}\n`)
  if (o.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    return
  }
  const pct = (x: number | null | undefined) => (x === undefined ? '' : x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`)
  let current = ''
  for (const row of rows) {
    if (row.scenario !== current) {
      current = row.scenario
      process.stdout.write(
        `\n${current}\n  ${'detector'.padEnd(44)} ${'false rollback'.padStart(14)} ${'power'.padStart(7)} ` +
          `${'N80'.padStart(6)}   readiness (P ready | N80 ready | false ready)\n`,
      )
    }
    const ready =
      row.readyRate === undefined ? '' : `${pct(row.readyRate)} | ${row.n80Ready ?? '—'} | ${pct(row.falseReadyRate)}`
    process.stdout.write(
      `  ${row.detector.padEnd(44)} ${pct(row.falseRollbackRate).padStart(14)} ${pct(row.power).padStart(7)} ` +
        `${String(row.n80 ?? '—').padStart(6)}   ${ready}\n`,
    )
  }
  process.stdout.write(
    `\ntotal failure (every canary request fails), graded requests until Kaizen rolls back: ` +
      `${totalFailure.map((t) => `${t.share}% canary: median ${t.median}, max ${t.max}`).join('; ')}\n`,
  )
  process.stdout.write(`${o.replicates} replicates, ${seconds.toFixed(0)} s\n`)
}

main()
