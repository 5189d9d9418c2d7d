/**
 * @module cli/sim-world
 * The simulated world behind the OpenAI chat-completions wire (sim/serve/), for the commands that
 * offer it: `kaizen sim serve` and the task-file demo of `kaizen up` / `kaizen demo`. The one CLI
 * module besides the simulation provider that reaches into sim/ (the dependency rule
 * `sim-through-the-provider`). Everything it serves is labelled simulation.
 */
import { KaizenError } from '../core/errors.js'
import { loadEnv } from '../runtime/env.js'
import { loadScenarios } from '../sim/registry.js'
import { banner, startSimServer, type SimServer } from '../sim/serve/server.js'

export type { SimServer }
export { banner as simBanner }

export interface SimWorldOptions {
  port: number
  host: string
  scenariosDir?: string
  judgeAgreement: number
  fidelity?: number
  latencyScale: number
}

/**
 * Serve the scenarios of `scenariosDir` (default KAIZEN_SCENARIOS_DIR); a port in use is a
 * CONFIG_ERROR naming --port.
 */
export async function startSimWorld(opts: SimWorldOptions): Promise<SimServer> {
  const dir = opts.scenariosDir ?? loadEnv().KAIZEN_SCENARIOS_DIR
  const scenarios = [...(await loadScenarios(dir)).values()]
  if (scenarios.length === 0)
    throw new KaizenError('CONFIG_ERROR', `no scenario files in ${dir} (.yaml, .yml or .json); see docs/scenarios.md`)
  try {
    return await startSimServer({
      scenarios,
      port: opts.port,
      host: opts.host,
      judgeAgreement: opts.judgeAgreement,
      latencyScale: opts.latencyScale,
      ...(opts.fidelity === undefined ? {} : { fidelity: opts.fidelity }),
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      throw new KaizenError(
        'CONFIG_ERROR',
        `cannot listen on ${opts.host}:${opts.port} (${code}); choose another --port (0: any free port) or --host`,
        { cause: err },
      )
    throw err
  }
}
