/**
 * The traffic simulator while its database is away: requests are counted as lost and reported in
 * one line, without their data; once the database is back, requests are recorded again.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { count, eq } from 'drizzle-orm'
import { openDatabase, type Database } from '../../db/client.js'
import { traffic } from '../../db/schema.js'
import { PromptResolver } from '../../serving/resolver.js'
import { TrafficSimulator } from '../../serving/traffic-simulator.js'
import { startTcpProxy, type TcpProxy } from '../helpers/faults.js'
import { startHarness, testInfra, type Harness } from '../helpers/infra.js'

let h: Harness
let proxy: TcpProxy
let viaProxy: Database
before(async () => {
  h = await startHarness({ name: 'traffic-outage', worker: false })
  proxy = await startTcpProxy(testInfra().databaseUrl)
  viaProxy = await openDatabase({ url: proxy.url(testInfra().databaseUrl), dataDir: '/nonexistent', migrate: false })
})
after(async () => {
  await viaProxy.close()
  await proxy.close()
  await h.close()
})

const stored = async () =>
  Number((await h.db.select({ n: count() }).from(traffic).where(eq(traffic.taskId, h.scenario.task.id)))[0]?.n ?? 0)

test(`the simulator counts requests lost while the database is away, reports them in one line without data, and \
records again once it is back`, async () => {
  const lines: string[] = []
  const sim = new TrafficSimulator({
    db: viaProxy.db,
    provider: h.simulation,
    resolver: new PromptResolver(viaProxy.db),
    scenario: h.scenario,
    runId: 'outage',
    recordRetryMs: [1, 1],
    log: (l) => lines.push(l),
  })
  await sim.burst(3, 1)
  assert.equal(await stored(), 3)

  await proxy.cut()
  await sim.burst(5, 2)
  assert.equal(sim.stats.lost, 5)
  assert.equal(sim.stats.sent, 3)
  assert.deepEqual(lines, [], 'reported once, not per request')

  await proxy.restore()
  await sim.burst(2, 1)
  // The reason: refused, or (a connection the cut closed, before the pool noticed) terminated.
  assert.equal(lines.length, 1, lines.join('\n'))
  assert.match(
    lines[0] ?? '',
    new RegExp(
      String.raw`^\[traffic\] 5 requests lost while the database was unavailable ` +
        String.raw`\((ECONNREFUSED|connection terminated)(, (ECONNREFUSED|connection terminated))?\)$`,
    ),
  )
  assert.equal(sim.stats.sent, 5)
  assert.equal(await stored(), 5)
})
