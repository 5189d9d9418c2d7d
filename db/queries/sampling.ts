/**
 * @module db/queries/sampling
 * Seeded samples of a task's traffic, computed in SQL and fast on large tables.
 *
 * Every record has `sample_key`, a uniform number in [0, 1) from its id's hash, indexed with the
 * task. A seed turns into an offset s, and a record's draw is u = (sample_key + s) mod 1, so
 * "the records with the smallest u" is an index range scan (one or two ranges of sample_key)
 * instead of hashing and sorting the whole table. The range starts small (a few times the sample
 * size over the task's rows) and widens until it provably holds the sample.
 *
 * On top of the seeded order:
 * - **time window** and usability filters (a known outcome, no error, not erased by retention, not a
 *   canary answer, not a golden case);
 * - **near-duplicates** removed: of records whose inputs differ only in case, digits and spacing,
 *   only the first in seeded order is kept;
 * - **recency weighting** (optional half-life): weighted sampling without replacement
 *   (Efraimidis–Spirakis: the smallest keys −ln(1−u) / w, w = 0.5^(age / half-life));
 * - **stratification** (optional, by an input variable): segments fill the sample in proportion
 *   to their share of the usable records (the i-th record of a segment with share f ranks at
 *   (i − ½) / f), in seeded order within the segment.
 *
 * The same seed on the same data gives the same sample.
 */
import { sql } from 'drizzle-orm'
import { unitHash } from '../../lib/hash.js'
import type { Db } from '../client.js'

export interface SampleSpec {
  taskId: string
  seed: string
  size: number
  since: Date
  until: Date
  /** Input variable whose values are the strata (proportional allocation); null: no strata. */
  stratifyBy?: string | null
  /** Recency weighting: a record this many hours old counts half as much; null: uniform. */
  halfLifeHours?: number | null
  /** Drop near-duplicate inputs (default true). */
  dedupe?: boolean
}

interface Row {
  id: string
  u: number
  key: number
}

/**
 * The sample's traffic ids, in seeded order. Fewer than `size` only when the window holds fewer
 * usable records.
 */
export async function sampleTraffic(db: Db, spec: SampleSpec): Promise<string[]> {
  const offset = unitHash('kaizen-sample', spec.seed)
  const total = Number(
    (
      (await db.execute(sql`select count(*)::bigint as n from traffic where task_id = ${spec.taskId}`)) as unknown as {
        rows: Array<{ n: string | number }>
      }
    ).rows[0]?.n ?? 0,
  )
  if (total === 0) return []
  let p = Math.min(1, (spec.size * 4 + 200) / total)
  for (;;) {
    const rows = await sampleWithin(db, spec, offset, p)
    // The range holds the sample if it is full and no record outside it could have a smaller key
    // (outside, u ≥ p, so every key is at least −ln(1−p) / weight ≥ −ln(1−p), weights being ≤ 1).
    // With strata the shares are estimated on the range, so the sample is close to, not exactly, the full-table one.
    const bound = p >= 1 ? Infinity : -Math.log(1 - p)
    const maxKey = rows.reduce((m, r) => Math.max(m, r.key), 0)
    if (p >= 1 || (rows.length >= spec.size && maxKey <= bound)) return rows.map((r) => r.id)
    p = Math.min(1, p * 4)
  }
}

async function sampleWithin(db: Db, spec: SampleSpec, offset: number, p: number): Promise<Row[]> {
  // Records with u < p: sample_key in [1 − s, 1 − s + p), wrapping around 1.
  const lo = 1 - offset
  const hi = lo + p
  const range =
    p >= 1
      ? sql`true`
      : hi <= 1
        ? sql`(t.sample_key >= ${lo} and t.sample_key < ${hi})`
        : sql`(t.sample_key >= ${lo} or t.sample_key < ${hi - 1})`
  const u = sql`(t.sample_key + ${offset} - floor(t.sample_key + ${offset}))`
  const weight = spec.halfLifeHours
    ? sql`power(0.5, greatest(0, extract(epoch from (${spec.until.toISOString()}::timestamptz - t.created_at)) / 3600.0)
        / ${spec.halfLifeHours})`
    : sql`1.0`
  const segment = spec.stratifyBy ? sql`coalesce(t.input ->> ${spec.stratifyBy}, '')` : sql`''`
  // Computed on the candidates only (a few times the sample), not stored for every record.
  const fingerprint =
    spec.dedupe === false ? sql`t.id` : sql`md5(regexp_replace(lower(t.input::text), '[0-9]+|[[:space:]]+', '', 'g'))`
  const result = (await db.execute(sql`
    with cand as (
      select t.id, ${fingerprint} as fp, ${segment} as seg, ${u} as u,
             -ln(1 - ${u}) / greatest(${weight}, 1e-12) as key
      from traffic t
      where t.task_id = ${spec.taskId} and ${range}
        and t.created_at >= ${spec.since.toISOString()}::timestamptz
        and t.created_at <= ${spec.until.toISOString()}::timestamptz
        and t.error is null and t.reference is not null and t.expired_at is null
        and (t.arm is null or t.arm <> 'canary')
        and not exists (select 1 from golden_cases g where g.task_id = t.task_id and g.traffic_id = t.id)
    ),
    dedup as (
      select distinct on (fp) id, seg, u, key from cand order by fp, key, id
    ),
    counts as (select seg, count(*) as n, sum(count(*)) over () as total from dedup group by seg),
    ranked as (select d.*, row_number() over (partition by d.seg order by d.key, d.id) as r from dedup d)
    select r.id, r.u, r.key from ranked r join counts c on c.seg = r.seg
    order by (r.r - 0.5) * c.total / c.n, r.key, r.id
    limit ${spec.size}
  `)) as unknown as { rows: Array<{ id: string; u: number | string; key: number | string }> }
  return result.rows.map((r) => ({ id: r.id, u: Number(r.u), key: Number(r.key) }))
}
