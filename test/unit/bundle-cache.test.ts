import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { bundleWorkflowCode } from '@temporalio/worker'
import { REPO_ROOT } from '../../runtime/env.js'
import { bundleSources, cachedBundle } from '../../worker/bundle-cache.js'

// The workflows live inside the repository so that the bundler resolves @temporalio/workflow.
const dir = mkdtempSync(join(REPO_ROOT, '.bundle-cache-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test(`the workflow bundle is used again from disk while every file in it reads the same, and bundled again when \
one changes, disappears, or the cache is unreadable`, async () => {
  const entry = join(dir, 'workflows.ts')
  const helper = join(dir, 'helper.ts')
  writeFileSync(helper, `export const greeting = (n: string) => 'hello ' + n\n`)
  writeFileSync(
    entry,
    `import { greeting } from './helper'\n` +
      `export async function greet(n: string): Promise<string> { return greeting(n) }\n`,
  )
  const file = join(dir, 'cache', 'bundle.json')
  let builds = 0
  const build = () => {
    builds++
    return bundleWorkflowCode({
      workflowsPath: entry,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
    })
  }

  const first = await cachedBundle(file, entry, build)
  assert.equal(builds, 1)
  const sources = bundleSources(first.code)
  assert.ok(sources, 'the bundle carries an inline source map with the sources’ text')
  assert.ok(
    sources.some((s) => s.path === helper),
    'the helper is one of its sources',
  )
  assert.ok(
    sources.some((s) => s.path.includes('@temporalio/workflow')),
    'so is the SDK’s workflow library',
  )

  const again = await cachedBundle(file, entry, build)
  assert.equal(builds, 1, 'unchanged files: the saved bundle')
  assert.equal(again.code, first.code)

  // Another entry point is another bundle.
  await cachedBundle(file, helper, build)
  assert.equal(builds, 2)
  await cachedBundle(file, entry, build)
  assert.equal(builds, 3)

  writeFileSync(helper, `export const greeting = (n: string) => 'hi ' + n\n`)
  const changed = await cachedBundle(file, entry, build)
  assert.equal(builds, 4, 'a changed file: bundled again')
  assert.match(changed.code, /'hi '/)
  assert.equal((await cachedBundle(file, entry, build)).code, changed.code)
  assert.equal(builds, 4)

  rmSync(helper)
  writeFileSync(entry, `export async function greet(n: string): Promise<string> { return 'hey ' + n }\n`)
  const gone = await cachedBundle(file, entry, build)
  assert.equal(builds, 5, 'a file gone (and the entry changed): bundled again')
  assert.ok(!bundleSources(gone.code)?.some((s) => s.path === helper))

  writeFileSync(file, readFileSync(file, 'utf8').slice(0, 1000))
  await cachedBundle(file, entry, build)
  assert.equal(builds, 6, 'a truncated cache file: bundled again, not an error')
  await cachedBundle(file, entry, build)
  assert.equal(builds, 6)
})

test('a bundle without a readable inline source map has no sources to check (it is then not saved)', () => {
  assert.equal(bundleSources('var x = 1\n'), null)
  assert.equal(bundleSources('var x = 1\n//# sourceMappingURL=data:application/json;base64,bm90IGpzb24=\n'), null)
})
