/**
 * @module lib/data-file
 * Reading the YAML or JSON files people hand Kaizen (task files, grader specs, campaign configs,
 * scenarios): a missing file and a syntax error are told apart, each naming what the file is
 * (a flag, or e.g. "scenario") and the file. `.json` is JSON; anything else is YAML.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseYaml } from 'yaml'
import { KaizenError } from '../core/errors.js'

export async function readDataFile(path: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new KaizenError(
      'NOT_FOUND',
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    )
  }
  try {
    return (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) ?? {}
  } catch (err) {
    throw new KaizenError(
      'INVALID_INPUT',
      `${what} ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
      { cause: err },
    )
  }
}
