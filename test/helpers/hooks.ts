/**
 * A local webhook receiver for tests: records each delivery's `x-kaizen-event` header and JSON body.
 */
import { createServer } from 'node:http'

export interface HookReceiver {
  url: string
  received: Array<{ event: string; body: Record<string, unknown> }>
  close(): void
}

export async function startHookReceiver(): Promise<HookReceiver> {
  const received: HookReceiver['received'] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ event: String(req.headers['x-kaizen-event'] ?? ''), body: JSON.parse(body) })
      res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => server.close() }
}
