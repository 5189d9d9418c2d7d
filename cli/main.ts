/**
 * @module cli/main
 * The `kaizen` command.
 */
import { Command, CommanderError } from 'commander'
import { registerApi } from './commands/api.js'
import { registerAudit } from './commands/audit.js'
import { registerCampaign } from './commands/campaign.js'
import { registerCanary } from './commands/canary.js'
import { registerGolden } from './commands/golden.js'
import { registerGrader } from './commands/grader.js'
import { registerPrompts } from './commands/prompts.js'
import { registerSchedule } from './commands/schedule.js'
import { registerMonitor } from './commands/monitor.js'
import { registerSim } from './commands/sim.js'
import { registerTask } from './commands/task.js'
import { registerTraffic } from './commands/traffic.js'
import { registerUp } from './commands/up.js'
import { describeError, say } from './output.js'

const program = new Command()
  .name('kaizen')
  .description('Continuous, automatic improvement of production LLM prompts, orchestrated by Temporal.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

registerUp(program)
registerTask(program)
registerCampaign(program)
registerCanary(program)
registerSchedule(program)
registerMonitor(program)
registerPrompts(program)
registerGrader(program)
registerGolden(program)
registerApi(program)
registerTraffic(program)
registerAudit(program)
registerSim(program)

try {
  await program.parseAsync(process.argv)
  // Commander returns while handles may keep the loop alive (gRPC, timers): exit explicitly.
  process.exit(0)
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2)
  const { message, code } = describeError(err)
  say(`kaizen: ${message}`)
  process.exit(code)
}
