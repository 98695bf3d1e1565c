/**
 * Load generation and measurement of one target.
 *
 * Contract: `measureLoad()` warms the target up (results discarded), then runs the measured load for exactly
 * `durationSec` while reading the CPU time of the target's process trees before and after and sampling their RSS.
 * CPU µs per request = (CPU ms after − CPU ms before) × 1000 / completed requests. Two clients:
 *   - autocannon, in this process, HTTP/1.1 keep-alive over TLS (or plain HTTP), `connections` sockets;
 *   - h2load (nghttp2), a child process, HTTP/2 over TLS, `connections` clients × `H2_STREAMS` streams.
 * The self-signed bench certificate is accepted per connection (autocannon never verifies; h2load does not
 * verify); NODE_TLS_REJECT_UNAUTHORIZED is never touched. Every run is bounded by its duration plus a margin.
 */
import { createRequire } from 'node:module'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { treeUsage, RssSampler } from './cpu.js'
import { spawnChild } from './child.js'

export type LoadClient = 'autocannon' | 'h2load'

export interface LoadOptions {
  readonly client: LoadClient
  /** Where to connect, e.g. `https://127.0.0.1:8443/`. */
  readonly url: string
  /** Host header / :authority and TLS SNI name, e.g. `localhost:8443`. */
  readonly host: string
  readonly connections: number
  readonly durationSec: number
  readonly warmupSec: number
  /** Process trees whose CPU and memory count for this target. */
  readonly pids: readonly number[]
  /** Process trees measured for information only (the upstream behind a proxy). */
  readonly sidePids?: readonly number[]
  /** Scratch directory (h2load's per-request log). */
  readonly tmpDir: string
  readonly h2loadPath?: string
  /** A POST load instead of GET `url` (autocannon only): the login-path rows. */
  readonly post?: PostLoad
}

/** One form POST, the same for every request. */
export interface PostLoad {
  readonly path: string
  readonly body: string
  readonly contentType: string
}

export interface LoadResult {
  readonly client: LoadClient
  readonly requests: number
  readonly durationSec: number
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly cpuMs: number
  readonly cpuUsPerReq: number
  readonly peakRssBytes: number
  readonly sideCpuUsPerReq?: number
}

export interface ClientResult {
  requests: number
  durationSec: number
  p50Ms: number
  p99Ms: number
  errors: number
  timeouts: number
  non2xx: number
}

/** HTTP/2 streams each h2load client keeps in flight. */
export const H2_STREAMS = 10

// autocannon ships no type declarations; this is the part of its API the bench uses.
interface AutocannonResult {
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  latency: { p50: number, p99: number }
  requests: { total: number }
}
interface AutocannonInstance { stop(): void }
type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null | undefined, result: AutocannonResult) => void,
) => AutocannonInstance

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

/** The options autocannon needs; `measureLoad` passes its own, `sendRequests` a fixed count. */
type AutocannonLoad = Pick<LoadOptions, 'url' | 'host' | 'connections' | 'post'>

/**
 * Sends exactly `amount` requests over `connections` keep-alive connections and resolves when all are answered
 * (bounded: `limitSec`). For measures that count work per request rather than time it (the instruction count).
 */
export function sendRequests(opts: AutocannonLoad, amount: number, limitSec: number): Promise<ClientResult> {
  return runAutocannon(opts, limitSec, amount)
}

function runAutocannon(opts: AutocannonLoad, durationSec: number, amount?: number): Promise<ClientResult> {
  const url = new URL(opts.url)
  return new Promise((resolve, reject) => {
    let settled = false
    let stalled = false
    let guard: NodeJS.Timeout | undefined
    const instance = autocannon({
      url: opts.post === undefined ? opts.url : new URL(opts.post.path, opts.url).href,
      connections: opts.connections,
      ...(amount === undefined ? { duration: durationSec } : { amount }),
      pipelining: 1,
      timeout: 10,
      headers: opts.post === undefined ? { host: opts.host } : { host: opts.host, 'content-type': opts.post.contentType },
      ...(opts.post === undefined ? {} : { method: 'POST', requests: [postRequest(opts.post)] }),
      ...(url.protocol === 'https:' ? { servername: opts.host.split(':')[0] } : {}),
    }, (err, result) => {
      settled = true
      clearTimeout(guard)
      const failure = err ?? (stalled ? new Error(`autocannon did not finish within ${durationSec + 15} s: the target stopped answering`) : undefined)
      if (failure !== undefined) {
        reject(failure)
        return
      }
      resolve({
        requests: result.requests.total,
        durationSec: result.duration,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
      })
    })
    // autocannon stops itself; this guard only matters if a target wedges every connection.
    guard = setTimeout(() => {
      if (settled) return
      stalled = true
      instance.stop()
    }, (durationSec + 15) * 1000)
  })
}

/**
 * An autocannon request for `post`, with `[<id>]` in the body replaced by a per-request counter. (autocannon's own
 * `idReplacement` sizes Content-Length before replacing, so the server waits for bytes that never come.)
 */
function postRequest(post: PostLoad): Record<string, unknown> {
  let n = 0
  return {
    method: 'POST',
    setupRequest: (req: Record<string, unknown>) => ({ ...req, body: post.body.replace('[<id>]', String(++n)) }),
  }
}

/** Percentile of an ascending array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? 0
}

/** Reads the summary h2load prints. Returns undefined when the output is not recognisable. */
export function parseH2loadSummary(text: string): Omit<ClientResult, 'p50Ms' | 'p99Ms'> | undefined {
  const finished = /finished in ([\d.]+)(ms|s),/.exec(text)
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text)
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text)
  if (finished === null || reqs === null || codes === null) return undefined
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1)
  return {
    requests: Number(reqs[3]),
    durationSec: seconds,
    errors: Number(reqs[6]) + Number(reqs[5]),
    timeouts: Number(reqs[7]),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
  }
}

async function runH2load(opts: LoadOptions, durationSec: number, logFile: string | undefined): Promise<ClientResult> {
  const target = new URL(opts.url)
  const args = [
    '-D', String(durationSec),
    '-c', String(opts.connections),
    '-m', String(H2_STREAMS),
    '-t', '1',
    '--connect-to', `${target.hostname}:${target.port}`,
    ...(logFile === undefined ? [] : ['--log-file', logFile]),
    `https://${opts.host}/`,
  ]
  const child = spawnChild('h2load', opts.h2loadPath ?? 'h2load', args, {
    logFile: join(opts.tmpDir, `h2load-${Date.now()}-${Math.random().toString(36).slice(2)}.out`),
  })
  const exited = new Promise<number | null>((resolve) => child.process.once('exit', (code) => resolve(code)))
  const limitSec = durationSec + 15
  let stalled = false
  const guard = setTimeout(() => {
    stalled = true
    void child.stop(1000)
  }, limitSec * 1000)
  const code = await exited
  clearTimeout(guard)
  if (stalled) {
    // h2load waits for every stream it started; a target that leaves some unanswered would hold the run forever.
    throw new Error(`h2load did not finish within ${limitSec} s: the target left connections or streams unanswered`)
  }
  const summary = parseH2loadSummary(child.output())
  if (code !== 0 || summary === undefined) {
    const last = child.output().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' / ')
    throw new Error(`h2load failed (exit ${String(code)}): ${last}`)
  }
  let p50Ms = 0
  let p99Ms = 0
  if (logFile !== undefined) {
    // Columns: start time (µs since epoch), status, µs until the end of the response.
    const text = await readFile(logFile, 'utf8')
    const micros: number[] = []
    for (const line of text.split('\n')) {
      const third = line.split('\t')[2]
      if (third !== undefined && third !== '') micros.push(Number(third))
    }
    const sorted = Float64Array.from(micros).sort()
    p50Ms = percentile(sorted, 50) / 1000
    p99Ms = percentile(sorted, 99) / 1000
    await rm(logFile, { force: true })
  }
  return { ...summary, p50Ms, p99Ms }
}

function cpuOf(pids: readonly number[]): number {
  let ms = 0
  for (const pid of pids) ms += treeUsage(pid).cpuMs
  return ms
}

export async function measureLoad(opts: LoadOptions): Promise<LoadResult> {
  const run = (seconds: number, measured: boolean): Promise<ClientResult> => opts.client === 'autocannon'
    ? runAutocannon(opts, seconds)
    : runH2load(opts, seconds, measured ? join(opts.tmpDir, `h2load-${process.pid}-${Date.now()}.log`) : undefined)

  if (opts.warmupSec > 0) await run(opts.warmupSec, false)

  const samplers = opts.pids.map((pid) => new RssSampler(pid).start())
  const cpuBefore = cpuOf(opts.pids)
  const sideBefore = cpuOf(opts.sidePids ?? [])
  let result: ClientResult
  try {
    result = await run(opts.durationSec, true)
  } catch (err) {
    for (const s of samplers) s.stop()
    throw err
  }
  const peaks = samplers.map((s) => s.stop())
  const cpuMs = cpuOf(opts.pids) - cpuBefore
  const sideMs = cpuOf(opts.sidePids ?? []) - sideBefore
  const requests = result.requests
  return {
    client: opts.client,
    requests,
    durationSec: result.durationSec,
    rps: result.durationSec > 0 ? requests / result.durationSec : 0,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    cpuMs,
    cpuUsPerReq: requests > 0 ? (cpuMs * 1000) / requests : 0,
    // Trees are sampled independently, so the sum of peaks is an upper bound when there are several.
    peakRssBytes: peaks.reduce((a, b) => a + b, 0),
    ...(opts.sidePids !== undefined && opts.sidePids.length > 0 && requests > 0
      ? { sideCpuUsPerReq: (sideMs * 1000) / requests }
      : {}),
  }
}
