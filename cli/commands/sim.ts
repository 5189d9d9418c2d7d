/**
 * @module cli/commands/sim
 * `kaizen sim serve`: the simulated world behind the OpenAI chat-completions wire (sim/serve/), so
 * Kaizen's real-provider code (OpenAI provider, LLM judge, LLM proposer, gateway, client) runs
 * offline end to end with OPENAI_BASE_URL pointing at it. Everything it serves is labelled
 * simulation. Ctrl-C stops it.
 */
import type { Command } from 'commander'
import { z } from 'zod'
import { simBanner, startSimWorld, type SimWorldOptions } from '../sim-world.js'
import { intFlag, numberFlag } from '../flags.js'
import { say } from '../output.js'

const share = (flag: string) => numberFlag(flag, z.number().min(0).max(1))

export function registerSim(program: Command): void {
  const sim = program.command('sim').description('the simulated world, for trying Kaizen offline')
  sim
    .command('serve')
    .description(
      'serve the simulated world behind the OpenAI chat-completions API (task answers, judge verdicts, ' +
        'proposer rewrites), every response labelled simulation; point Kaizen at it with OPENAI_BASE_URL',
    )
    .option('--port <port>', 'port (0: any free port)', intFlag('--port', 0, 65_535), 8788)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--scenarios-dir <dir>', 'folder of scenario files (default KAIZEN_SCENARIOS_DIR or scenarios/)')
    .option(
      '--judge-agreement <p>',
      "share of sim-judge verdicts that agree with the world's truth",
      share('--judge-agreement'),
      0.95,
    )
    .option(
      '--fidelity <p>',
      "share of failure feedback naming the true cause (default: each scenario's)",
      share('--fidelity'),
    )
    .option(
      '--latency-scale <x>',
      "wait this share of a tier's simulated latency before each task answer (0: answer at once)",
      numberFlag('--latency-scale', z.number().min(0).max(10)),
      0,
    )
    .action(async (opts: SimWorldOptions) => {
      const server = await startSimWorld(opts)
      for (const line of simBanner(server)) say(line)
      say(`OPENAI_BASE_URL=${server.baseUrl}`)
      say('Ctrl-C stops it.')
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          say(`\n${signal}: stopping the simulation server.`)
          server.close().then(resolve, resolve)
        }
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })
}
