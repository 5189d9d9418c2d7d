/**
 * @module runtime/env
 * Every environment variable Kaizen reads, validated once by zod. A bad value fails fast with
 * the variable's name and what to put there. Only entry points (CLI, worker, scripts) read this;
 * workflows never do. The README's configuration table lists the same variables.
 */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { KaizenError } from '../core/errors.js'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'use true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes')

const port = z.coerce.number().int().min(1).max(65_535)

export const EnvSchema = z.object({
  /** Where embedded state lives: the Temporal dev server's SQLite file and the PGlite database. */
  KAIZEN_DATA_DIR: z.string().min(1).default('.kaizen'),
  /** PostgreSQL connection URL. Unset: embedded PGlite under KAIZEN_DATA_DIR (one process only). */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /** host:port of a Temporal frontend (cluster or Cloud). Unset: an embedded dev server. */
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d+$/, 'must be host:port, e.g. my-ns.a1b2c.tmprl.cloud:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Temporal Cloud API key (implies TLS). */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** Force TLS on or off for TEMPORAL_ADDRESS (default: on with an API key, off otherwise). */
  TEMPORAL_TLS: bool.optional(),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('kaizen'),
  /** A Temporal CLI binary to run the embedded dev server with. */
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  /** Ports of the embedded dev server (gRPC frontend and Web UI). */
  KAIZEN_TEMPORAL_PORT: port.default(7233),
  KAIZEN_TEMPORAL_UI_PORT: port.default(8233),
  /** Redaction settings (YAML or JSON: entities, patterns); unset: the defaults (privacy/redact.ts). */
  KAIZEN_REDACTION_FILE: z.string().min(1).optional(),
  /** Where `kaizen serve` listens (the HTTP API). */
  KAIZEN_API_HOST: z.string().min(1).default('127.0.0.1'),
  KAIZEN_API_PORT: port.default(8787),
  /** Signs console sessions; unset: a random key per process (sessions end when it restarts). */
  KAIZEN_CONSOLE_SECRET: z.string().min(32, 'use at least 32 characters').optional(),
  /** The console's address as people reach it (e.g. https://kaizen.example.com): notifications link to it. */
  KAIZEN_CONSOLE_URL: z.string().url('must be an http(s) URL such as https://kaizen.example.com').optional(),
  /**
   * Behind an SSO proxy (oauth2-proxy, Pomerium): the header naming the signed-in person, trusted
   * only on requests from KAIZEN_CONSOLE_TRUSTED_PROXIES (docs/console.md).
   */
  KAIZEN_CONSOLE_TRUSTED_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'a header name such as X-Forwarded-Email')
    .optional(),
  KAIZEN_CONSOLE_TRUSTED_PROXIES: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.union([z.ipv4(), z.ipv6()], 'comma-separated IP addresses of the proxies')).min(1))
    .optional(),
  /** Who `kaizen up`'s console sign-in link approves as (default: <login name>@localhost). */
  KAIZEN_OPERATOR: z.string().min(1).max(200).optional(),
  /** Folder of scenario files for the simulation provider. */
  KAIZEN_SCENARIOS_DIR: z.string().min(1).default(resolve(REPO_ROOT, 'scenarios')),
  /** Concurrent model calls per activity. */
  KAIZEN_EVAL_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  /** Canary notifications as JSON (approval needed, rollback, promotion, alerts). */
  KAIZEN_WEBHOOK_URL: z.string().url('must be an http(s) URL').optional(),
  /** Signs JSON notifications: header x-kaizen-signature = sha256=HMAC(secret, body). */
  KAIZEN_WEBHOOK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  /** Canary notifications to a Slack incoming webhook. */
  KAIZEN_SLACK_WEBHOOK_URL: z.string().url('must be an http(s) URL').optional(),
  /** OpenAI API key. With OPENAI_BASE_URL alone (Ollama, vLLM), no key is needed. */
  OPENAI_API_KEY: z.string().min(1).optional(),
  /** An OpenAI-compatible server, e.g. http://localhost:11434/v1 (Ollama) or http://gpu:8000/v1 (vLLM). */
  OPENAI_BASE_URL: z.string().url('must be an http(s) URL such as http://localhost:11434/v1').optional(),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  /** A proxy or gateway in front of the Anthropic API. */
  ANTHROPIC_BASE_URL: z.string().url('must be an http(s) URL').optional(),
  /** Model prices (JSON or YAML: { "<model>": { inputPerMTok, outputPerMTok } }) overriding the built-in table. */
  KAIZEN_PRICES_FILE: z.string().min(1).optional(),
  /** Timeout of one model call attempt. */
  KAIZEN_MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
  /** Per-provider limits shared by all activities of a worker: calls in flight and tokens per minute. */
  KAIZEN_OPENAI_CONCURRENCY: z.coerce.number().int().min(1).max(1_024).default(16),
  KAIZEN_OPENAI_TPM: z.coerce.number().int().positive().optional(),
  KAIZEN_ANTHROPIC_CONCURRENCY: z.coerce.number().int().min(1).max(1_024).default(16),
  KAIZEN_ANTHROPIC_TPM: z.coerce.number().int().positive().optional(),
  /** Log level of the Temporal SDK runtime. */
  KAIZEN_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('WARN'),
})

export type Env = z.infer<typeof EnvSchema>

/** Parse the environment; empty strings count as unset. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = EnvSchema.safeParse(cleaned)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`)
    throw new KaizenError(
      'CONFIG_ERROR',
      `invalid environment variables:\n${lines.join('\n')}\nSee the configuration table in README.md.`,
    )
  }
  return parsed.data
}
