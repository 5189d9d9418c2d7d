import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../runtime/env.js'

const STAGES = [
  'sample',
  'score',
  'search',
  'holdout gate',
  'canary',
  'rollback',
  'approval',
  'bake',
  'schedule',
  'retention',
  'monitor',
]

test('docs/architecture.md opens with the stage → file table, and every file or folder it names exists', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'architecture.md'), 'utf8')
  const section = doc.split(/^## /m).find((s) => s.startsWith('Where each stage of the loop lives'))
  assert.ok(section, 'the section "Where each stage of the loop lives" is missing')
  const rows = section.split('\n').filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
  const stages = rows.slice(1).map((r) => r.split('|')[1]!.trim())
  assert.deepEqual(stages, STAGES)
  const paths = [...section.matchAll(/`([\w./-]+\/[\w./-]*)`/g)].map((m) => m[1]!)
  assert.ok(paths.length >= 20, `only ${paths.length} paths in the table`)
  const missing = paths.filter((p) => !existsSync(join(REPO_ROOT, p)))
  assert.deepEqual(missing, [], `named in the table but absent: ${missing.join(', ')}`)
})
