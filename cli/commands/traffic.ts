/**
 * @module cli/commands/traffic
 * `kaizen traffic import FILE.jsonl`: bulk history, one traffic record per line (the same fields as
 * `POST /v1/traffic`). The whole file is validated first — every bad line is reported with its line
 * number and field — and every task and version it names is checked; only then is it stored, in
 * batches of 500, redacted like API traffic. Records with an `id` are idempotent, so an interrupted
 * import can simply be run again.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { checkReferences, storeTraffic, TrafficRecord, type TrafficRecordInput } from '../../api/routes/traffic.js'
import { KaizenError, formatPath } from '../../core/errors.js'
import { withDeps } from '../../runtime/deps.js'
import { printJson, say } from '../output.js'

export async function readTrafficFile(file: string): Promise<TrafficRecordInput[]> {
  const records: TrafficRecordInput[] = []
  const problems: string[] = []
  let n = 0
  try {
    for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
      n++
      if (line.trim() === '') continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch (err) {
        problems.push(`line ${n}: not JSON (${(err as Error).message})`)
        continue
      }
      const parsed = TrafficRecord.safeParse(value)
      if (parsed.success) records.push(parsed.data)
      else for (const issue of parsed.error.issues) problems.push(`line ${n}: ${formatPath(issue.path)}: ${issue.message}`)
    }
  } catch (err) {
    throw new KaizenError('INVALID_INPUT', `cannot read ${file}: ${(err as Error).message}`)
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20)
    throw new KaizenError('INVALID_INPUT', `${file} has ${problems.length} problem(s); nothing was imported:\n  - ${shown.join('\n  - ')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`)
  }
  if (records.length === 0) throw new KaizenError('INVALID_INPUT', `${file} holds no records (one JSON object per line, as for POST /v1/traffic)`)
  return records
}

export function registerTraffic(program: Command): void {
  const traffic = program.command('traffic').description('production traffic records')
  traffic
    .command('import <file>')
    .description('import traffic history from a JSON Lines file (one record per line, fields as POST /v1/traffic)')
    .action(async (file: string) => {
      const records = await readTrafficFile(file)
      const result = await withDeps(async (deps) => {
        await checkReferences(deps.db, records)
        let stored = 0
        let duplicates = 0
        for (let i = 0; i < records.length; i += 500) {
          const r = await storeTraffic(deps.db, records.slice(i, i + 500), deps.redactor)
          stored += r.stored
          duplicates += r.duplicates
        }
        return { stored, duplicates }
      })
      say(`Imported ${result.stored} record(s) from ${file}${result.duplicates ? ` (${result.duplicates} already there)` : ''}.`)
      printJson({ file, records: records.length, ...result })
    })
}
