import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import { startTcpProxy, type TcpProxy } from '../helpers/faults.js'

// An echo server behind the proxy.
const echo = createServer((s) => s.pipe(s))
let proxy: TcpProxy
before(async () => {
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
  proxy = await startTcpProxy(`127.0.0.1:${(echo.address() as AddressInfo).port}`)
})
after(async () => {
  await proxy.close()
  await new Promise((r) => echo.close(r))
})

/** Connect through the proxy and say hello: the echo, or the error the connection ended with. */
async function hello(): Promise<string> {
  const s = connect(proxy.port, proxy.host)
  try {
    s.write('hello')
    const [data] = (await Promise.race([once(s, 'data'), once(s, 'error').then(([e]) => Promise.reject(e))])) as [
      Buffer,
    ]
    return data.toString()
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err)
  } finally {
    s.destroy()
  }
}

/** Connect through the proxy without sending anything: how the connection ends. */
async function ending(): Promise<string> {
  const s = connect(proxy.port, proxy.host)
  try {
    const [err] = (await Promise.race([once(s, 'error'), once(s, 'close').then(() => [null])])) as [
      NodeJS.ErrnoException | null,
    ]
    return err?.code ?? 'closed'
  } finally {
    s.destroy()
  }
}

test(`the proxy forwards, cuts (refusing or resetting new connections, closing the open ones) and \
restores on the same port`, async () => {
  assert.equal(await hello(), 'hello')
  const open: Socket = connect(proxy.port, proxy.host)
  open.write('x')
  await once(open, 'data')
  assert.equal(proxy.connections, 1)
  const closed = once(open, 'close')

  await proxy.cut()
  await closed
  assert.equal(proxy.state, 'refuse')
  assert.equal(proxy.connections, 0)
  assert.equal(await hello(), 'ECONNREFUSED')

  await proxy.cut({ mode: 'reset' })
  assert.equal(await ending(), 'ECONNRESET')
  assert.equal(proxy.resets, 1)

  await proxy.restore()
  assert.equal(proxy.state, 'open')
  assert.equal(await hello(), 'hello')
  assert.equal(
    proxy.url('postgres://u:p@db.example:5432/kaizen?sslmode=disable'),
    `postgres://u:p@127.0.0.1:${proxy.port}/kaizen?sslmode=disable`,
  )
})
