/**
 * A raw upstream for hostile-input tests: a node:net server on 127.0.0.1 that records EXACTLY the bytes it
 * received on each connection, and answers every request it can frame with a fixed, valid HTTP/1.1 response
 * (`200`, `Content-Length: 2`, body `ok`, keep-alive), or with whatever `answer` returns.
 *
 * Its request parser is deliberately small and strict: a head ending in CRLF CRLF, then a body framed by
 * Content-Length or by chunked encoding (no trailers). Anything else marks the connection `malformed` and
 * parsing stops there (the bytes are still recorded). So a test can assert "the upstream received exactly one
 * request, with these bytes" (`requests`, `connections[i].bytes`) or "the upstream received nothing"
 * (`received().length === 0`).
 *
 * API:
 * - `startRawUpstream(t, answer?)` → `RawUpstream` (closed at teardown).
 * - `answer(request, connection)` returns the bytes to write for one request, or `null` to write nothing (hold).
 * - `received()`: every byte received since the start (or the last `reset()`), all connections concatenated.
 * - `until(predicate, timeoutMs)`: resolves once `predicate()` holds, re-checked after every byte and every close
 *   (an event, not a timer window); rejects with a message after `timeoutMs`.
 * - `reset()` forgets what was recorded, for tests that share one upstream: closed connections go, live ones
 *   (kept alive by the gateway's pool) stay listed with no bytes yet.
 */
import net from 'node:net'

export interface RawRequest {
  /** The exact bytes of this request: head and body. */
  readonly raw: Buffer
  readonly method: string
  readonly target: string
  /** Header lines in order, names lower-cased, values trimmed. */
  readonly headers: Array<[string, string]>
  /** The body as framed (chunked bodies de-chunked). */
  readonly body: Buffer
}

export interface RawConnection {
  /** Every byte received on this connection so far. */
  bytes: Buffer
  readonly requests: RawRequest[]
  /** Set when bytes arrived that the parser could not frame as a request. */
  malformed: boolean
  /** Set when the connection has closed (either side). */
  closed: boolean
}

export interface RawUpstream {
  readonly port: number
  readonly url: string
  readonly connections: RawConnection[]
  /** Every request framed so far, across connections, in arrival order. */
  readonly requests: RawRequest[]
  received(): Buffer
  until(predicate: () => boolean, timeoutMs?: number): Promise<void>
  reset(): void
  close(): Promise<void>
}

export type Answer = (request: RawRequest, connection: RawConnection) => string | Buffer | null

export const OK_RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'

export async function startRawUpstream(
  t: { teardown(fn: () => unknown): void },
  answer: Answer = () => OK_RESPONSE,
): Promise<RawUpstream> {
  const connections: RawConnection[] = []
  const requests: RawRequest[] = []
  /** Live connections and how far each one's bytes have been framed. */
  const live = new Map<net.Socket, { conn: RawConnection; parsed: number }>()
  const waiters = new Set<() => void>()
  const changed = (): void => {
    for (const w of waiters) w()
  }
  const server = net.createServer((socket) => {
    const state = { conn: { bytes: Buffer.alloc(0), requests: [], malformed: false, closed: false } as RawConnection, parsed: 0 }
    live.set(socket, state)
    connections.push(state.conn)
    socket.on('close', () => {
      live.delete(socket)
      state.conn.closed = true
      changed()
    })
    socket.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => {
      const conn = state.conn
      conn.bytes = Buffer.concat([conn.bytes, chunk])
      while (!conn.malformed) {
        const r = frameRequest(conn.bytes, state.parsed)
        if (r === 'incomplete') break
        if (r === 'malformed') {
          conn.malformed = true
          break
        }
        state.parsed = r.end
        conn.requests.push(r.request)
        requests.push(r.request)
        const reply = answer(r.request, conn)
        if (reply !== null && !socket.destroyed) socket.write(reply)
      }
      changed()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const close = (): Promise<void> => new Promise((r) => {
    for (const s of live.keys()) s.destroy()
    server.close(() => r())
  })
  t.teardown(close)
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections,
    requests,
    received: () => Buffer.concat(connections.map((c) => c.bytes)),
    until: (predicate, timeoutMs = 5000) => new Promise<void>((resolve, reject) => {
      if (predicate()) return resolve()
      const check = (): void => {
        if (!predicate()) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`raw upstream: condition not met within ${timeoutMs} ms`))
      }, timeoutMs)
      waiters.add(check)
    }),
    reset: () => {
      // Live connections start afresh (their unframed bytes are kept, so framing stays in step); closed ones go.
      connections.length = 0
      requests.length = 0
      for (const state of live.values()) {
        state.conn = { bytes: state.conn.bytes.subarray(state.parsed), requests: [], malformed: state.conn.malformed, closed: false }
        state.parsed = 0
        connections.push(state.conn)
      }
    },
    close,
  }
}

type Framed = { request: RawRequest; end: number } | 'incomplete' | 'malformed'

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.1$/
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/

/** Frames one request starting at `start`. Strict on purpose: whatever a lenient parser would guess is malformed. */
function frameRequest(buf: Buffer, start: number): Framed {
  if (start >= buf.length) return 'incomplete'
  const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1')
  if (headEnd < 0) return buf.length - start > 65536 ? 'malformed' : 'incomplete'
  const lines = buf.toString('latin1', start, headEnd).split('\r\n')
  const first = REQUEST_LINE.exec(lines[0] ?? '')
  if (!first) return 'malformed'
  const headers: Array<[string, string]> = []
  for (const line of lines.slice(1)) {
    const h = HEADER_LINE.exec(line)
    if (!h || /[\r\n\0]/.test(line)) return 'malformed'
    headers.push([h[1]!.toLowerCase(), h[2]!])
  }
  const te = headers.filter(([n]) => n === 'transfer-encoding')
  const cl = headers.filter(([n]) => n === 'content-length')
  let pos = headEnd + 4
  let body: Buffer
  if (te.length > 0) {
    if (cl.length > 0 || te.length > 1 || te[0]![1].toLowerCase() !== 'chunked') return 'malformed'
    const parts: Buffer[] = []
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos, 'latin1')
      if (lineEnd < 0) return 'incomplete'
      const sizeText = buf.toString('latin1', pos, lineEnd)
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return 'malformed'
      const size = parseInt(sizeText, 16)
      if (buf.length < lineEnd + 2 + size + 2) return 'incomplete'
      if (buf.toString('latin1', lineEnd + 2 + size, lineEnd + 4 + size) !== '\r\n') return 'malformed'
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size))
      pos = lineEnd + 4 + size
      if (size === 0) break
    }
    body = Buffer.concat(parts)
  } else if (cl.length > 0) {
    if (cl.length > 1 || !/^\d{1,15}$/.test(cl[0]![1])) return 'malformed'
    const length = Number(cl[0]![1])
    if (buf.length < pos + length) return 'incomplete'
    body = buf.subarray(pos, pos + length)
    pos += length
  } else {
    body = Buffer.alloc(0)
  }
  return {
    request: { raw: Buffer.from(buf.subarray(start, pos)), method: first[1]!, target: first[2]!, headers, body },
    end: pos,
  }
}
