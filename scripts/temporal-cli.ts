/**
 * `npx tsx scripts/temporal-cli.ts`: find the Temporal CLI (TEMPORAL_CLI_PATH → PATH → Go's bin
 * folder → `go install …@v1.5.1` → the SDK's download when online) and print its path, or say
 * plainly what to install. `--no-build` only looks.
 */
import { INSTALL_HELP, locateTemporalCli } from '../runtime/temporal-cli.js'

const build = !process.argv.includes('--no-build')
locateTemporalCli({ build, log: (l) => process.stderr.write(`${l}\n`) }).then(
  (cli) => {
    if (cli.kind === 'binary') {
      process.stderr.write(`Temporal CLI found (${cli.source}).\n`)
      process.stdout.write(`${cli.path}\n`)
      process.exit(0)
    }
    process.stderr.write(
      `No Temporal CLI binary here; Kaizen would try the SDK's download (needs internet).\n${INSTALL_HELP}\n`,
    )
    process.exit(1)
  },
  (err: Error) => {
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  },
)
