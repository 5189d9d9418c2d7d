/**
 * `npm run lint:lines` (part of `npm test`): no line of tracked code is longer than 120 characters.
 *
 * Prettier wraps code at 120 but leaves alone what it cannot break: strings, template literals
 * (SQL in sql`…`, scripts in String.raw`…`) and comments. This check covers those too. Characters
 * are Unicode code points. JSON and Markdown are not checked: they are data and prose.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const MAX = 120
const PATTERNS = ['*.ts', '*.tsx', '*.mts', '*.js', '*.mjs', '*.cjs']

// Tracked files; one deleted from the working tree but not yet from the index is skipped.
const files = execFileSync('git', ['ls-files', '-z', '--', ...PATTERNS], { cwd: REPO_ROOT, encoding: 'utf8' })
  .split('\0')
  .filter((path) => path !== '' && existsSync(join(REPO_ROOT, path)))

let over = 0
for (const path of files) {
  const lines = readFileSync(join(REPO_ROOT, path), 'utf8').split(/\r?\n/)
  lines.forEach((line, i) => {
    const length = [...line].length
    if (length > MAX) {
      over++
      console.error(`${path}:${i + 1}: ${length} characters (max ${MAX})`)
    }
  })
}

if (over > 0) {
  console.error(`line length: ${over} line(s) over ${MAX} characters; rewrap them (strings, SQL and comments too)`)
  process.exit(1)
}
console.log(`line length: ${files.length} files, every line ≤ ${MAX} characters`)
