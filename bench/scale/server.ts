/**
 * The scale benchmark's OpenAI-compatible server (test/helpers/wire-world.ts behind a fixed latency), in
 * its own process so that neither the workers' CPU time nor its own slows the other.
 * Started with `fork`; answers IPC messages `stats` and `reset`.
 *
 *   argv: --latency-ms L
 */
import { parseArgs } from 'node:util'
import { startLlmServer } from '../../test/helpers/llm-server.js'
import { worldResponder } from '../../test/helpers/wire-world.js'

const { values } = parseArgs({ options: { 'latency-ms': { type: 'string', default: '300' } } })
const server = await startLlmServer({ latencyMs: Number(values['latency-ms']), responder: worldResponder })

process.on('message', (m: { cmd: string; id: number }) => {
  if (m.cmd === 'reset') server.resetStats()
  process.send?.({ id: m.id, calls: server.callCount(), maxInFlight: server.maxInFlight() })
})
process.on('disconnect', () => void server.close().then(() => process.exit(0)))
process.send?.({ ready: true, openaiBaseUrl: server.openaiBaseUrl })
