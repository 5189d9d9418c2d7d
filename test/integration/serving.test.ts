import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { moveLabel } from '../../db/queries/labels.js'
import { PromptResolver } from '../../serving/resolver.js'
import { betterContent, version } from '../helpers/fixtures.js'
import { startHarness, type Harness } from '../helpers/infra.js'

let h: Harness
before(async () => {
  h = await startHarness({ name: 'serving', worker: false })
})
after(() => h.close())

test('routing is sticky per user and a rollback reaches the serving path within a second', async () => {
  const task = h.scenario.task.id
  const candidate = await version(h.db, h.scenario, betterContent(h.scenario), 'better')
  await moveLabel(h.db, {
    moveKey: `serve:${task}:start`,
    taskId: task,
    label: 'canary',
    toVersionId: candidate.id,
    weight: 0.3,
    canaryId: 'canary-serve',
    reason: 'test',
    actor: 'test',
  })
  const resolver = new PromptResolver(h.db) // the production default: cached for at most 1 s
  const users = Array.from({ length: 300 }, (_, i) => `user-${i}`)
  const first = await Promise.all(users.map((u) => resolver.resolve(task, u)))
  const again = await Promise.all(users.map((u) => resolver.resolve(task, u)))
  assert.deepEqual(
    again.map((r) => r.arm),
    first.map((r) => r.arm),
    'sticky',
  )
  const onCanary = first.filter((r) => r.arm === 'canary').length
  assert.ok(onCanary > 50 && onCanary < 130, `${onCanary} of 300 users on a 30% canary`)
  assert.ok(
    first.every((r) => (r.arm === 'canary' ? r.version.id === candidate.id : r.version.id === h.task.seedVersion.id)),
  )

  await moveLabel(h.db, {
    moveKey: `serve:${task}:rollback`,
    taskId: task,
    label: 'canary',
    toVersionId: null,
    weight: 0,
    canaryId: 'canary-serve',
    reason: 'test rollback',
    actor: 'test',
  })
  const rolledBackAt = Date.now()
  let seenAt: number | null = null
  while (Date.now() - rolledBackAt < 3_000) {
    const rs = await Promise.all(users.slice(0, 50).map((u) => resolver.resolve(task, u)))
    if (rs.every((r) => r.arm === null && r.version.id === h.task.seedVersion.id)) {
      seenAt = Date.now()
      break
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.ok(
    seenAt !== null && seenAt - rolledBackAt <= 1_050,
    `rollback visible after ${seenAt === null ? 'never' : seenAt - rolledBackAt} ms`,
  )
})
