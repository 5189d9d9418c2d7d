/**
 * @module cli/files
 * Reading the YAML or JSON files people hand the CLI (task files, grader specs, campaign
 * configs): a missing file and a syntax error are told apart, each naming the flag and the file.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { KaizenError } from '../core/errors.js'

export async function readDataFile(path: string, flag: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new KaizenError(
      'NOT_FOUND',
      `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    )
  }
  try {
    return (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) ?? {}
  } catch (err) {
    throw new KaizenError(
      'INVALID_INPUT',
      `${flag} ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
    )
  }
}
