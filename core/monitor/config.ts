/**
 * @module core/monitor/config
 * A task's quality-monitor settings, validated by zod. Defaults are what production should use
 * (hourly checks, one false alarm a month at most, the enterprise guide's floors: DQ below 0.7,
 * p95 latency above 5 s); tests and the demo shorten the time-based ones.
 *
 * Settings from people are parsed strictly (unknown keys refused with the key probably meant);
 * workflows re-parse their input leniently, as for campaign configs.
 *
 * Pure module: safe to import from workflow code.
 */
import { z } from 'zod'
import { fromZodError } from '../errors.js'
import { explainUnknownKeys, strictDeep } from '../strict.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

export const MonitorFloors = z.object({
  /** Alert when the window's mean DQ is below this (null: no floor). */
  dq: z.number().min(0).max(1).nullable().default(0.7),
  /** Alert when the window's p95 latency is above this many ms (null: no floor). */
  p95LatencyMs: z.number().positive().nullable().default(5_000),
  /** Alert when the window's error rate is above this (null: no floor). */
  errorRate: z.number().min(0).max(1).nullable().default(null),
  /** The window the floors are checked over. */
  windowMs: z.number().int().positive().default(HOUR),
  /** A floor is not judged on fewer graded requests than this (reported as missing data instead). */
  minObservations: z.number().int().positive().default(20),
})

export const MonitorConfig = z.object({
  /** Share of the production version's live requests that are graded. */
  sampleRate: z.number().gt(0).max(1).default(0.05),
  /** Judge spend per UTC day, in USD; grading stops for the day when it is spent, and says so. */
  dailyJudgeBudgetUsd: z.number().min(0).default(5),
  /** How often the monitor checks (each check grades and tests what arrived since the last). */
  checkEveryMs: z.number().int().positive().default(HOUR),
  /** Traffic the reference is learned from, after the start or a promotion. */
  referenceMs: z
    .number()
    .int()
    .positive()
    .default(7 * DAY),
  /** No change is tested before the reference has this many graded requests. */
  minReferenceObservations: z.number().int().positive().default(500),
  /** The false-alarm budget of the change detectors (core/monitor/detector.ts). */
  falseAlarmsPer30Days: z.number().gt(0).max(30).default(1),
  /** Changes smaller than this are not alarms. */
  tolerance: z.number().min(0).max(0.5).default(0),
  /** Check weekdays and weekends against their own reference means (core/monitor/reference.ts). */
  weeklyProfile: z.boolean().default(true),
  /** Hours east of UTC at which the task's days begin, for the weekly profile. */
  utcOffsetHours: z.number().min(-12).max(14).default(0),
  floors: MonitorFloors.default(MonitorFloors.parse({})),
  inputDrift: z
    .object({
      /** Alert on input drift alone (it is always measured and reported beside quality). */
      alert: z.boolean().default(false),
      /** Alert when the share of inputs unlike any in the reference exceeds the reference's own by this. */
      novelShareIncrease: z.number().gt(0).max(1).default(0.2),
    })
    .default({ alert: false, novelShareIncrease: 0.2 }),
  alerts: z
    .object({
      /**
       * The same alert (task, metric, kind) is not raised again within this time. Alerts go to the
       * worker's webhook and Slack targets (KAIZEN_WEBHOOK_URL, KAIZEN_SLACK_WEBHOOK_URL): webhook
       * URLs are secrets and are never part of settings that travel through workflow history.
       */
      cooldownMs: z
        .number()
        .int()
        .nonnegative()
        .default(6 * HOUR),
    })
    .default({ cooldownMs: 6 * HOUR }),
  action: z
    .object({
      /** On a confirmed degradation, start an improvement campaign. */
      startCampaign: z.boolean().default(true),
      /** No campaign is started by the monitor within this time of the last one it started. */
      cooldownMs: z
        .number()
        .int()
        .nonnegative()
        .default(7 * DAY),
      /** At most this many campaigns started by the monitor in 30 days. */
      maxCampaignsPer30Days: z.number().int().min(0).default(2),
      /** Settings of the campaigns it starts (as for `kaizen campaign start --config`). */
      campaign: z.record(z.string(), z.unknown()).default({}),
    })
    .default({ startCampaign: true, cooldownMs: 7 * DAY, maxCampaignsPer30Days: 2, campaign: {} }),
})
export type MonitorConfig = z.infer<typeof MonitorConfig>
export type MonitorConfigInput = z.input<typeof MonitorConfig>

export const StrictMonitorConfig = strictDeep(MonitorConfig)

/** Monitor settings from a person (file, flags, API body): strict, every problem named by its path. */
export function parseMonitorConfig(value: unknown, where = 'monitor config'): MonitorConfig {
  const parsed = StrictMonitorConfig.safeParse(value ?? {})
  if (!parsed.success) {
    throw fromZodError(
      new z.ZodError(explainUnknownKeys(MonitorConfig, parsed.error.issues)),
      where,
      'See docs/monitor.md for every setting and its default.',
    )
  }
  return parsed.data
}
