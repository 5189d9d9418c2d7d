/**
 * @module providers/types
 * One interface over every model provider: the simulation provider today; OpenAI, Anthropic and
 * OpenAI-compatible endpoints plug in behind the same shape.
 */
import type { ChatMessage, PromptParams } from '../core/prompt.js'

export interface CompletionRequest {
  model: string
  messages: ChatMessage[]
  params: PromptParams
  /** Replicate index: a deliberate new sample of the same request. Part of every cache key. */
  replicate?: number
  /**
   * Opaque reference the simulation provider uses to find the example's hidden ground truth.
   * Real providers ignore it.
   */
  simulation?: { scenario: string; exampleKey: string }
  signal?: AbortSignal
}

export interface CompletionResult {
  provider: string
  model: string
  text: string
  usage: { inputTokens: number; outputTokens: number }
  latencyMs: number
  costUsd: number
  /** True for everything the simulation provider produces. Shown to users wherever results are. */
  simulated: boolean
  /** Only from the simulation provider: the hidden outcome and the textual feedback on failure. */
  simulation?: { success: boolean; probability: number; failureMode: string | null; feedback: string | null }
}

export interface ChatProvider {
  readonly id: string
  readonly simulated: boolean
  supports(model: string): boolean
  complete(request: CompletionRequest): Promise<CompletionResult>
}
