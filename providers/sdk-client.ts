/**
 * @module providers/sdk-client
 * A provider SDK's client, made on the first call: the OpenAI and Anthropic SDKs are loaded only
 * by a process that calls a model (a CLI command that makes no model call starts without them).
 * Kaizen retries and times calls itself (providers/client.ts), so the SDK's own retries are off.
 */
export interface SdkConnection {
  apiKey: string
  baseURL?: string | undefined
  timeoutMs?: number | undefined
}

type SdkModule<T> = {
  default: new (options: { apiKey: string; baseURL: string | null; maxRetries: number; timeout: number }) => T
}

export function lazySdkClient<T>(load: () => Promise<SdkModule<T>>, connection: SdkConnection): () => Promise<T> {
  let client: Promise<T> | null = null
  return () =>
    (client ??= load().then(
      ({ default: SDK }) =>
        new SDK({
          apiKey: connection.apiKey,
          baseURL: connection.baseURL ?? null,
          maxRetries: 0,
          timeout: connection.timeoutMs ?? 60_000,
        }),
    ))
}
