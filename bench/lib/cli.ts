/**
 * What the benchmark scripts share: refusing a bad flag (exit 2, the flag named) and the summary
 * statistics they report.
 */

/** `fail(message)` for a benchmark: prints `<bench>: message` and exits 2. */
export function failer(bench: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${bench}: ${message}\n`)
    process.exit(2)
  }
}

/** A flag that must be a whole number ≥ min, or the benchmark stops naming it. */
export function wholeNumberFlag(fail: (message: string) => never) {
  return (name: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) fail(`--${name}: use a whole number ≥ ${min} (got "${v}")`)
    return n
  }
}

export const median = (xs: readonly number[]): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

export const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length

/** log C(n, k) */
const logChoose = (n: number, k: number): number => {
  let s = 0
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i)
  return s
}

/**
 * A distribution-free interval for the median of the population `xs` was drawn from: the order
 * statistics x(j) and x(n+1−j) with j the largest rank such that P(Binomial(n, ½) < j) ≤ (1 − level)/2.
 * Null when there are too few values for the level (fewer than 6 at 95 %).
 */
export function medianInterval(xs: readonly number[], level = 0.95): [number, number] | null {
  const n = xs.length
  const s = [...xs].sort((a, b) => a - b)
  const tail = (1 - level) / 2
  let cdf = 0
  let j = 0
  for (let k = 0; k < n; k++) {
    cdf += Math.exp(logChoose(n, k) - n * Math.LN2)
    if (cdf > tail) break
    j = k + 1
  }
  if (j < 1) return null
  return [s[j - 1] as number, s[n - j] as number]
}

/** Wilson's score interval for a rate of `k` in `n` (null when n is 0). */
export function wilsonInterval(k: number, n: number, z = 1.96): [number, number] | null {
  if (n === 0) return null
  const p = k / n
  const d = 1 + (z * z) / n
  const centre = (p + (z * z) / (2 * n)) / d
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}
