/**
 * Open-loop load generator for prompt resolution, run by bench/ingest/run.ts in a fresh process
 * of its own (so the ingestion phase's garbage in the benchmark process does not pause it):
 * requests go out on schedule at --rate per second whether or not earlier ones have returned.
 * Prints one JSON object: { requests, rate, errors, p50, p99, max } (milliseconds).
 *
 *   tsx bench/ingest/resolve-load.ts --url http://127.0.0.1:8787/v1/tasks/T/prompt --token kz_…
 *     --rate 1000 --seconds 10 [--warmup 2]
 */
import { Agent, get } from 'node:http'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
  },
})
if (!values.url || !values.token) {
  process.stderr.write('resolve-load: give --url and --token\n')
  process.exit(2)
}
const rate = Number(values.rate)
const agent = new Agent({ keepAlive: true, maxSockets: 64 })

async function run(count: number) {
  const latencies: number[] = []
  let errors = 0
  const pending: Promise<void>[] = []
  const t0 = performance.now()
  let sent = 0
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate))
    for (; sent < due; sent++) {
      const at = performance.now()
      pending.push(
        new Promise<void>((done) => {
          const req = get(
            `${values.url}?key=user-${sent % 10_000}`,
            { agent, headers: { authorization: `Bearer ${values.token}` } },
            (res) => {
              res.resume()
              res.on('end', () => {
                if (res.statusCode !== 200) errors++
                latencies.push(performance.now() - at)
                done()
              })
            },
          )
          req.on('error', () => {
            errors++
            done()
          })
        }),
      )
    }
    // Sleep to the next millisecond rather than spin: a busy generator would steal a core from the server.
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.all(pending)
  const s = latencies.sort((a, b) => a - b)
  const q = (x: number) => s[Math.min(s.length - 1, Math.floor(x * s.length))] as number
  return {
    requests: count,
    rate: count / ((performance.now() - t0) / 1000),
    errors,
    p50: q(0.5),
    p99: q(0.99),
    max: s[s.length - 1] as number,
  }
}

await run(Math.round(rate * Number(values.warmup)))
process.stdout.write(`${JSON.stringify(await run(Math.round(rate * Number(values.seconds))))}\n`)
agent.destroy()
