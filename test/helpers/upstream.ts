/** Real upstream servers for tests: plain node:http on 127.0.0.1, with a request log to assert what arrived. */
import http from 'node:http'
import net from 'node:net'

export interface Upstream {
  readonly port: number
  readonly url: string
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }>
  close(): Promise<void>
}

export async function startUpstream(
  t: { teardown(fn: () => unknown): void },
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = echoHandler,
): Promise<Upstream> {
  const requests: Upstream['requests'] = []
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders })
    handler(req, res)
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const close = () => new Promise<void>((r) => {
    server.closeAllConnections()
    server.close(() => r())
  })
  t.teardown(close)
  return { port, url: `http://127.0.0.1:${port}`, requests, close }
}

/** Answers with JSON describing the request it received. */
export function echoHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), server: 'Apache', 'x-powered-by': 'PHP/8.2' })
    res.end(body)
  })
}

/** A port with nothing listening (bound then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}
