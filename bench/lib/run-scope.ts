/**
 * The frame every bench entry point runs in (`run.ts`, `soak.ts`): a scratch directory, and a promise that every
 * child process is stopped and the directory removed whatever happens: success, an error, SIGINT/SIGTERM (exit 130 /
 * 143), the process exiting, or the run outliving its time budget (exit 1). Plus the one place results are written.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stopAllChildren, killAllChildrenNow } from './child.js'

const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url))

/** Runs `body` in a fresh scratch directory named after `prefix`, bounded by `budgetSec`. */
export async function inScratchRun<T>(prefix: string, budgetSec: number, log: (line: string) => void, body: (tmpDir: string) => Promise<T>): Promise<T> {
  const tmpDir = await mkdtemp(join(tmpdir(), `${prefix}-`))
  const cleanup = async (): Promise<void> => {
    await stopAllChildren()
    await rm(tmpDir, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`)
    cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('exit', () => {
    killAllChildrenNow()
    rmSync(tmpDir, { recursive: true, force: true })
  })
  const watchdog = setTimeout(() => {
    log(`the run exceeded its ${budgetSec} s budget: stopping`)
    cleanup().finally(() => process.exit(1))
  }, budgetSec * 1000)
  watchdog.unref()
  try {
    return await body(tmpDir)
  } finally {
    clearTimeout(watchdog)
    await cleanup()
  }
}

/** Writes `results` as `bench/results/<prefix><startedAt>.json` and returns the file's path. */
export async function writeResults(prefix: string, startedAt: Date, results: Record<string, unknown>): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${prefix}${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`)
  return file
}
