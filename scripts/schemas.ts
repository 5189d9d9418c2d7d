/**
 * `npm run schemas`: write the published JSON Schemas (generated from the zod schemas) to
 * schemas/. A unit test fails when a committed file is not what this would write.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { taskFileJsonSchema } from '../core/task-file.js'
import { REPO_ROOT } from '../runtime/env.js'

const path = join(REPO_ROOT, 'schemas', 'task.schema.json')
writeFileSync(path, `${JSON.stringify(taskFileJsonSchema(), null, 2)}\n`)
process.stdout.write(`wrote ${path}\n`)
