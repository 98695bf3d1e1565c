/** Locations used by tests. Compiled tests live in dist/test/…, so the project root is found from this file. */
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

const here = dirname(fileURLToPath(import.meta.url))
/** dist/test/helpers → project root */
export const projectRoot = resolve(here, '..', '..', '..')
export const fixturesDir = join(projectRoot, 'test', 'fixtures')

/** A fresh temporary directory, removed when `t` ends. */
export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'rampart-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
