/**
 * @module sdk/types
 * What the application client sends and gets back, as plain types: the shapes of the HTTP API's
 * bodies (docs/api.md; the server validates them with the zod schemas in api/routes/, which the
 * client does not load). A prompt version's content is core/prompt.ts's `PromptContent`, the same
 * type the server renders.
 */
import type { ChatMessage, PromptContent } from '../core/prompt.js'

export type { ChatMessage, PromptContent }

/** Which side of a canary served a request; null when no canary runs. */
export type Arm = 'baseline' | 'canary'

/** A prompt version as the resolve call returns it. */
export interface PromptVersion {
  /** `pv_…`: send it back as the record's `versionId`. */
  id: string
  /** The version's number within its task (1, 2, …). */
  number: number
  content: PromptContent
}

/**
 * Where a resolved prompt came from: `network` (a fresh 200), `revalidated` (the server answered
 * 304: the cached version still holds), `cache` (still fresh: no request made), `stale` (the server
 * could not answer; the last version known for this key was served).
 */
export type ResolveSource = 'network' | 'revalidated' | 'cache' | 'stale'

/** The version to use for one request (`GET /v1/tasks/{task}/prompt?key=`), and what to echo when recording it. */
export interface ResolvedPrompt {
  task: string
  /** The routing key it was resolved for (sticky: the same key keeps its canary arm). */
  key: string
  version: PromptVersion
  arm: Arm | null
  canaryId: string | null
  routingWeight: number | null
  source: ResolveSource
  /** True when served from the cache because the server could not be reached (see `error`). */
  stale: boolean
  /** Why a stale version was served. */
  error?: Error
}

/** The fields of one LLM call that do not depend on how the prompt was resolved. */
export interface CallFields {
  /** The input variables the prompt was rendered with (strings, as the API stores them). */
  input: Record<string, string>
  /** The model's answer; null (the default) for a failed call. */
  output?: string | null
  /** What went wrong, for a failed call. */
  error?: string | null
  latencyMs?: number
  inputTokens?: number
  outputTokens?: number
  costUsd?: number
  /** The provider (default `external`). */
  provider?: string
  /**
   * The answer came from a simulated model, not a real one (e.g. `kaizen sim serve`, whose answers
   * carry the `system_fingerprint` `kaizen-simulation`). Default false.
   */
  simulated?: boolean
  /** When the call started (default: when `record` is called, less `latencyMs`). */
  startedAt?: Date | string
  /** Your idempotency key for this call, unique per task (default: a random UUID); sent twice, stored once. */
  id?: string
}

/** The routing fields, given one by one (as `POST /v1/traffic` names them, with `versionId`). */
export interface RoutingFields {
  task: string
  versionId: string
  /** The routing key the version was resolved for. */
  key: string
  model: string
  arm?: Arm | null
  canaryId?: string | null
  routingWeight?: number | null
}

/**
 * One call to record: the call's fields, and either the resolved prompt it used (`prompt`: task,
 * version, key, arm, canary and model are taken from it) or those fields one by one.
 */
export type RecordInput = CallFields & ({ prompt: ResolvedPrompt; model?: string } | RoutingFields)

/** One record of `POST /v1/traffic`, as sent. */
export interface TrafficRecord {
  id: string
  task: string
  promptVersion: string
  routingKey: string
  input: Record<string, string>
  output: string | null
  model: string
  provider?: string
  inputTokens?: number
  outputTokens?: number
  latencyMs?: number
  costUsd?: number
  simulated?: boolean
  error: string | null
  canaryId: string | null
  arm: Arm | null
  routingWeight: number | null
  startedAt: string
}

/** What sending queued records came to: stored, already stored (a retried batch), and given up. */
export interface FlushResult {
  stored: number
  duplicates: number
  failed: number
}

/** A gateway call (`POST /v1/tasks/{task}/complete`). */
export interface CompleteInput {
  task: string
  /** Sticky routing key (user, session or tenant id). */
  key: string
  /** The template's input variables. */
  input?: Record<string, string>
  /** Idempotency key (default: a random UUID, so the client's own retries never call the model twice). */
  id?: string
  /** Simulated models (`sim-*`) only: the scenario case to answer, instead of `input`. */
  simulation?: { exampleKey: string }
  signal?: AbortSignal
}

/** The gateway's answer. */
export interface CompleteResult {
  /** The traffic record of the call (name it in feedback). */
  trafficId: string
  output: string | null
  /** Only on a replay of a recorded failed call. */
  error: string | null
  version: { id: string; number: number }
  arm: Arm | null
  canaryId: string | null
  model: string
  provider: string
  /** True when the simulation provider answered (not a real model). */
  simulated: boolean
  usage: { inputTokens: number; outputTokens: number }
  latencyMs: number
  costUsd: number
  /** Answered from the record of an earlier request with the same id (no new model call). */
  replayed: boolean
  /** False when the model answered but the database stayed unavailable: the call is not in the traffic. */
  recorded: boolean
}

/**
 * Feedback on a recorded call (`POST /v1/feedback`): name it by `trafficId`, or by `task` and the
 * `id` it was recorded with; send an outcome (what actually resolved the case; it becomes the
 * record's reference), a rating by a person, or both. An outcome is any JSON object; for a task
 * whose grader reads decisions the server requires a decision (`diagnosis`, `keywords`, `actions`,
 * `risk`?).
 */
export interface FeedbackInput {
  trafficId?: string
  task?: string
  id?: string
  outcome?: Record<string, unknown>
  rating?: { score: number; by: string; comment?: string }
  /** Idempotency key of this feedback: sent twice, stored once. */
  feedbackId?: string
}

export interface FeedbackResult {
  trafficId: string
  recorded: Array<'outcome' | 'rating'>
}
