/**
 * `npm run bench:console`: the weight of what the operator console ships to a browser — every
 * script and stylesheet it serves (console/app.tsx `assets`), raw, gzip and brotli (what the
 * server sends to a browser that accepts it) — against the budget of about 200 KB of compressed
 * JavaScript. Pages themselves are server-rendered HTML; the approval page is measured too when
 * `--url` and `--token` name a running server and a canary (`--canary id`).
 *
 *   npm run bench:console [-- --url http://127.0.0.1:8787 --token kz_… --canary canary-…] [--json]
 */
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { parseArgs } from 'node:util'
import { CONSOLE_ASSETS } from '../../console/assets.js'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    canary: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})
const BUDGET_JS = 200 * 1024

const size = (b: Buffer) => ({
  raw: b.length,
  gzip: gzipSync(b, { level: 9 }).length,
  brotli: brotliCompressSync(b).length,
})
const rows = Object.entries(CONSOLE_ASSETS).map(([name, a]) => ({
  name,
  type: a.type.split(';')[0] ?? a.type,
  ...size(a.body),
}))

if (values.url && values.token && values.canary) {
  // Sign in as a browser would, then fetch the approval page.
  const login = await fetch(`${values.url}/login?token=${encodeURIComponent(values.token)}`, { redirect: 'manual' })
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const page = await fetch(`${values.url}/canaries/${encodeURIComponent(values.canary)}`, { headers: { cookie } })
  if (!page.ok) throw new Error(`the approval page answered ${page.status}`)
  rows.push({ name: `/canaries/${values.canary}`, type: 'text/html', ...size(Buffer.from(await page.arrayBuffer())) })
}
const js = rows.filter((r) => r.type === 'text/javascript')
const total = { gzip: js.reduce((s, r) => s + r.gzip, 0), brotli: js.reduce((s, r) => s + r.brotli, 0) }
const result = { rows, javascript: { ...total, budget: BUDGET_JS, withinBudget: total.gzip <= BUDGET_JS } }
if (values.json) console.log(JSON.stringify(result, null, 2))
else {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
  for (const r of rows)
    console.log(`${r.name.padEnd(40)} ${r.type.padEnd(16)} raw ${kb(r.raw)}  gzip ${kb(r.gzip)}  br ${kb(r.brotli)}`)
  console.log(
    `JavaScript shipped: ${kb(total.gzip)} gzip, ${kb(total.brotli)} brotli (budget ${kb(BUDGET_JS)} compressed): ` +
      (result.javascript.withinBudget ? 'within budget' : 'OVER BUDGET'),
  )
}
if (!result.javascript.withinBudget) process.exitCode = 1
