/**
 * @module db/schema
 * Kaizen's Postgres schema (drizzle). Migrations are generated from this file with
 * `npm run db:generate` and applied at start-up by `db/migrate.ts`.
 *
 * Invariants enforced by the database itself (see the hand-written part of the first migration):
 * prompt versions, grader versions, label history, approvals and audit events are append-only.
 */
import { sql } from 'drizzle-orm'
import {
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import type { Demonstration, PromptParams } from '../core/prompt.js'
import type { CaseReference } from '../core/decision.js'

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()

/** A named prompt in production. */
export const tasks = pgTable('tasks', {
  id: text('id').primaryKey(),
  title: text('title').notNull(),
  description: text('description').notNull(),
  /** Scenario id when the task's traffic is simulated; null for real tasks. */
  scenarioId: text('scenario_id'),
  inputFields: jsonb('input_fields').$type<string[]>().notNull(),
  /** Days production traffic of the task is kept (null: forever). See db/queries/retention.ts. */
  retentionDays: integer('retention_days'),
  /**
   * Campaign settings this task's campaigns start from (`search`, `canary` of its task file); a
   * campaign's own config overrides them key by key. Null: none.
   */
  campaignDefaults: jsonb('campaign_defaults').$type<{
    search?: Record<string, unknown>
    canary?: Record<string, unknown>
  }>(),
  createdAt: createdAt(),
})

/** Immutable prompt versions. Identity = content hash (task + instructions + template + model + params). */
export const promptVersions = pgTable(
  'prompt_versions',
  {
    id: text('id').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    /** 1, 2, 3… per task, for people. */
    version: integer('version').notNull(),
    contentHash: text('content_hash').notNull(),
    system: text('system').notNull(),
    userTemplate: text('user_template').notNull(),
    model: text('model').notNull(),
    params: jsonb('params').$type<PromptParams>().notNull(),
    /** Few-shot demonstrations (null: none). */
    examples: jsonb('examples').$type<Demonstration[]>(),
    parentIds: jsonb('parent_ids')
      .$type<string[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    origin: text('origin', { enum: ['human', 'campaign'] }).notNull(),
    campaignId: text('campaign_id'),
    /** Search operator that produced it (e.g. `reflect`, `seed`). */
    operator: text('operator'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('prompt_versions_task_hash').on(t.taskId, t.contentHash),
    uniqueIndex('prompt_versions_task_version').on(t.taskId, t.version),
  ],
)

/** Current label state: which version `production` and `canary` point at (canary with a weight). */
export const labels = pgTable(
  'labels',
  {
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    label: text('label', { enum: ['production', 'canary'] }).notNull(),
    promptVersionId: text('prompt_version_id')
      .notNull()
      .references(() => promptVersions.id),
    /** Share of traffic in [0, 1]; 1 for production. */
    weight: real('weight').notNull(),
    canaryId: text('canary_id'),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.label] })],
)

/** Every label move, append-only. */
export const labelHistory = pgTable(
  'label_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** Makes a retried move a no-op. */
    moveKey: text('move_key').notNull().unique(),
    taskId: text('task_id').notNull(),
    label: text('label').notNull(),
    fromVersionId: text('from_version_id'),
    toVersionId: text('to_version_id'),
    weight: real('weight'),
    reason: text('reason').notNull(),
    actor: text('actor').notNull(),
    canaryId: text('canary_id'),
    at: createdAt(),
  },
  (t) => [index('label_history_task').on(t.taskId, t.at)],
)

/** Production LLM calls (real or simulated), one row per request. */
export const traffic = pgTable(
  'traffic',
  {
    id: text('id').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    promptVersionId: text('prompt_version_id')
      .notNull()
      .references(() => promptVersions.id),
    routingKey: text('routing_key').notNull(),
    canaryId: text('canary_id'),
    arm: text('arm', { enum: ['baseline', 'canary'] }),
    /** The canary label's weight when this request was routed (null outside a canary). */
    routingWeight: doublePrecision('routing_weight'),
    input: jsonb('input').$type<Record<string, string>>().notNull(),
    output: text('output'),
    /** What actually resolved the case, when known (feedback / ground truth). */
    reference: jsonb('reference').$type<CaseReference>(),
    /** Simulation reference: lets the simulation provider answer this input again. */
    simExampleKey: text('sim_example_key'),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    simulated: boolean('simulated').notNull(),
    inputTokens: integer('input_tokens').notNull().default(0),
    outputTokens: integer('output_tokens').notNull().default(0),
    latencyMs: integer('latency_ms').notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    error: text('error'),
    createdAt: createdAt(),
    /** When retention erased this record's content (input, output, error, reference); ids, metrics and scores stay. */
    expiredAt: timestamp('expired_at', { withTimezone: true, mode: 'date' }),
    /**
     * A uniform number in [0, 1) from the id's hash: seeded sampling scans an index range of it
     * (db/queries/sampling.ts).
     */
    sampleKey: doublePrecision('sample_key').generatedAlwaysAs(
      sql`(('x' || substr(md5(id), 1, 13))::bit(52)::bigint)::double precision / 4503599627370496.0`,
    ),
  },
  (t) => [
    index('traffic_task_time').on(t.taskId, t.createdAt),
    index('traffic_task_sample').on(t.taskId, t.sampleKey),
    index('traffic_canary').on(t.canaryId, t.createdAt),
    index('traffic_version').on(t.promptVersionId),
  ],
)

/**
 * A task's golden set: curated production cases (with what resolved them) no shipped prompt may
 * break. Membership changes are audit events (golden.added / golden.removed).
 */
export const goldenCases = pgTable(
  'golden_cases',
  {
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    trafficId: text('traffic_id')
      .notNull()
      .references(() => traffic.id),
    addedBy: text('added_by').notNull(),
    note: text('note'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.trafficId] })],
)

/** Immutable grader versions; every score references one. */
export const graderVersions = pgTable('grader_versions', {
  id: text('id').primaryKey(),
  taskId: text('task_id')
    .notNull()
    .references(() => tasks.id),
  name: text('name').notNull(),
  spec: jsonb('spec').$type<Record<string, unknown>>().notNull(),
  codeVersion: text('code_version').notNull(),
  createdAt: createdAt(),
})

/**
 * Model calls made while evaluating prompts, keyed by the content hash of the request
 * (provider, model, parameters, messages, replicate). The evaluation cache: a hit costs nothing.
 */
export const evaluations = pgTable(
  'evaluations',
  {
    cacheKey: text('cache_key').primaryKey(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    simulated: boolean('simulated').notNull(),
    output: text('output'),
    error: text('error'),
    /** Textual feedback on failure (simulation) for reflective search. */
    feedback: text('feedback'),
    inputTokens: integer('input_tokens').notNull().default(0),
    outputTokens: integer('output_tokens').notNull().default(0),
    latencyMs: integer('latency_ms').notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    /** The campaign that paid for this call (first caller). */
    campaignId: text('campaign_id'),
    /** `task`: the prompt under evaluation answered (a rollout); `judge`: an LLM judge graded an answer. */
    purpose: text('purpose', { enum: ['task', 'judge', 'proposer'] })
      .notNull()
      .default('task'),
    /** Attempts the call took (retries included); 0 for rows written before attempts were counted. */
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [index('evaluations_campaign').on(t.campaignId)],
)

/**
 * Calibration verdicts of grader versions (append-only): how the grader agreed with human labels,
 * what the probes found, and whether it may judge a canary.
 */
export const graderTrust = pgTable(
  'grader_trust',
  {
    id: text('id').primaryKey(),
    graderVersionId: text('grader_version_id')
      .notNull()
      .references(() => graderVersions.id),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    trusted: boolean('trusted').notNull(),
    /** Content hash of the labels file the verdict was computed on. */
    labelsHash: text('labels_hash').notNull(),
    labelsCount: integer('labels_count').notNull(),
    report: jsonb('report').$type<Record<string, unknown>>().notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('grader_trust_version').on(t.graderVersionId, t.createdAt)],
)

/** A batch of traffic records to grade in chunks (see workflows/grading.ts). */
export const gradingBatches = pgTable('grading_batches', {
  id: text('id').primaryKey(),
  taskId: text('task_id')
    .notNull()
    .references(() => tasks.id),
  graderVersionId: text('grader_version_id')
    .notNull()
    .references(() => graderVersions.id),
  itemCount: integer('item_count').notNull(),
  chunkSize: integer('chunk_size').notNull(),
  result: jsonb('result').$type<Record<string, unknown>>(),
  createdAt: createdAt(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
})

export const gradingBatchItems = pgTable(
  'grading_batch_items',
  {
    batchId: text('batch_id')
      .notNull()
      .references(() => gradingBatches.id),
    position: integer('position').notNull(),
    trafficId: text('traffic_id')
      .notNull()
      .references(() => traffic.id),
  },
  (t) => [primaryKey({ columns: [t.batchId, t.position] }), index('grading_batch_items_traffic').on(t.trafficId)],
)

/** Grader results: one per (subject, grader version). Subjects are traffic rows or evaluations. */
export const scores = pgTable(
  'scores',
  {
    subjectType: text('subject_type', { enum: ['traffic', 'evaluation', 'label'] }).notNull(),
    subjectId: text('subject_id').notNull(),
    graderVersionId: text('grader_version_id')
      .notNull()
      .references(() => graderVersions.id),
    score: doublePrecision('score'),
    pass: boolean('pass').notNull(),
    reason: text('reason').notNull(),
    dimensions: jsonb('dimensions')
      .$type<Record<string, { pass: boolean; score: number | null; reason: string }>>()
      .notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.subjectType, t.subjectId, t.graderVersionId] })],
)

/** A frozen sample of traffic with train / validation / holdout splits. */
export const datasets = pgTable('datasets', {
  id: text('id').primaryKey(),
  taskId: text('task_id')
    .notNull()
    .references(() => tasks.id),
  campaignId: text('campaign_id'),
  seed: text('seed').notNull(),
  spec: jsonb('spec').$type<Record<string, unknown>>().notNull(),
  counts: jsonb('counts').$type<Record<'train' | 'validation' | 'holdout', number>>().notNull(),
  createdAt: createdAt(),
})

export const datasetItems = pgTable(
  'dataset_items',
  {
    datasetId: text('dataset_id')
      .notNull()
      .references(() => datasets.id),
    trafficId: text('traffic_id')
      .notNull()
      .references(() => traffic.id),
    split: text('split', { enum: ['train', 'validation', 'holdout'] }).notNull(),
    /** Stable order inside the split (by hash), so minibatches are reproducible. */
    position: integer('position').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.datasetId, t.trafficId] }),
    index('dataset_items_split').on(t.datasetId, t.split, t.position),
    index('dataset_items_traffic').on(t.trafficId),
  ],
)

export const campaigns = pgTable(
  'campaigns',
  {
    id: text('id').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    trigger: text('trigger', { enum: ['cli', 'api', 'schedule', 'demo', 'test', 'monitor'] }).notNull(),
    /** What caused it beyond the trigger: the quality monitor's alert id for `monitor`. */
    triggerRef: text('trigger_ref'),
    status: text('status').notNull(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull(),
    baselineVersionId: text('baseline_version_id'),
    winnerVersionId: text('winner_version_id'),
    datasetId: text('dataset_id'),
    graderVersionId: text('grader_version_id'),
    decision: text('decision'),
    reason: text('reason'),
    result: jsonb('result').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('campaigns_task').on(t.taskId, t.createdAt)],
)

/**
 * When each search round of a campaign first started, by the database's clock: a retried round
 * reads the evidence as of this time (the pre-round pooled fit), so it decides as its first
 * attempt did.
 */
export const searchRounds = pgTable(
  'search_rounds',
  {
    campaignId: text('campaign_id').notNull(),
    round: integer('round').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.round] })],
)

/**
 * Prompt contents a campaign hands to evaluation chunks, by content hash: the search evaluates
 * proposals before they become prompt versions, and chunk activities (any worker) read what to
 * evaluate from here, so only the hash travels through workflow history. Content-addressed, so
 * written once and never changed.
 */
export const evalContents = pgTable('eval_contents', {
  key: text('key').primaryKey(),
  content: jsonb('content').$type<Record<string, unknown>>().notNull(),
  createdAt: createdAt(),
})

/** Candidate prompts a campaign evaluated, with lineage and scores per split. */
export const candidates = pgTable(
  'candidates',
  {
    id: text('id').primaryKey(),
    campaignId: text('campaign_id')
      .notNull()
      .references(() => campaigns.id),
    promptVersionId: text('prompt_version_id')
      .notNull()
      .references(() => promptVersions.id),
    parentCandidateIds: jsonb('parent_candidate_ids').$type<string[]>().notNull(),
    operator: text('operator').notNull(),
    round: integer('round').notNull(),
    /** The feedback the proposer used to write this candidate. */
    feedback: jsonb('feedback').$type<string[]>().notNull(),
    status: text('status', { enum: ['seed', 'accepted', 'rejected'] }).notNull(),
    minibatch: jsonb('minibatch').$type<{ parent: number; child: number; n: number } | null>(),
    validationMean: doublePrecision('validation_mean'),
    holdoutMean: doublePrecision('holdout_mean'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('candidates_campaign_version').on(t.campaignId, t.promptVersionId),
    index('candidates_campaign').on(t.campaignId),
  ],
)

export const canaries = pgTable(
  'canaries',
  {
    id: text('id').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    campaignId: text('campaign_id'),
    candidateVersionId: text('candidate_version_id')
      .notNull()
      .references(() => promptVersions.id),
    baselineVersionId: text('baseline_version_id')
      .notNull()
      .references(() => promptVersions.id),
    graderVersionId: text('grader_version_id')
      .notNull()
      .references(() => graderVersions.id),
    state: text('state').notNull(),
    weight: real('weight').notNull(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull(),
    reason: text('reason'),
    startedAt: createdAt(),
    endedAt: timestamp('ended_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('canaries_task').on(t.taskId, t.startedAt)],
)

/** Human decisions on canaries, with the evidence shown at the time. Append-only. */
export const approvals = pgTable('approvals', {
  id: text('id').primaryKey(),
  canaryId: text('canary_id')
    .notNull()
    .references(() => canaries.id),
  decision: text('decision', { enum: ['approve', 'reject'] }).notNull(),
  approver: text('approver').notNull(),
  role: text('role'),
  comment: text('comment'),
  evidence: jsonb('evidence').$type<Record<string, unknown>>().notNull(),
  at: createdAt(),
})

/** The append-only audit log: label moves, approvals, rollbacks, campaign decisions. */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** Makes a retried write a no-op. */
    eventKey: text('event_key').notNull().unique(),
    at: createdAt(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    taskId: text('task_id'),
    subjectType: text('subject_type').notNull(),
    subjectId: text('subject_id').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
  },
  (t) => [index('audit_task').on(t.taskId, t.at), index('audit_subject').on(t.subjectType, t.subjectId)],
)

/**
 * Alerts of the quality monitor (core/monitor/policy.ts): one row per alert raised; a duplicate
 * (the same key while the alert is open) only moves `lastSeenAt`. Acknowledged from the CLI or
 * the API; every raise and acknowledgement is also an audit event.
 */
export const monitorAlerts = pgTable(
  'monitor_alerts',
  {
    id: text('id').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    /** task/metric/kind: alerts with one key are deduplicated. */
    key: text('key').notNull(),
    kind: text('kind', { enum: ['change', 'floor', 'input-drift', 'budget'] }).notNull(),
    metric: text('metric').notNull(),
    summary: text('summary').notNull(),
    evidence: jsonb('evidence').$type<Record<string, unknown>>().notNull(),
    raisedAt: timestamp('raised_at', { withTimezone: true, mode: 'date' }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true, mode: 'date' }).notNull(),
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true, mode: 'date' }),
    acknowledgedBy: text('acknowledged_by'),
    /** The improvement campaign this alert started, if any. */
    campaignId: text('campaign_id'),
  },
  (t) => [index('monitor_alerts_key').on(t.key, t.raisedAt), index('monitor_alerts_task').on(t.taskId, t.raisedAt)],
)

/** Judge spend of the quality monitor, one row per check (a retried check charges once). */
export const monitorJudgeCharges = pgTable(
  'monitor_judge_charges',
  {
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id),
    checkId: text('check_id').notNull(),
    /** The UTC day the budget is counted in (YYYY-MM-DD). */
    day: text('day').notNull(),
    usd: doublePrecision('usd').notNull(),
    graded: integer('graded').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.checkId] }), index('monitor_judge_day').on(t.taskId, t.day)],
)

/**
 * API tokens: only a SHA-256 hash of the secret is stored; the secret is shown once, at creation.
 * Scopes: ingest (send traffic and feedback), read (resolve prompts, read status and metrics),
 * operate (start and steer campaigns), approve (decide canaries; a human identity is required).
 */
export const apiTokens = pgTable('api_tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  secretHash: text('secret_hash').notNull().unique(),
  scopes: jsonb('scopes').$type<string[]>().notNull(),
  /** The person the token belongs to (required for the approve scope: approvals are recorded under it). */
  person: text('person'),
  /** The person's approver role, checked against a canary's `approverRoles`. */
  role: text('role'),
  /** Task id patterns the token may act on (`support-*`); null: every task. */
  tasks: jsonb('tasks').$type<string[]>(),
  createdBy: text('created_by').notNull(),
  createdAt: createdAt(),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
})

/**
 * Feedback on served requests, append-only: an outcome (what actually resolved the case; it also
 * becomes the traffic record's reference) or a human rating. Who sent it and when are kept.
 */
export const feedback = pgTable(
  'feedback',
  {
    id: text('id').primaryKey(),
    trafficId: text('traffic_id')
      .notNull()
      .references(() => traffic.id),
    kind: text('kind', { enum: ['outcome', 'rating'] }).notNull(),
    value: jsonb('value').$type<Record<string, unknown>>().notNull(),
    actor: text('actor').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('feedback_traffic').on(t.trafficId)],
)
