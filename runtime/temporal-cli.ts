/**
 * @module runtime/temporal-cli
 * Find the Temporal CLI (which carries the dev server), in this order:
 *   1. TEMPORAL_CLI_PATH
 *   2. `temporal` on PATH
 *   3. Go's bin folder (GOBIN, GOPATH/bin, ~/go/bin)
 *   4. build it with `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` when `go` exists
 *   5. the Temporal SDK's own download (needs internet)
 * and otherwise say plainly what to install.
 */
import { spawn, spawnSync } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, join } from 'node:path'
import { KaizenError } from '../core/errors.js'

/** The newest CLI release that `go install` can build (later tags carry replace directives). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1'

export type TemporalCli =
  | { kind: 'binary'; path: string; source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'go-bin' | 'go-install' }
  | { kind: 'sdk-download' }

export const INSTALL_HELP = [
  'Kaizen needs the Temporal CLI (it carries the Temporal dev server). Any one of these works:',
  `  - with Go ≥ 1.25: go install ${TEMPORAL_CLI_MODULE}`,
  '  - download a release from https://github.com/temporalio/cli/releases and put `temporal` on PATH,',
  '    or point TEMPORAL_CLI_PATH at it',
  '  - or use an existing Temporal server: set TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE / TEMPORAL_API_KEY)',
].join('\n')

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function goEnv(name: string): string | null {
  const r = spawnSync('go', ['env', name], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() || null : null
}

function hasGo(): boolean {
  return spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0
}

/** Candidate locations of a `go install`ed binary. */
export function goBinDirs(): string[] {
  const dirs = new Set<string>()
  if (hasGo()) {
    const gobin = goEnv('GOBIN')
    if (gobin) dirs.add(gobin)
    const gopath = goEnv('GOPATH')
    if (gopath) for (const p of gopath.split(delimiter)) dirs.add(join(p, 'bin'))
  }
  dirs.add(join(homedir(), 'go', 'bin'))
  return [...dirs]
}

/** Look without building anything. */
export function findTemporalCli(env: { TEMPORAL_CLI_PATH?: string | undefined } = process.env): TemporalCli | null {
  if (env.TEMPORAL_CLI_PATH) {
    if (!isExecutable(env.TEMPORAL_CLI_PATH)) {
      throw new KaizenError(
        'CONFIG_ERROR',
        `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file; fix the path or unset it`,
      )
    }
    return { kind: 'binary', path: env.TEMPORAL_CLI_PATH, source: 'TEMPORAL_CLI_PATH' }
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'temporal')))
      return { kind: 'binary', path: join(dir, 'temporal'), source: 'PATH' }
  }
  for (const dir of goBinDirs()) {
    if (isExecutable(join(dir, 'temporal'))) return { kind: 'binary', path: join(dir, 'temporal'), source: 'go-bin' }
  }
  return null
}

/** Build the CLI with `go install`; streams Go's output through `log`. */
export async function goInstallTemporalCli(log: (line: string) => void): Promise<TemporalCli | null> {
  if (!hasGo()) return null
  log(`Building the Temporal CLI: go install ${TEMPORAL_CLI_MODULE} (a few minutes, once)…`)
  const code = await new Promise<number>((resolveCode) => {
    const child = spawn('go', ['install', TEMPORAL_CLI_MODULE], { stdio: ['ignore', 'pipe', 'pipe'] })
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n'))
        if (line.trim() && !line.startsWith('go: downloading')) log(`  go: ${line.trim()}`)
    }
    child.stdout.on('data', forward)
    child.stderr.on('data', forward)
    child.on('error', () => resolveCode(-1))
    child.on('close', (c) => resolveCode(c ?? -1))
  })
  if (code !== 0) {
    log(`go install failed (exit ${code}).`)
    return null
  }
  for (const dir of goBinDirs()) {
    if (isExecutable(join(dir, 'temporal')))
      return { kind: 'binary', path: join(dir, 'temporal'), source: 'go-install' }
  }
  return null
}

/**
 * Locate (or build) the CLI. When nothing is found, falls back to the SDK's download, which the
 * embedded server tries and explains if it fails (no internet).
 */
export async function locateTemporalCli(
  options: { env?: { TEMPORAL_CLI_PATH?: string | undefined }; build?: boolean; log?: (line: string) => void } = {},
): Promise<TemporalCli> {
  const log = options.log ?? ((l: string) => console.error(l))
  const found = findTemporalCli(options.env ?? process.env)
  if (found) return found
  if (options.build ?? true) {
    const built = await goInstallTemporalCli(log)
    if (built) return built
  }
  return { kind: 'sdk-download' }
}
