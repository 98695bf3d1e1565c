/** The shipped example configurations stay valid (schema and cross-checks), with their files supplied. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { validateConfigText, formatProblem } from '../../src/config/validate.js'
import { projectRoot } from '../helpers/paths.js'

// The demo runs on the memory store without a device-cookie secret, and says so.
const expectedWarnings: Record<string, RegExp[]> = {
  'rampart.example.yaml': [/lockout\.deviceCookie\.secret: not set: a random key is used/],
  'minimal.yaml': [],
}

for (const name of ['rampart.example.yaml', 'minimal.yaml']) {
  t.test(`config/${name} is valid`, async (t) => {
    const text = readFileSync(join(projectRoot, 'config', name), 'utf8')
    const r = validateConfigText(text, { file: name, env: { RAMPART_ADMIN_TOKEN: 'an-admin-token-for-tests-only' } })
    t.ok(r.ok, r.ok ? 'valid' : r.problems.map(formatProblem).join('\n'))
    if (!r.ok) return
    const warnings = r.warnings.map(formatProblem)
    t.equal(warnings.length, expectedWarnings[name]!.length, warnings.join('\n'))
    expectedWarnings[name]!.forEach((re, i) => t.match(warnings[i], re))
  })
}

