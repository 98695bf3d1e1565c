/**
 * The soak's target: Rampart "all on" (the `rampart-on` variant of targets.ts) with one worker, counting its rate
 * limit in the soak's private redis-server, forwarding to the bench upstream.
 *
 * Contract: `startAllOnRampart()` writes the config (core config, then the `rampart-on` fragment, then
 * `workers: 1` and `log.level: info`), starts `rampart start` as a child process whose stdout/stderr go to
 * `<tmpDir>/rampart.log`, waits until it serves, and checks that GET / returns the upstream page. `log.level: info`
 * is set because access lines are info: under the core config's `warn` the access log would be on but silent, and
 * the soak means to exercise it. The log file is the access-log sink; it lives in the scratch directory and goes
 * with it. Throws with Rampart's output when it does not come up.
 */
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import type { BenchCertificate } from './certs.js'
import { probe, spawnChild, freePort, waitUntilServing, type Child } from './child.js'
import { BENCH_PAGE_MARKER } from './page.js'
import { RAMPART_VARIANTS, mergeConfig, rampartCoreConfig } from './targets.js'

const here = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url))
const REPO_ROOT = here('../../../')
const RAMPART_CLI = join(REPO_ROOT, 'dist', 'src', 'bin.js')

export interface SoakTarget {
  readonly url: string
  readonly host: string
  readonly rampart: Child
  /** Rampart's output: the access log plus warnings. */
  readonly logFile: string
  /** True when GET / answers 200 with the upstream page. */
  answersPage(): Promise<boolean>
}

export async function startAllOnRampart(
  tmpDir: string, cert: BenchCertificate, upstreamPort: number, redisUrl: string,
): Promise<SoakTarget> {
  if (!existsSync(RAMPART_CLI)) throw new Error('not built: dist/src/bin.js is missing (npm run build)')
  const allOn = RAMPART_VARIANTS.find((v) => v.id === 'rampart-on')
  if (allOn === undefined) throw new Error('targets.ts has no rampart-on variant')
  const port = await freePort()
  const config = mergeConfig(
    mergeConfig(rampartCoreConfig(port, upstreamPort, cert), allOn.fragment({ redisUrl })),
    { workers: 1, log: { level: 'info' } },
  )
  const configPath = join(tmpDir, 'rampart-soak.yaml')
  await writeFile(configPath, stringify(config))
  const logFile = join(tmpDir, 'rampart.log')
  const rampart = spawnChild('rampart', process.execPath, [RAMPART_CLI, 'start', '--config', configPath], {
    logFile,
    env: { ...process.env, NODE_ENV: 'production' },
    cwd: REPO_ROOT,
  })
  const url = `https://127.0.0.1:${port}/`
  const host = `localhost:${port}`
  const answersPage = async (): Promise<boolean> => {
    try {
      const res = await probe(url, host, 5000)
      return res.status === 200 && res.body.includes(BENCH_PAGE_MARKER)
    } catch {
      return false
    }
  }
  try {
    await waitUntilServing(rampart, url, host)
    if (!await answersPage()) throw new Error(`Rampart did not return the upstream page: ${rampart.output()}`)
  } catch (err) {
    await rampart.stop(1000)
    throw err
  }
  return { url, host, rampart, logFile, answersPage }
}
