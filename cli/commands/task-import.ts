/**
 * @module cli/commands/task-import
 * `kaizen task import --from promptfoo|langfuse FILE [-o task.yaml]`: a task file from the tools
 * users already have (core/import/). Every assertion that could not be mapped is listed with its
 * location; nothing is dropped silently. The task file is written for review; `kaizen task apply`
 * applies it.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Command } from 'commander'
import { stringify } from 'yaml'
import { KaizenError } from '../../core/errors.js'
import type { ImportResult } from '../../core/import/common.js'
import { importLangfuse } from '../../core/import/langfuse.js'
import { importPromptfoo } from '../../core/import/promptfoo.js'
import { readDataFile } from '../../lib/data-file.js'
import { requireOption } from '../context.js'
import { printJson, say } from '../output.js'

const SOURCES = ['promptfoo', 'langfuse'] as const

/** The text of every `file://` prompt a promptfoo config names, read relative to the config. */
async function promptFiles(config: unknown, configPath: string): Promise<Record<string, string>> {
  const prompts = (config as { prompts?: unknown })?.prompts
  const refs = (Array.isArray(prompts) ? prompts : [prompts]).filter(
    (p): p is string => typeof p === 'string' && p.startsWith('file://'),
  )
  const files: Record<string, string> = {}
  for (const ref of refs) {
    const path = resolve(dirname(configPath), ref.slice('file://'.length))
    try {
      files[ref] = await readFile(path, 'utf8')
    } catch (err) {
      throw new KaizenError(
        'NOT_FOUND',
        `prompts: cannot read ${ref} (${path}): ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      )
    }
  }
  return files
}

function report(result: ImportResult, out: string): void {
  say(`Wrote the task file ${out} (task "${result.task.id}").`)
  if (result.unmapped.length > 0) {
    say(`${result.unmapped.length} assertion(s) could not be mapped and are not in the task:`)
    for (const u of result.unmapped) say(`  ${u.location}: ${u.assertion} — ${u.reason}`)
  }
  for (const note of result.notes) say(`Note: ${note}`)
  if (result.needs.includes('grader'))
    say(`Its grader is still to write: put a grader spec in grader.yaml next to it (docs/graders.md).`)
  say(`Review it, then: kaizen task apply -f ${out}`)
}

export function registerTaskImport(task: Command): void {
  task
    .command('import <file>')
    .description('write a task file from a promptfoo config or a Langfuse prompt (JSON as its API returns it)')
    .option('--from <tool>', `where the file comes from: ${SOURCES.join(' or ')}`)
    .option('-o, --out <file>', 'where to write the task file (default: <task id>.task.yaml)')
    .option('--id <task>', 'the task id (default: from the file)')
    .option('--model <model>', 'the task model, when the file names none (or to override it)')
    .option('--judge-model <model>', 'promptfoo: the judge of llm-rubric assertions when the config names none')
    .action(
      async (file: string, opts: { from?: string; out?: string; id?: string; model?: string; judgeModel?: string }) => {
        const from = requireOption(opts.from, '--from', `say which tool the file comes from: ${SOURCES.join(', ')}`)
        if (!(SOURCES as readonly string[]).includes(from))
          throw new KaizenError('INVALID_INPUT', `--from: "${from}" is not one of ${SOURCES.join(', ')}`)
        const raw = await readDataFile(file, 'the import file')
        const common = {
          source: file,
          ...(opts.id ? { taskId: opts.id } : {}),
          ...(opts.model ? { model: opts.model } : {}),
        }
        const result =
          from === 'promptfoo'
            ? importPromptfoo(raw, {
                ...common,
                files: await promptFiles(raw, file),
                ...(opts.judgeModel ? { judgeModel: opts.judgeModel } : {}),
              })
            : importLangfuse(raw, common)
        const out = opts.out ?? `${result.task.id}.task.yaml`
        await writeFile(out, stringify(result.task, { lineWidth: 0 }))
        report(result, out)
        printJson({
          taskFile: out,
          taskId: result.task.id,
          unmapped: result.unmapped,
          notes: result.notes,
          needs: result.needs,
        })
      },
    )
}
