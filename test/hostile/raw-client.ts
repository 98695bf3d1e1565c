/**
 * A byte-exact HTTP/1.1 client for hostile-input tests: opens a TLS connection to the gateway (ALPN http/1.1,
 * verified against the test CA), writes exactly the bytes given, and collects every byte of the answer until the
 * gateway closes the connection or stays silent for `idleMs`. No parsing, no normalisation on the way out, so
 * malformed framing reaches the gateway as written.
 *
 * `connectRaw(target)` gives the bare connection, for tests that write in steps (e.g. cut an upload mid-body).
 * `barrier(target, host, upstream)` proves the gateway is done with earlier exchanges (see below).
 * `exchange(target, host, payload, upstream)` is the usual step: reset the upstream's record, one raw exchange, a
 * barrier, then what came back and what the upstream got for it.
 * `h2Exchange(target, headers, body)` is one HTTP/2 request that resolves however its stream ends: with a status,
 * or with the stream error the gateway (or nghttp2) answered a malformed request with.
 *
 * `parseResponses(bytes)` splits what came back into responses (status, lower-cased headers, body), framed by
 * Content-Length or chunked encoding, so a test can count how many answers one connection produced.
 */
import tls from 'node:tls'
import http2 from 'node:http2'
import type { RawRequest, RawUpstream } from './raw-upstream.js'

export interface RawTarget {
  readonly port: number
  readonly ca: string
  /** SNI sent in the handshake. Default `a.test`. */
  readonly servername?: string
}

export interface RawExchange {
  readonly bytes: Buffer
  readonly text: string
  /** True when the gateway closed the connection; false when the client gave up after `idleMs` of silence. */
  readonly closedByServer: boolean
}

/** A verified TLS connection to the gateway, speaking HTTP/1.1 (ALPN), once the handshake is done. */
export function connectRaw(target: RawTarget): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1', port: target.port, servername: target.servername ?? 'a.test',
      ca: target.ca, ALPNProtocols: ['http/1.1'],
    }, () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** Writes `payload` (string as latin1, so every char is one byte) on a fresh TLS connection and reads the answer. */
export async function rawExchange(target: RawTarget, payload: string | Buffer, idleMs = 1500): Promise<RawExchange> {
  const socket = await connectRaw(target)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let settled = false
    socket.write(typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload)
    const finish = (closedByServer: boolean): void => {
      if (settled) return
      settled = true
      socket.destroy()
      const bytes = Buffer.concat(chunks)
      resolve({ bytes, text: bytes.toString('latin1'), closedByServer })
    }
    socket.setTimeout(idleMs, () => finish(false))
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', () => finish(true))
    socket.on('close', () => finish(true))
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the gateway answered is still an answer; a failure before any byte is a test error.
      if (chunks.length > 0 || err.code === 'ECONNRESET') finish(true)
      else if (!settled) {
        settled = true
        reject(err)
      }
    })
  })
}

export interface ParsedResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/** The responses in `text`, in order. Stops at the first thing that is not a complete response. */
export function parseResponses(text: string): ParsedResponse[] {
  const out: ParsedResponse[] = []
  let rest = text
  for (;;) {
    const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n/.exec(rest)
    const headEnd = rest.indexOf('\r\n\r\n')
    if (!m || headEnd < 0) return out
    const headers: Record<string, string> = {}
    for (const line of rest.slice(m[0].length, headEnd).split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    let after = rest.slice(headEnd + 4)
    let body = ''
    if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const lineEnd = after.indexOf('\r\n')
        const size = lineEnd < 0 ? NaN : parseInt(after.slice(0, lineEnd), 16)
        if (Number.isNaN(size)) return out
        body += after.slice(lineEnd + 2, lineEnd + 2 + size)
        after = after.slice(lineEnd + 2 + size + 2)
        if (size === 0) break
      }
    } else {
      const length = Number(headers['content-length'] ?? 0)
      body = after.slice(0, length)
      after = after.slice(length)
    }
    out.push({ status: Number(m[1]), headers, body })
    rest = after
  }
}

/** Targets of barrier requests start with this; tests leave them out of what they assert. */
export const BARRIER_PREFIX = '/barrier-'
let barriers = 0

/**
 * Sends one plain GET with a fresh `/barrier-N` target on a new connection and resolves once `upstream` has
 * received it. Whatever the gateway dispatched for an earlier exchange was dispatched before this one, so after
 * the barrier a test can assert what did (or did not) reach the upstream without a timer.
 */
export async function barrier(
  target: RawTarget,
  host: string,
  upstream: Pick<RawUpstream, 'requests' | 'until'>,
): Promise<void> {
  const path = `${BARRIER_PREFIX}${++barriers}`
  await rawExchange(target, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  await upstream.until(() => upstream.requests.some((r) => r.target === path))
}

export interface Outcome {
  readonly responses: ParsedResponse[]
  readonly closedByServer: boolean
  /** Requests the upstream received for this exchange (barriers left out). */
  readonly forwarded: RawRequest[]
  /** Bytes the upstream received for this exchange (barriers left out), as latin1. */
  readonly stray: string
}

export async function exchange(target: RawTarget, host: string, payload: string | Buffer, upstream: RawUpstream): Promise<Outcome> {
  upstream.reset()
  const r = await rawExchange(target, payload)
  await barrier(target, host, upstream)
  const isBarrier = (q: RawRequest): boolean => q.target.startsWith(BARRIER_PREFIX)
  let stray = upstream.received().toString('latin1')
  for (const q of upstream.requests) if (isBarrier(q)) stray = stray.replace(q.raw.toString('latin1'), '')
  return {
    responses: parseResponses(r.text),
    closedByServer: r.closedByServer,
    forwarded: upstream.requests.filter((q) => !isBarrier(q)),
    stray,
  }
}

export interface H2Outcome {
  readonly status: number | undefined
  /** Error code of a stream that ended without a complete answer (e.g. ERR_HTTP2_STREAM_ERROR). */
  readonly error: string | undefined
}

/**
 * One HTTP/2 request on its own session: GET `/` with the SNI name as `:authority` unless `headers` say otherwise
 * (a CONNECT gets no `:path`); `body` undefined sends none.
 */
export function h2Exchange(target: RawTarget, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Outcome> {
  return new Promise((resolve) => {
    const servername = target.servername ?? 'a.test'
    const session = http2.connect(`https://127.0.0.1:${target.port}`, { servername, ca: target.ca })
    let status: number | undefined
    let error: string | undefined
    const done = (): void => {
      session.destroy()
      resolve({ status, error })
    }
    session.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message
      done()
    })
    const base = headers[':method'] === 'CONNECT' ? { ':authority': servername } : { ':method': 'GET', ':path': '/', ':authority': servername }
    const req = session.request({ ...base, ...headers }, { endStream: body === undefined })
    req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL))
    req.on('response', (h) => {
      status = Number(h[':status'])
    })
    req.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message
    })
    req.resume()
    req.on('close', done)
    if (body !== undefined) req.end(body)
  })
}
