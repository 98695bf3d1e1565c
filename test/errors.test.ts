/** Every catalogued error code is documented in docs/ERRORS.md, and the docs list no code that does not exist. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ERRORS, RampartError } from '../src/errors.js'
import { projectRoot } from './helpers/paths.js'

const doc = readFileSync(join(projectRoot, 'docs', 'ERRORS.md'), 'utf8')
const documented = new Set([...doc.matchAll(/`(RAMPART_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!))

t.test('codes and docs agree', async (t) => {
  for (const code of Object.keys(ERRORS)) t.ok(documented.has(code), `${code} is documented in docs/ERRORS.md`)
  for (const code of documented) t.ok(code in ERRORS, `${code} in the docs exists in src/errors.ts`)
})

t.test('codes are well-formed and RampartError carries them', async (t) => {
  for (const code of Object.keys(ERRORS)) t.match(code, /^RAMPART_ERR_[A-Z0-9]+_[A-Z0-9_]+$/)
  const e = new RampartError('RAMPART_ERR_UPSTREAM_TIMEOUT', 'site x')
  t.equal(e.code, 'RAMPART_ERR_UPSTREAM_TIMEOUT')
  t.equal(e.statusCode, 504)
  t.equal(e.message, 'the upstream did not answer in time: site x')
})
