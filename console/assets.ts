/**
 * @module console/assets
 * What the console serves besides its pages: one stylesheet and one script (htmx, from its npm
 * package; no CDN, so the console works offline). `npm run bench:console` weighs them.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { REPO_ROOT } from '../runtime/env.js'

export const CONSOLE_ASSETS: Record<string, { type: string; body: Buffer }> = {
  'console.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(REPO_ROOT, 'console/assets/console.css')) },
  'htmx.min.js': {
    type: 'text/javascript; charset=utf-8',
    body: readFileSync(createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js')),
  },
}
