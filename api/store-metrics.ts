/**
 * @module api/store-metrics
 * Grading, campaign and canary metrics, read from Postgres when Prometheus scrapes `/metrics`.
 * Workers record everything they do in the database, so the numbers cover every worker and survive
 * restarts, and any API replica reports the same values. The queries run at most once per
 * `ttlMs` (10 s by default) whatever the scrape rate; they are aggregates over small tables except
 * grades (one pass over `scores`).
 *
 *   kaizen_campaigns{status}                          gauge: campaigns by status now
 *   kaizen_campaign_decisions_total{decision}         counter: finished campaigns by decision
 *   kaizen_campaign_duration_seconds                  histogram: start to finish of finished campaigns
 *   kaizen_canaries{state}                            gauge: canaries by state now
 *   kaizen_canary_outcomes_total{outcome}             counter: ended canaries (promoted, rolled_back, …)
 *   kaizen_canary_approvals_total{decision}           counter: human decisions (approve, reject)
 *   kaizen_canary_duration_seconds                    histogram: start to end of ended canaries
 *   kaizen_grades_total{result}                       counter: graded production records (pass, fail)
 *   kaizen_grade_score                                histogram: DQ scores of graded production records
 *   kaizen_monitor_alerts_open{task,kind,metric}      gauge: quality-monitor alerts not yet acknowledged
 *   kaizen_monitor_alerts_total{kind,metric}          counter: quality-monitor alerts raised
 *   kaizen_store_metrics_up                           gauge: 1 if the last read worked, 0 if the last good values
 *                                                     are served
 *
 * Counters fall back when retention deletes the rows they count; Prometheus reads that as a reset.
 */
import { sql } from 'drizzle-orm'
import type { Registry } from 'prom-client'
import type { Db } from '../db/client.js'

type Value = { labels?: Record<string, string>; value: number; metricName?: string }
interface Snapshot {
  campaigns: Array<{ status: string; decision: string | null; finished: boolean; n: number }>
  campaignDurations: Histogram
  canaries: Array<{ state: string; ended: boolean; n: number }>
  canaryDurations: Histogram
  approvals: Array<{ decision: string; n: number }>
  grades: Array<{ pass: boolean; n: number }>
  scores: Histogram
  alerts: Array<{ task: string; kind: string; metric: string; open: boolean; n: number }>
}
interface Histogram {
  buckets: number[]
  cumulative: number[]
  count: number
  sum: number
}

const DURATION_BUCKETS = [60, 300, 900, 1_800, 3_600, 7_200, 21_600, 86_400, 604_800]
const SCORE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]

const rows = <T>(r: unknown) => (r as { rows: T[] }).rows

/**
 * One pass over `from`: cumulative counts of `expr` for every bucket, its count and sum, and any
 * `extra` columns (returned as the row).
 */
async function histogram(
  db: Db,
  buckets: number[],
  expr: string,
  from: string,
  extra = '',
): Promise<{ histogram: Histogram; row: Record<string, string | number | null> }> {
  const cols = buckets.map((b, i) => `count(*) filter (where ${expr} <= ${b}) as b${i}`).join(', ')
  const [r = {}] = rows<Record<string, string | number | null>>(
    await db.execute(
      sql.raw(
        `select ${extra ? `${extra}, ` : ''}${cols}, count(${expr}) as n, coalesce(sum(${expr}), 0) as s from ${from}`,
      ),
    ),
  )
  return {
    histogram: {
      buckets,
      cumulative: buckets.map((_, i) => Number(r[`b${i}`] ?? 0)),
      count: Number(r.n ?? 0),
      sum: Number(r.s ?? 0),
    },
    row: r,
  }
}

/** One pass over the grades of production records: pass/fail counts and the score histogram. */
async function gradeStats(db: Db): Promise<Pick<Snapshot, 'grades' | 'scores'>> {
  const { histogram: scores, row } = await histogram(
    db,
    SCORE_BUCKETS,
    'score',
    "scores where subject_type = 'traffic'",
    'count(*) filter (where pass) as pass, count(*) filter (where not pass) as fail',
  )
  return {
    grades: [
      { pass: true, n: Number(row.pass ?? 0) },
      { pass: false, n: Number(row.fail ?? 0) },
    ],
    scores,
  }
}

async function read(db: Db): Promise<Snapshot> {
  const campaigns = rows<{ status: string; decision: string | null; finished: boolean; n: string }>(
    await db.execute(
      sql`select status, decision, finished_at is not null as finished, count(*) as n from campaigns group by 1, 2, 3`,
    ),
  )
  const canaries = rows<{ state: string; ended: boolean; n: string }>(
    await db.execute(sql`select state, ended_at is not null as ended, count(*) as n from canaries group by 1, 2`),
  )
  const approvals = rows<{ decision: string; n: string }>(
    await db.execute(sql`select decision, count(*) as n from approvals group by 1`),
  )
  const alerts = rows<{ task: string; kind: string; metric: string; open: boolean; n: string }>(
    await db.execute(
      sql`select task_id as task, kind, metric, acknowledged_at is null as open, count(*) as n
          from monitor_alerts group by 1, 2, 3, 4`,
    ),
  )
  return {
    alerts: alerts.map((r) => ({ ...r, n: Number(r.n) })),
    campaigns: campaigns.map((r) => ({ ...r, n: Number(r.n) })),
    campaignDurations: (
      await histogram(
        db,
        DURATION_BUCKETS,
        'extract(epoch from finished_at - created_at)',
        'campaigns where finished_at is not null',
      )
    ).histogram,
    canaries: canaries.map((r) => ({ ...r, n: Number(r.n) })),
    canaryDurations: (
      await histogram(
        db,
        DURATION_BUCKETS,
        'extract(epoch from ended_at - created_at)',
        'canaries where ended_at is not null',
      )
    ).histogram,
    approvals: approvals.map((r) => ({ ...r, n: Number(r.n) })),
    ...(await gradeStats(db)),
  }
}

function sumBy<T>(items: T[], key: (t: T) => string, n: (t: T) => number): Array<[string, number]> {
  const m = new Map<string, number>()
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + n(i))
  return [...m]
}

function histogramValues(name: string, h: Histogram): Value[] {
  return [
    ...h.buckets.map((b, i) => ({
      labels: { le: String(b) },
      value: h.cumulative[i] ?? 0,
      metricName: `${name}_bucket`,
    })),
    { labels: { le: '+Inf' }, value: h.count, metricName: `${name}_bucket` },
    { value: h.sum, metricName: `${name}_sum` },
    { value: h.count, metricName: `${name}_count` },
  ]
}

const EMPTY: Snapshot = {
  campaigns: [],
  campaignDurations: { buckets: DURATION_BUCKETS, cumulative: DURATION_BUCKETS.map(() => 0), count: 0, sum: 0 },
  canaries: [],
  canaryDurations: { buckets: DURATION_BUCKETS, cumulative: DURATION_BUCKETS.map(() => 0), count: 0, sum: 0 },
  approvals: [],
  grades: [],
  scores: { buckets: SCORE_BUCKETS, cumulative: SCORE_BUCKETS.map(() => 0), count: 0, sum: 0 },
  alerts: [],
}

export class StoreMetrics {
  private cached: { at: number; snapshot: Promise<Snapshot> } | null = null
  /**
   * The last snapshot read successfully (served while the database cannot be read) and whether the last read worked.
   */
  private lastGood: Snapshot = EMPTY
  private up = 0

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 10_000,
  ) {}

  /**
   * The store's numbers, read at most once per ttl; a failed read serves the last good ones (and
   * kaizen_store_metrics_up 0), so /metrics keeps working during a database outage.
   */
  private snapshot(): Promise<Snapshot> {
    const now = Date.now()
    if (!this.cached || now - this.cached.at > this.ttlMs) {
      const snapshot = read(this.db).then(
        (s) => {
          this.lastGood = s
          this.up = 1
          return s
        },
        () => {
          this.up = 0
          // Not cached: the next scrape tries again.
          if (this.cached?.snapshot === snapshot) this.cached = null
          return this.lastGood
        },
      )
      this.cached = { at: now, snapshot }
    }
    return this.cached.snapshot
  }

  /** Register the store's metrics with a prom-client registry (read at scrape time). */
  register(registry: Registry): void {
    const metric = (
      name: string,
      help: string,
      type: 'gauge' | 'counter' | 'histogram',
      values: (s: Snapshot) => Value[],
    ) => {
      const m = {
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => ({ name, help, type, aggregator: 'sum', values: values(await this.snapshot()) }),
        reset: () => undefined,
      }
      // prom-client reads any object with name, type and get() at scrape time (a custom collector).
      registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0])
    }
    const labelled =
      (label: string) =>
      (pairs: Array<[string, number]>): Value[] =>
        pairs.map(([k, v]) => ({ labels: { [label]: k }, value: v }))
    metric(
      'kaizen_store_metrics_up',
      'Whether the last read of grading, campaign and canary metrics from the database worked (1) or the ' +
        'last good values are served (0)',
      'gauge',
      () => [{ value: this.up }],
    )
    metric(
      'kaizen_monitor_alerts_open',
      'Quality-monitor alerts not yet acknowledged, by task, kind and metric',
      'gauge',
      (s) =>
        s.alerts
          .filter((a) => a.open)
          .map((a) => ({ labels: { task: a.task, kind: a.kind, metric: a.metric }, value: a.n })),
    )
    metric('kaizen_monitor_alerts_total', 'Quality-monitor alerts raised, by kind and metric', 'counter', (s) =>
      sumBy(
        s.alerts,
        (a) => `${a.kind}\u0000${a.metric}`,
        (a) => a.n,
      ).map(([k, value]) => {
        const [kind = '', metric = ''] = k.split('\u0000')
        return { labels: { kind, metric }, value }
      }),
    )
    metric('kaizen_campaigns', 'Campaigns by status now', 'gauge', (s) =>
      labelled('status')(
        sumBy(
          s.campaigns,
          (c) => c.status,
          (c) => c.n,
        ),
      ),
    )
    metric('kaizen_campaign_decisions_total', 'Finished campaigns by decision', 'counter', (s) =>
      labelled('decision')(
        sumBy(
          s.campaigns.filter((c) => c.finished),
          (c) => c.decision ?? 'none',
          (c) => c.n,
        ),
      ),
    )
    metric('kaizen_campaign_duration_seconds', 'Start to finish of finished campaigns', 'histogram', (s) =>
      histogramValues('kaizen_campaign_duration_seconds', s.campaignDurations),
    )
    metric('kaizen_canaries', 'Canaries by state now', 'gauge', (s) =>
      labelled('state')(
        sumBy(
          s.canaries,
          (c) => c.state,
          (c) => c.n,
        ),
      ),
    )
    metric('kaizen_canary_outcomes_total', 'Ended canaries by final state', 'counter', (s) =>
      labelled('outcome')(
        sumBy(
          s.canaries.filter((c) => c.ended),
          (c) => c.state,
          (c) => c.n,
        ),
      ),
    )
    metric('kaizen_canary_approvals_total', 'Human canary decisions', 'counter', (s) =>
      labelled('decision')(
        sumBy(
          s.approvals,
          (a) => a.decision,
          (a) => a.n,
        ),
      ),
    )
    metric('kaizen_canary_duration_seconds', 'Start to end of ended canaries', 'histogram', (s) =>
      histogramValues('kaizen_canary_duration_seconds', s.canaryDurations),
    )
    metric('kaizen_grades_total', 'Graded production records by result', 'counter', (s) =>
      labelled('result')(
        sumBy(
          s.grades,
          (g) => (g.pass ? 'pass' : 'fail'),
          (g) => g.n,
        ),
      ),
    )
    metric('kaizen_grade_score', 'DQ scores of graded production records', 'histogram', (s) =>
      histogramValues('kaizen_grade_score', s.scores),
    )
  }
}
