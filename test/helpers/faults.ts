/**
 * Fault injection for tests: a TCP proxy between Kaizen processes and a server (the test
 * PostgreSQL, or anything else that speaks TCP) that can take the server away and give it back,
 * without touching the real server (which other tests share).
 *
 * ```ts
 * const proxy = await startTcpProxy('127.0.0.1:5432')
 * const url = proxy.url(databaseUrl)         // the same URL, through the proxy
 * …start a process with DATABASE_URL = url…
 * await proxy.cut()                          // drop every connection, refuse new ones
 * await proxy.restore()                      // accept and forward again
 * await proxy.close()
 * ```
 *
 * `cut()` ends every proxied connection at once (the client sees its connection closed
 * mid-query, as when the server restarts) and then answers new connections as `mode` says:
 * `refuse` (default) stops listening, so clients get ECONNREFUSED; `reset` accepts and resets
 * each connection at once (ECONNRESET). The proxy keeps its port across cuts.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

export type CutMode = 'refuse' | 'reset'

export interface TcpProxy {
  readonly host: string
  readonly port: number
  /** `open` (forwarding), the mode of the current cut, or `closed`. */
  readonly state: 'open' | CutMode | 'closed'
  /** Connections being forwarded now. */
  readonly connections: number
  /** Connections forwarded since the start (the ones a cut refused or reset are not counted). */
  readonly forwarded: number
  /** Connections accepted and reset at once during `reset` cuts, since the start. */
  readonly resets: number
  /** `url` (any `scheme://user@host:port/…` URL) with its host and port replaced by the proxy's. */
  url(url: string): string
  cut(options?: { mode?: CutMode }): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

function parseTarget(target: string | { host: string; port: number }): { host: string; port: number } {
  if (typeof target !== 'string') return target
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    const u = new URL(target)
    return { host: u.hostname, port: Number(u.port || 5432) }
  }
  const at = target.lastIndexOf(':')
  return { host: target.slice(0, at), port: Number(target.slice(at + 1)) }
}

/** Start a proxy to `target` (`host:port`, a URL, or `{ host, port }`) on a free port of 127.0.0.1. */
export async function startTcpProxy(
  target: string | { host: string; port: number },
  options: { host?: string; port?: number } = {},
): Promise<TcpProxy> {
  const upstream = parseTarget(target)
  const host = options.host ?? '127.0.0.1'
  const pairs = new Set<{ client: Socket; server: Socket }>()
  let state: TcpProxy['state'] = 'open'
  let forwarded = 0
  let resets = 0

  const onConnection = (client: Socket) => {
    if (state !== 'open') {
      resets++
      client.on('error', () => undefined)
      client.resetAndDestroy()
      return
    }
    forwarded++
    const server = connect(upstream.port, upstream.host)
    const pair = { client, server }
    pairs.add(pair)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      server.destroy()
    }
    client.on('error', end).on('close', end)
    server.on('error', end).on('close', end)
    client.pipe(server)
    server.pipe(client)
  }

  let listener: Server = createServer(onConnection)
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      listener.once('error', reject)
      listener.listen(port, host, () => {
        listener.off('error', reject)
        resolve((listener.address() as { port: number }).port)
      })
    })
  const stopListening = () => new Promise<void>((resolve) => listener.close(() => resolve()))
  const port = await listen(options.port ?? 0)

  const dropAll = (how: 'close' | 'reset') => {
    for (const { client, server } of [...pairs]) {
      if (how === 'reset') client.resetAndDestroy()
      else client.destroy()
      server.destroy()
    }
    pairs.clear()
  }

  return {
    host,
    port,
    get state() {
      return state
    },
    get connections() {
      return pairs.size
    },
    get forwarded() {
      return forwarded
    },
    get resets() {
      return resets
    },
    url(url: string) {
      const u = new URL(url)
      u.hostname = host
      u.port = String(port)
      return u.toString()
    },
    async cut(cutOptions = {}) {
      if (state === 'closed') throw new Error('the proxy is closed')
      const mode = cutOptions.mode ?? 'refuse'
      const wasListening = state !== 'refuse'
      state = mode
      dropAll(mode === 'reset' ? 'reset' : 'close')
      if (mode === 'refuse' && wasListening) await stopListening()
      if (mode === 'reset' && !wasListening) {
        listener = createServer(onConnection)
        await listen(port)
      }
    },
    async restore() {
      if (state === 'closed') throw new Error('the proxy is closed')
      if (state === 'refuse') {
        listener = createServer(onConnection)
        await listen(port)
      }
      state = 'open'
    },
    async close() {
      if (state === 'closed') return
      const listening = state !== 'refuse'
      state = 'closed'
      dropAll('close')
      if (listening) await stopListening()
    },
  }
}
