/**
 * @module core/search/logistic
 * The logistic model of designed experiments (./designed.ts; bench/agility/designed.ts): success
 * of a prompt on a validation item ≈ logistic(an intercept per item + the effects of the sentences
 * the prompt holds), fitted by ridge-penalised Newton steps.
 *
 * Pure module: no I/O.
 */

/** One scored design: the validation item (index), the prompt's feature indices, its score in [0, 1]. */
export interface Row {
  item: number
  features: readonly number[]
  y: number
}

/**
 * Ridge-penalised logistic regression by Newton's method: an intercept per item (penalty 0.1)
 * and an effect per feature (penalty `lambda`). Returns [intercepts…, effects…].
 */
export function fitLogistic(rows: readonly Row[], nItems: number, nFeatures: number, lambda: number): Float64Array {
  const P = nItems + nFeatures
  const theta = new Float64Array(P)
  for (let iteration = 0; iteration < 12; iteration++) {
    const grad = new Float64Array(P)
    const hess: Float64Array[] = Array.from({ length: P }, () => new Float64Array(P + 1))
    for (const r of rows) {
      const idx = [r.item, ...r.features.map((f) => nItems + f)]
      const z = idx.reduce((s, a) => s + (theta[a] as number), 0)
      const p = 1 / (1 + Math.exp(-z))
      for (const a of idx) {
        grad[a] = (grad[a] as number) + r.y - p
        const row = hess[a] as Float64Array
        for (const b of idx) row[b] = (row[b] as number) + p * (1 - p)
      }
    }
    for (let a = 0; a < P; a++) {
      const penalty = a < nItems ? 0.1 : lambda
      const row = hess[a] as Float64Array
      row[a] = (row[a] as number) + penalty
      row[P] = (grad[a] as number) - penalty * (theta[a] as number)
    }
    // Gaussian elimination with partial pivoting on [H | g].
    for (let c = 0; c < P; c++) {
      let pivot = c
      for (let r = c + 1; r < P; r++)
        if (Math.abs((hess[r] as Float64Array)[c] as number) > Math.abs((hess[pivot] as Float64Array)[c] as number))
          pivot = r
      ;[hess[c], hess[pivot]] = [hess[pivot] as Float64Array, hess[c] as Float64Array]
      const top = hess[c] as Float64Array
      for (let r = c + 1; r < P; r++) {
        const row = hess[r] as Float64Array
        const f = (row[c] as number) / (top[c] as number)
        if (f !== 0) for (let k = c; k <= P; k++) row[k] = (row[k] as number) - f * (top[k] as number)
      }
    }
    const step = new Float64Array(P)
    for (let r = P - 1; r >= 0; r--) {
      const row = hess[r] as Float64Array
      let s = row[P] as number
      for (let k = r + 1; k < P; k++) s -= (row[k] as number) * (step[k] as number)
      step[r] = s / (row[r] as number)
    }
    for (let a = 0; a < P; a++) theta[a] = (theta[a] as number) + (step[a] as number)
  }
  return theta
}

/** The fitted model's mean success over every item for a prompt holding these features. */
export function predictedMean(theta: Float64Array, nItems: number, features: readonly number[]): number {
  const z = features.reduce((x, f) => x + (theta[nItems + f] as number), 0)
  let sum = 0
  for (let i = 0; i < nItems; i++) sum += 1 / (1 + Math.exp(-((theta[i] as number) + z)))
  return sum / nItems
}
