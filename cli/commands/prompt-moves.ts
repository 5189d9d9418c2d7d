/**
 * @module cli/commands/prompt-moves
 * `kaizen prompts push|promote|rollback`: a person adds a prompt version from a file, or moves a
 * task's production label by hand. Each label move is a compare-and-swap and an audit event.
 */
import type { Command } from 'commander'
import { KaizenError, formatPath } from '../../core/errors.js'
import { PromptContent, templateVariables } from '../../core/prompt.js'
import { appendAudit } from '../../db/queries/audit.js'
import { promoteVersion, rollbackProduction, type ManualMoveResult } from '../../db/queries/promotion.js'
import { createPromptVersion, requireTask } from '../../db/queries/prompts.js'
import { withDeps } from '../../runtime/deps.js'
import { requireOption } from '../context.js'
import { readDataFile } from '../../lib/data-file.js'
import { intFlag } from '../flags.js'
import { printJson, say } from '../output.js'

const describeMove = (r: ManualMoveResult) =>
  r.moved
    ? `Production of "${r.taskId}" moved from ${r.from ? `version ${r.from.version}` : 'none'} to version ` +
      `${r.to.version}.`
    : `Production of "${r.taskId}" already serves version ${r.to.version}; nothing was changed.`

/** A prompt file: system, user template, model and params (as a prompt version holds them). */
async function readPrompt(path: string, inputs: readonly string[]): Promise<PromptContent> {
  const parsed = PromptContent.strict().safeParse(await readDataFile(path, '--file'))
  if (!parsed.success)
    throw new KaizenError(
      'INVALID_INPUT',
      `${path}: ${parsed.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`).join('; ')} ` +
        '(a prompt file has system, user, model and optionally params)',
    )
  const unknown = templateVariables(parsed.data.user).filter((v) => !inputs.includes(v.split('.')[0] as string))
  if (unknown.length > 0)
    throw new KaizenError(
      'INVALID_INPUT',
      `user: unknown variable${unknown.length > 1 ? 's' : ''} ${unknown.map((v) => `{{${v}}}`).join(', ')}; ` +
        `declared: ${inputs.join(', ')}`,
      { details: { fields: ['user'] } },
    )
  return parsed.data
}

export function registerPromptMoves(prompts: Command): void {
  prompts
    .command('push')
    .description('add a human prompt version from a file (system, user, model, params); a draft until promoted')
    .option('--task <task>', 'the task')
    .option('-f, --file <file>', 'the prompt file (YAML or JSON)')
    .option('--actor <name>', 'who pushes it (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { task?: string; file?: string; actor: string }) => {
      const taskId = requireOption(opts.task, '--task', 'name the task, e.g. --task support-triage')
      const file = requireOption(opts.file, '--file', 'give the prompt file, e.g. -f prompt.yaml')
      const version = await withDeps(async ({ db, providers }) => {
        const task = await requireTask(db, taskId)
        const content = await readPrompt(file, task.inputFields)
        providers.requireModels([{ path: `${file}: model`, model: content.model }], 'Nothing was pushed.')
        const v = await createPromptVersion(db, {
          taskId,
          content,
          origin: 'human',
          operator: 'push',
          createdBy: `user:${opts.actor}`,
        })
        await appendAudit(db, {
          eventKey: `prompt:${v.id}:pushed`,
          actor: `user:${opts.actor}`,
          action: 'prompt.pushed',
          taskId,
          subjectType: 'prompt_version',
          subjectId: v.id,
          details: { version: v.version, source: file },
        })
        return v
      })
      say(
        `Version ${version.version} of "${taskId}" (${version.id}) is a draft; put it in production with ` +
          `\`kaizen prompts promote ${taskId}@${version.version}\`, or better, let a campaign canary it.`,
      )
      printJson({ task: taskId, id: version.id, version: version.version })
    })

  prompts
    .command('promote <version>')
    .description('put a version (<task>@<n> or pv_…) in production by hand (compare-and-swap, audited)')
    .option('--reason <text>', 'why (recorded)')
    .option('--actor <name>', 'who promotes it (recorded)', process.env.USER ?? 'cli')
    .action(async (ref: string, opts: { reason?: string; actor: string }) => {
      const reason = requireOption(opts.reason, '--reason', 'say why, e.g. --reason "reviewed by the support leads"')
      const r = await withDeps(({ db }) => promoteVersion(db, ref, { actor: `user:${opts.actor}`, reason }))
      say(describeMove(r))
      printJson(r)
    })

  prompts
    .command('rollback')
    .description('put production back on the version it served before (or on --to <n>), audited')
    .option('--task <task>', 'the task')
    .option('--to <n>', 'the version to go back to', intFlag('--to', 1))
    .option('--reason <text>', 'why (recorded)')
    .option('--actor <name>', 'who rolls back (recorded)', process.env.USER ?? 'cli')
    .action(async (opts: { task?: string; to?: number; reason?: string; actor: string }) => {
      const taskId = requireOption(opts.task, '--task', 'name the task, e.g. --task support-triage')
      const reason = requireOption(opts.reason, '--reason', 'say why, e.g. --reason "more escalations since v3"')
      const r = await withDeps(({ db }) =>
        rollbackProduction(db, taskId, { actor: `user:${opts.actor}`, reason, to: opts.to ?? null }),
      )
      say(describeMove(r))
      printJson(r)
    })
}
