/** The README's configuration reference is generated from the schema and must be current. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderReference, spliceReference } from '../../src/config/reference.js'
import { RampartConfigSchema } from '../../src/config/schema.js'
import { projectRoot } from '../helpers/paths.js'

t.test('README reference is up to date (run `npm run docs:config`)', async (t) => {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8')
  t.equal(readme, spliceReference(readme, renderReference(RampartConfigSchema)))
})

t.test('every leaf key of the schema has a description', async (t) => {
  const rows = renderReference(RampartConfigSchema).split('\n').slice(2)
  for (const row of rows) {
    const cells = row.split(' | ')
    if (cells[1] === 'mapping' || cells[1] === 'list') continue
    t.ok((cells[3] ?? '').replace(/\|$/, '').trim().length > 0, `${cells[0]} has a description`)
  }
})
