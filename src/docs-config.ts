/** `npm run docs:config`: regenerates the README's configuration reference from the schema. */
import { readFileSync, writeFileSync } from 'node:fs'
import { renderReference, spliceReference } from './config/reference.js'
import { RampartConfigSchema } from './config/schema.js'

const file = process.argv[2] ?? 'README.md'
writeFileSync(file, spliceReference(readFileSync(file, 'utf8'), renderReference(RampartConfigSchema)))
process.stdout.write(`${file}: configuration reference updated\n`)
