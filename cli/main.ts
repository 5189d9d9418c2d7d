/**
 * @module cli/main
 * The `kaizen` command.
 *
 * Each command's module is loaded only when that command runs: `kaizen prompts list` does not load
 * the worker, the API server or the providers (a few seconds of module loading through tsx on every
 * call). Help, an unknown command or a bare `kaizen` load them all, in the order help lists them.
 */
import { Command, CommanderError } from 'commander'
import { describeError, say } from './output.js'

type Register = (program: Command) => void
/** The top-level commands each module registers, and how to load it. */
const COMMANDS: Array<[names: readonly string[], load: () => Promise<Register>]> = [
  [['up', 'demo', 'worker'], async () => (await import('./commands/up.js')).registerUp],
  [['task'], async () => (await import('./commands/task.js')).registerTask],
  [['campaign', 'migrate'], async () => (await import('./commands/campaign.js')).registerCampaign],
  [['canary'], async () => (await import('./commands/canary.js')).registerCanary],
  [['schedule'], async () => (await import('./commands/schedule.js')).registerSchedule],
  [['monitor'], async () => (await import('./commands/monitor.js')).registerMonitor],
  [['prompts'], async () => (await import('./commands/prompts.js')).registerPrompts],
  [['grader'], async () => (await import('./commands/grader.js')).registerGrader],
  [['golden'], async () => (await import('./commands/golden.js')).registerGolden],
  [['serve', 'token'], async () => (await import('./commands/api.js')).registerApi],
  [['traffic'], async () => (await import('./commands/traffic.js')).registerTraffic],
  [['audit'], async () => (await import('./commands/audit.js')).registerAudit],
  [['sim'], async () => (await import('./commands/sim.js')).registerSim],
]

const program = new Command()
  .name('kaizen')
  .description('Continuous, automatic improvement of production LLM prompts, orchestrated by Temporal.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

try {
  const named = process.argv[2]
  const only = COMMANDS.filter(([names]) => named !== undefined && names.includes(named))
  for (const [, load] of only.length > 0 ? only : COMMANDS) (await load())(program)
  await program.parseAsync(process.argv)
  // Commander returns while handles may keep the loop alive (gRPC, timers): exit explicitly.
  process.exit(0)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2)
  const { message, code } = describeError(err)
  say(`kaizen: ${message}`)
  process.exit(code)
}
