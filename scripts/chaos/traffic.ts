/**
 * Live traffic for the chaos suite: requests to the gateway (`POST /v1/tasks/{task}/complete`) at a
 * steady rate, each with an id of its own, retried with the same id like a careful client would
 * (on a connection error or a 5xx), and remembered with how it ended, so the suite can check that
 * every request the gateway said it recorded is in the database exactly once.
 */
import { ticketOf, MAX_RECORDS } from '../../test/helpers/wire-world.js'

export interface SentRequest {
  id: string
  /**
   * `recorded`: answered and stored (trafficId names its row); `unrecorded`: answered, but the gateway said it could
   * not store it; `failed`: no answer after every try.
   */
  outcome: 'recorded' | 'unrecorded' | 'failed'
  trafficId: string | null
  tries: number
}

export interface TrafficDriver {
  readonly sent: SentRequest[]
  /** Requests started but not yet ended. */
  readonly inFlight: number
  /** Stop sending; resolves when every request under way has ended. */
  stop(): Promise<SentRequest[]>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function driveTraffic(options: {
  baseUrl: string
  task: string
  token: string
  ratePerSec: number
  idPrefix: string
  users?: number
}): TrafficDriver {
  const sent: SentRequest[] = []
  const pending = new Set<Promise<void>>()
  let stopped = false
  let n = 0
  const one = async (i: number): Promise<void> => {
    const id = `${options.idPrefix}-${i}`
    const body = JSON.stringify({
      key: `user-${i % (options.users ?? 400)}`,
      id,
      input: { ticket: `${ticketOf((i * 7) % MAX_RECORDS)} (#${i})` },
    })
    let tries = 0
    for (let delay = 250; tries < 10; delay = Math.min(4_000, delay * 2)) {
      tries++
      try {
        const r = await fetch(`${options.baseUrl}/v1/tasks/${options.task}/complete`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
          body,
          signal: AbortSignal.timeout(30_000),
        })
        if (r.status === 200) {
          const answer = (await r.json()) as { trafficId: string; recorded: boolean }
          sent.push({
            id,
            outcome: answer.recorded ? 'recorded' : 'unrecorded',
            trafficId: answer.recorded ? answer.trafficId : null,
            tries,
          })
          return
        }
        await r.body?.cancel()
        if (r.status < 500 && r.status !== 429) {
          sent.push({ id, outcome: 'failed', trafficId: null, tries })
          return
        }
      } catch {
        // connection refused / reset / timeout: the gateway is down or restarting
      }
      await sleep(delay)
    }
    sent.push({ id, outcome: 'failed', trafficId: null, tries })
  }
  const loop = (async () => {
    const every = 1000 / options.ratePerSec
    const t0 = Date.now()
    while (!stopped) {
      const p = one(n++)
      pending.add(p)
      void p.finally(() => pending.delete(p))
      const next = t0 + n * every
      await sleep(Math.max(0, next - Date.now()))
    }
  })()
  return {
    sent,
    get inFlight() {
      return pending.size
    },
    async stop() {
      stopped = true
      await loop
      while (pending.size > 0) await Promise.all([...pending])
      return sent
    },
  }
}
