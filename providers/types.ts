/**
 * @module providers/types
 * One interface over every model provider: OpenAI (and OpenAI-compatible servers such as Ollama or
 * vLLM), Anthropic, and the built-in simulation provider.
 */
import type { ChatMessage, PromptParams } from '../core/prompt.js'

/**
 * Ask for a JSON answer matching a JSON Schema (OpenAI: `json_schema` response format; Anthropic: a forced tool call).
 */
export interface ResponseFormat {
  /** A short identifier ([a-zA-Z0-9_-]), used as the schema or tool name. */
  name: string
  description?: string
  schema: Record<string, unknown>
}

export interface CompletionRequest {
  model: string
  messages: ChatMessage[]
  params: PromptParams
  /** Replicate index: a deliberate new sample of the same request. Part of every cache key. */
  replicate?: number
  responseFormat?: ResponseFormat
  /**
   * Opaque reference the simulation provider uses to find the example's hidden ground truth.
   * Real providers ignore it. `drift`: the scenario's model drifts in effect (absent: none).
   */
  simulation?: { scenario: string; exampleKey: string; drift?: string[] }
  signal?: AbortSignal
  /** Per-call timeout in milliseconds (real providers). */
  timeoutMs?: number
}

export interface CompletionResult {
  provider: string
  model: string
  /** The answer; with a responseFormat, the JSON text of the structured answer. */
  text: string
  usage: { inputTokens: number; outputTokens: number }
  latencyMs: number
  /** Null when the model has no known price (see providers/prices.ts). */
  costUsd: number | null
  /** True for everything the simulation provider produces. Shown to users wherever results are. */
  simulated: boolean
  /** Only from the simulation provider: the hidden outcome and the textual feedback on failure. */
  simulation?: { success: boolean; probability: number; failureMode: string | null; feedback: string | null }
}

export interface ChatProvider {
  readonly id: string
  readonly simulated: boolean
  supports(model: string): boolean
  /** One attempt: no retries inside (retries live in providers/retry.ts, applied by the model client). */
  complete(request: CompletionRequest): Promise<CompletionResult>
}
