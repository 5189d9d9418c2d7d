/**
 * @module cli/worker
 * A standalone Kaizen worker for deployments: `kaizen worker` or `npx tsx cli/worker.ts`.
 * Uses DATABASE_URL and TEMPORAL_ADDRESS when set; otherwise the embedded defaults.
 */
import { describeError } from '../lib/safe-log.js'
import { openRuntime } from '../runtime/app.js'

export async function runWorker(): Promise<void> {
  const runtime = await openRuntime({
    temporal: 'embedded-or-configured',
    waitForServices: true,
    log: (l: string) => console.error(l),
  })
  const worker = await runtime.startWorker()
  console.error(
    `[kaizen] worker polling task queue "${runtime.env.TEMPORAL_TASK_QUEUE}" on ${runtime.temporal.address} ` +
      `(database: ${runtime.database.kind})`,
  )
  const shutdown = () => void worker.shutdown()
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  try {
    await worker.done
  } finally {
    await runtime.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runWorker().catch((err) => {
    console.error(describeError(err))
    process.exit(1)
  })
}
