/**
 * @module cli/task-file
 * A task file read from disk (core/task-file.ts; its grader inline or in the file it names) and
 * applied: for `kaizen task apply` and the task-file demo of `kaizen up` / `kaizen demo`. Every model
 * it names must have a configured provider, else nothing is applied.
 */
import { dirname, resolve } from 'node:path'
import { KaizenError, formatPath } from '../core/errors.js'
import { GraderSpec } from '../core/grader-spec.js'
import { modelsOf, parseTaskFile, type TaskFile } from '../core/task-file.js'
import type { Db } from '../db/client.js'
import { applyTaskFile } from '../db/queries/task-file.js'
import { readDataFile } from '../lib/data-file.js'
import type { ProviderRegistry } from '../providers/registry.js'

export interface ReadTaskFile {
  path: string
  definition: TaskFile
  grader: GraderSpec
}

/** The task's grader: inline, or read from the file it names (relative to the task file). */
async function graderOf(task: TaskFile, taskPath: string): Promise<GraderSpec> {
  if (!('file' in task.grader)) return task.grader
  const path = resolve(dirname(taskPath), task.grader.file)
  const parsed = GraderSpec.safeParse(await readDataFile(path, 'grader.file'))
  if (!parsed.success)
    throw new KaizenError(
      'INVALID_INPUT',
      `grader.file ${path}: ` +
        parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ') +
        ' (see docs/graders.md)',
    )
  return parsed.data
}

/** Read and check a task file; `flag` names where its path came from in errors (e.g. `--file`). */
export async function readTaskFile(path: string, flag: string): Promise<ReadTaskFile> {
  const definition = parseTaskFile(await readDataFile(path, flag), path)
  return { path, definition, grader: await graderOf(definition, path) }
}

/** Create or update the task (audited); a model no configured provider serves is refused first. */
export function applyReadTaskFile(
  deps: { db: Db; providers: ProviderRegistry },
  file: ReadTaskFile,
  options: { actor: string; promote: boolean },
): ReturnType<typeof applyTaskFile> {
  deps.providers.requireModels(modelsOf(file.definition, file.grader))
  return applyTaskFile(deps.db, {
    task: file.definition,
    grader: file.grader,
    actor: options.actor,
    source: file.path,
    promote: options.promote,
  })
}
