/**
 * A misbehaving upstream for gateway tests: a raw node:net server on 127.0.0.1 where each request path is answered
 * by a script that writes exactly the bytes it wants, when it wants, and may then close the connection or hold it
 * open. It counts connections and requests, so a test can tell whether the gateway reused, dropped or retried an
 * upstream connection after a fault.
 *
 * Requests are framed by their head alone (up to CRLF CRLF): the gateway forwards the GET and HEAD requests these
 * tests make without a body. A path with no script gets `HEALTHY`, a valid keep-alive answer.
 */
import net from 'node:net'

export interface SeenRequest {
  readonly method: string
  /** The request target as received. */
  readonly path: string
  /** The request head as received (latin1), request line included. */
  readonly head: string
  /** Which connection carried it: 1 for the first one accepted, 2 for the next... */
  readonly connection: number
}

/** Answers one request by writing to (or ending, or ignoring) the connection it came on. */
export type Script = (socket: net.Socket, request: SeenRequest) => void

export const HEALTHY_BODY = 'healthy'
export const HEALTHY = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${HEALTHY_BODY.length}\r\n\r\n${HEALTHY_BODY}`

/** Writes `bytes` (latin1: one char, one byte) and keeps the connection open, as a keep-alive server would. */
export const send = (bytes: string): Script => (socket) => {
  socket.write(Buffer.from(bytes, 'latin1'))
}

/** Writes `bytes`, then closes the connection (FIN), whatever the framing promised. */
export const sendThenClose = (bytes: string): Script => (socket) => {
  socket.end(Buffer.from(bytes, 'latin1'))
}

/** Accepts the request and never answers. */
export const silence: Script = () => {}

export interface BadUpstream {
  readonly port: number
  readonly url: string
  /** Every request received, in arrival order. */
  readonly requests: SeenRequest[]
  /** Connections accepted so far. */
  connections(): number
  close(): Promise<void>
}

export async function startBadUpstream(
  t: { teardown(fn: () => unknown): void },
  scripts: Readonly<Record<string, Script>>,
): Promise<BadUpstream> {
  const requests: SeenRequest[] = []
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer((socket) => {
    const connection = ++accepted
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let pending = ''
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end + 4)
        pending = pending.slice(end + 4)
        const [method = '', path = ''] = head.slice(0, head.indexOf('\r\n')).split(' ')
        const request: SeenRequest = { method, path, head, connection }
        requests.push(request)
        if (!socket.destroyed) (scripts[path] ?? send(HEALTHY))(socket, request)
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const close = (): Promise<void> => new Promise((r) => {
    for (const s of sockets) s.destroy()
    server.close(() => r())
  })
  t.teardown(close)
  return { port, url: `http://127.0.0.1:${port}`, requests, connections: () => accepted, close }
}
