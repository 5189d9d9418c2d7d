/**
 * @module sim/registry
 * The scenarios a Kaizen process knows: every .yaml/.yml/.json file in the scenarios folder.
 */
import { readdir } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { KaizenError } from '../core/errors.js'
import { loadScenarioFile, type Scenario } from './scenario.js'

export async function loadScenarios(dir: string): Promise<Map<string, Scenario>> {
  let files: string[]
  try {
    files = (await readdir(dir)).filter((f) => ['.yaml', '.yml', '.json'].includes(extname(f))).sort()
  } catch (err) {
    throw new KaizenError(
      'CONFIG_ERROR',
      `cannot read the scenarios folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)} ` +
        '(set KAIZEN_SCENARIOS_DIR)',
      { cause: err },
    )
  }
  const out = new Map<string, Scenario>()
  for (const f of files) {
    const s = await loadScenarioFile(join(dir, f))
    const clash = out.get(s.id)
    if (clash) throw new KaizenError('INVALID_INPUT', `two scenario files in ${dir} use the id "${s.id}"`)
    out.set(s.id, s)
  }
  return out
}

export function requireScenario(scenarios: ReadonlyMap<string, Scenario>, id: string): Scenario {
  const s = scenarios.get(id)
  if (!s)
    throw new KaizenError(
      'NOT_FOUND',
      `unknown scenario "${id}" (available: ${[...scenarios.keys()].join(', ') || 'none'})`,
    )
  return s
}
