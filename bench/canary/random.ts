/**
 * Fast seeded random numbers for the canary benchmark (millions of draws per configuration).
 * xorshift128+ with a splitmix seed; gamma by Marsaglia–Tsang; beta from two gammas.
 */
export class FastRng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    let x = seed >>> 0 || 0x9e3779b9
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
  }

  /** xoshiro128** step, uniform in [0, 1). */
  float(): number {
    const result = Math.imul(this.rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = this.rotl(this.s3, 11)
    return result / 4294967296
  }

  private rotl(x: number, k: number): number {
    return (x << k) | (x >>> (32 - k))
  }

  normal(): number {
    const u = Math.max(this.float(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float())
  }

  gamma(k: number): number {
    if (k < 1) return this.gamma(k + 1) * Math.pow(Math.max(this.float(), 1e-300), 1 / k)
    const d = k - 1 / 3
    const c = 1 / Math.sqrt(9 * d)
    for (;;) {
      let x: number
      let v: number
      do {
        x = this.normal()
        v = 1 + c * x
      } while (v <= 0)
      v = v * v * v
      const u = this.float()
      if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
    }
  }

  /** Beta with the given mean and standard deviation. */
  beta(mean: number, sd: number): number {
    const k = (mean * (1 - mean)) / (sd * sd) - 1
    const a = this.gamma(mean * k)
    return a / (a + this.gamma((1 - mean) * k))
  }

  /** An index drawn with the given probabilities. */
  categorical(cumulative: readonly number[]): number {
    const u = this.float()
    for (let i = 0; i < cumulative.length; i++) if (u < (cumulative[i] as number)) return i
    return cumulative.length - 1
  }
}
