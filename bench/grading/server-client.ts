/** Start a benchmark's LLM server (default: bench/grading/server.ts) in a child process and talk to it over IPC. */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface BenchServer {
  openaiBaseUrl: string
  stats(): Promise<{ calls: number; maxInFlight: number }>
  resetStats(): Promise<void>
  close(): Promise<void>
}

export async function startBenchServer(
  latencyMs: number,
  script: URL = new URL('./server.ts', import.meta.url),
): Promise<BenchServer> {
  const child = fork(fileURLToPath(script), ['--latency-ms', String(latencyMs)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const openaiBaseUrl = await new Promise<string>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the bench server exited (${code}) before it was ready`)))
    child.once('message', (m: { openaiBaseUrl: string }) => resolve(m.openaiBaseUrl))
  })
  let next = 0
  const ask = (cmd: string) =>
    new Promise<{ calls: number; maxInFlight: number }>((resolve) => {
      const id = next++
      const on = (m: { id?: number; calls: number; maxInFlight: number }) => {
        if (m.id !== id) return
        child.off('message', on)
        resolve(m)
      }
      child.on('message', on)
      child.send({ cmd, id })
    })
  return {
    openaiBaseUrl,
    stats: () => ask('stats'),
    resetStats: async () => void (await ask('reset')),
    close: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit')
        child.once('exit', () => resolve())
        child.disconnect()
      }),
  }
}
