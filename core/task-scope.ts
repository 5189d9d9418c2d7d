/**
 * @module core/task-scope
 * Which tasks an API token may act on: a list of task id patterns where `*` matches any run of
 * characters (`support-*`, `billing`), or null for every task.
 *
 * Pure module.
 */
import { z } from 'zod'

export const TaskPattern = z
  .string()
  .regex(/^[a-z0-9*][a-z0-9._*-]{0,99}$/, 'a task id or a pattern with * (e.g. "support-*")')

const compile = (pattern: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*')}$`)

/** Whether a token limited to `patterns` (null: unlimited) may act on the task. */
export function taskAllowed(patterns: readonly string[] | null | undefined, taskId: string): boolean {
  return !patterns || patterns.some((p) => compile(p).test(taskId))
}

/** The tasks among `taskIds` a token limited to `patterns` may not act on (sorted, once each). */
export function tasksRefused(patterns: readonly string[] | null | undefined, taskIds: Iterable<string>): string[] {
  return [...new Set(taskIds)].filter((t) => !taskAllowed(patterns, t)).sort()
}
