/**
 * A fixed-rate HTTP/2 load from this process (node:http2), so the soak needs nothing besides Node.
 *
 * Contract: `startH2Load()` opens `sessions` TLS HTTP/2 sessions to `url` (certificate verified against the
 * bench's own self-signed certificate, SNI and :authority from `host`) and sends GET requests at `ratePerSec` in
 * total, round-robin over the sessions, for `durationMs`. Pacing is by elapsed time: every tick sends what is due,
 * so a slow answer does not lower the offered rate; at most `maxInFlight` streams are open at once, and a request
 * that would exceed it is counted as `dropped` instead of queued, so a stalled target cannot make the client's
 * memory grow. A session that closes or fails is replaced on the next request. Each stream has `timeoutMs`; an
 * expired one is cancelled and counted as a timeout. `done` resolves when the duration is over and every stream
 * has settled (or been cancelled), with counts of answers by status, errors, timeouts and sessions opened, and
 * the p50 / p99 time to the end of an answered response (ms, nearest rank).
 * `stop()` ends the load early. Nothing here throws after start: failures are counted.
 */
import http2 from 'node:http2'
import { percentile } from './load.js'

export interface H2LoadOptions {
  readonly url: string
  readonly host: string
  /** PEM the server certificate must chain to (the bench's self-signed certificate). */
  readonly ca: Buffer
  readonly sessions: number
  readonly ratePerSec: number
  readonly durationMs: number
  readonly timeoutMs: number
  readonly maxInFlight: number
}

export interface H2LoadResult {
  sent: number
  completed: number
  statusCounts: Record<string, number>
  errors: number
  timeouts: number
  dropped: number
  sessionsOpened: number
  durationSec: number
  p50Ms: number
  p99Ms: number
}

export interface H2Load {
  readonly done: Promise<H2LoadResult>
  /** Requests answered so far (any status). */
  completed(): number
  stop(): void
}

const TICK_MS = 10

export function startH2Load(opts: H2LoadOptions): H2Load {
  const result: H2LoadResult = {
    sent: 0, completed: 0, statusCounts: {}, errors: 0, timeouts: 0, dropped: 0, sessionsOpened: 0, durationSec: 0,
    p50Ms: 0, p99Ms: 0,
  }
  const latenciesMs: number[] = []
  const sessions: Array<http2.ClientHttp2Session | undefined> = new Array(opts.sessions).fill(undefined)
  const servername = opts.host.split(':')[0] ?? opts.host
  const startedAt = Date.now()
  let inFlight = 0
  let next = 0
  let stopped = false
  let finish: (r: H2LoadResult) => void = () => {}
  const done = new Promise<H2LoadResult>((resolve) => { finish = resolve })

  const session = (index: number): http2.ClientHttp2Session => {
    const current = sessions[index]
    if (current !== undefined && !current.closed && !current.destroyed) return current
    const fresh = http2.connect(opts.url, { ca: opts.ca, servername })
    result.sessionsOpened += 1
    // Stream failures are counted per stream; a session error only retires the session.
    fresh.on('error', () => {})
    fresh.on('close', () => { if (sessions[index] === fresh) sessions[index] = undefined })
    fresh.on('goaway', () => { if (sessions[index] === fresh) sessions[index] = undefined })
    sessions[index] = fresh
    return fresh
  }

  const settle = (): void => {
    inFlight -= 1
    if (stopped && inFlight === 0) close()
  }

  const send = (): void => {
    if (inFlight >= opts.maxInFlight) {
      result.dropped += 1
      return
    }
    result.sent += 1
    inFlight += 1
    let settled = false
    const once = (count: () => void): void => {
      if (settled) return
      settled = true
      count()
      settle()
    }
    let stream: http2.ClientHttp2Stream
    try {
      stream = session(next).request({ ':method': 'GET', ':path': '/', ':authority': opts.host })
    } catch {
      once(() => { result.errors += 1 })
      return
    } finally {
      next = (next + 1) % opts.sessions
    }
    let status = 0
    const sentAt = performance.now()
    stream.setTimeout(opts.timeoutMs, () => {
      once(() => { result.timeouts += 1 })
      stream.close(http2.constants.NGHTTP2_CANCEL)
    })
    stream.on('response', (headers) => { status = Number(headers[':status']) })
    stream.on('data', () => {})
    stream.on('end', () => once(() => {
      result.completed += 1
      latenciesMs.push(performance.now() - sentAt)
      result.statusCounts[String(status)] = (result.statusCounts[String(status)] ?? 0) + 1
    }))
    stream.on('error', () => once(() => { result.errors += 1 }))
    stream.on('close', () => once(() => { result.errors += 1 }))
  }

  const close = (): void => {
    clearInterval(ticker)
    for (const s of sessions) s?.close()
    result.durationSec = (Date.now() - startedAt) / 1000
    const sorted = Float64Array.from(latenciesMs).sort()
    result.p50Ms = Math.round(percentile(sorted, 50))
    result.p99Ms = Math.round(percentile(sorted, 99))
    finish(result)
  }

  const stop = (): void => {
    if (stopped) return
    stopped = true
    clearInterval(ticker)
    if (inFlight === 0) close()
  }

  const ticker = setInterval(() => {
    const elapsed = Date.now() - startedAt
    if (elapsed >= opts.durationMs) {
      stop()
      return
    }
    const due = Math.floor((elapsed * opts.ratePerSec) / 1000) - result.sent - result.dropped
    for (let i = 0; i < due; i++) send()
  }, TICK_MS)

  return { done, completed: () => result.completed, stop }
}
