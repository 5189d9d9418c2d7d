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
