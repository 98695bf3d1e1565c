/** The shipped example configurations stay valid (schema and cross-checks), with their files supplied. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { validateConfigText, formatProblem } from '../../src/config/validate.js'
import { projectRoot } from '../helpers/paths.js'

for (const name of ['rampart.example.yaml', 'minimal.yaml']) {
  t.test(`config/${name} is valid`, async (t) => {
    const text = readFileSync(join(projectRoot, 'config', name), 'utf8')
    const r = validateConfigText(text, { file: name, env: { RAMPART_ADMIN_TOKEN: 'an-admin-token-for-tests-only' } })
    t.ok(r.ok, r.ok ? 'valid' : r.problems.map(formatProblem).join('\n'))
    if (r.ok) t.same(r.warnings.map(formatProblem), [], 'and without warnings')
  })
}

