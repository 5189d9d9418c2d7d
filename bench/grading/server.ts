/**
 * The benchmark's OpenAI-compatible server, in its own process (a real provider is not in the
 * worker's process either, so neither side's CPU time slows the other's event loop).
 * Started with `fork`; answers IPC messages `stats` and `reset`.
 *
 *   argv: --latency-ms L
 */
import { parseArgs } from 'node:util'
import { startLlmServer } from '../../test/helpers/llm-server.js'

const { values } = parseArgs({ options: { 'latency-ms': { type: 'string', default: '100' } } })

const server = await startLlmServer({
  latencyMs: Number(values['latency-ms']),
  responder: (call) => {
    const format = (call.body as { response_format?: { json_schema?: { name?: string } } }).response_format
    // Kaizen asks for the `verdict` schema; promptfoo's llm-rubric expects {reason, pass, score}.
    return format?.json_schema?.name === 'verdict'
      ? { kind: 'json', value: { reasoning: 'the actions are concrete commands with targets', level: 'clear' } }
      : { kind: 'json', value: { reason: 'the actions are concrete commands with targets', pass: true, score: 1 } }
  },
})

process.on('message', (m: { cmd: string; id: number }) => {
  if (m.cmd === 'reset') server.resetStats()
  process.send?.({ id: m.id, calls: server.callCount(), maxInFlight: server.maxInFlight() })
})
process.on('disconnect', () => void server.close().then(() => process.exit(0)))
process.send?.({ ready: true, openaiBaseUrl: server.openaiBaseUrl })
