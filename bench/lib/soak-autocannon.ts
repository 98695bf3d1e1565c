/**
 * autocannon for the soak: HTTP/1.1 keep-alive over TLS from this process, either at a fixed overall rate for a
 * duration or unthrottled until an amount of requests has been answered, with a live count of answers.
 *
 * Contract: `startH1Load()` starts autocannon (imported through createRequire, as in load.ts) and returns at once.
 * `completed()` is the number of responses so far (any status); `onResponse(n)` runs after each, with that count.
 * `done` resolves with answers by status, errors (timeouts included, as autocannon counts them), timeouts,
 * latency percentiles and the measured duration; `stop()` ends the load early (the result then covers what ran).
 */
import { createRequire } from 'node:module'

export interface H1LoadOptions {
  readonly url: string
  readonly host: string
  readonly connections: number
  /** Either a duration … */
  readonly durationSec?: number
  /** … or a number of requests to complete. */
  readonly amount?: number
  /** Requests per second over all connections; unthrottled when absent. */
  readonly overallRate?: number
  readonly timeoutSec: number
  readonly onResponse?: (completed: number) => void
}

export interface H1LoadResult {
  readonly completed: number
  readonly statusCounts: Record<string, number>
  readonly errors: number
  readonly timeouts: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly durationSec: number
}

export interface H1Load {
  readonly done: Promise<H1LoadResult>
  completed(): number
  stop(): void
}

// autocannon ships no type declarations; this is the part of its API the soak uses.
interface AutocannonResult {
  duration: number
  errors: number
  timeouts: number
  latency: { p50: number, p99: number }
  statusCodeStats: Record<string, { count: number }>
}
interface AutocannonInstance {
  stop(): void
  on(event: 'response', listener: () => void): void
}
type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null | undefined, result: AutocannonResult) => void,
) => AutocannonInstance

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

export function startH1Load(opts: H1LoadOptions): H1Load {
  let completed = 0
  let instance: AutocannonInstance | undefined
  const done = new Promise<H1LoadResult>((resolve, reject) => {
    instance = autocannon({
      url: opts.url,
      connections: opts.connections,
      pipelining: 1,
      timeout: opts.timeoutSec,
      headers: { host: opts.host },
      servername: opts.host.split(':')[0],
      ...(opts.durationSec === undefined ? {} : { duration: opts.durationSec }),
      ...(opts.amount === undefined ? {} : { amount: opts.amount }),
      ...(opts.overallRate === undefined ? {} : { overallRate: opts.overallRate }),
    }, (err, result) => {
      if (err) {
        reject(err)
        return
      }
      const statusCounts: Record<string, number> = {}
      for (const [status, { count }] of Object.entries(result.statusCodeStats)) statusCounts[status] = count
      resolve({
        completed,
        statusCounts,
        errors: result.errors,
        timeouts: result.timeouts,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        durationSec: result.duration,
      })
    })
    instance.on('response', () => {
      completed += 1
      opts.onResponse?.(completed)
    })
  })
  return { done, completed: () => completed, stop: () => instance?.stop() }
}
