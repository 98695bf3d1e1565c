/**
 * Slow clients on real TLS sockets, with `limits.headersTimeout: 1s` and `limits.requestTimeout: 2s`.
 *
 * Proves that a slowloris (headers dribbled one byte at a time) gets 408 and a closed connection about
 * headersTimeout after it started (not up to 30 s later, Node's default check interval), and never reaches the
 * upstream; that a slow HTTP/1.1 body is cut at requestTimeout and the upstream sees its request aborted; that an
 * HTTP/2 stream whose body never ends is reset at requestTimeout while its session goes on serving; and that other
 * clients get 200 while each attack is going on.
 */
import t from 'tap'
import http2 from 'node:http2'
import tls from 'node:tls'
import type http from 'node:http'
import { h1, h2, startLocalhostGateway } from '../helpers/gateway.js'
import { echoHandler, startUpstream } from '../helpers/upstream.js'

const HEADERS_TIMEOUT = 1000
const REQUEST_TIMEOUT = 2000
/** Late by at most Rampart's check interval (250 ms here), plus slack for a loaded machine. */
const SLACK = 2000
const DRIBBLE_MS = 50

/** What the upstream saw of each slow request: bytes of body, and whether it ended or was aborted. */
interface Seen { bytes: number; ended: boolean; aborted: boolean; closed: Promise<void> }

async function setup(t: { teardown(fn: () => unknown): void }) {
  const seen = new Map<string, Seen>()
  const up = await startUpstream(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!req.url?.startsWith('/slow')) return echoHandler(req, res)
    let closed!: () => void
    const s: Seen = { bytes: 0, ended: false, aborted: false, closed: new Promise((r) => { closed = r }) }
    seen.set(req.url, s)
    req.on('data', (c: Buffer) => { s.bytes += c.length })
    req.on('end', () => { s.ended = true })
    req.on('aborted', () => { s.aborted = true })
    req.on('error', () => {})
    req.socket.once('close', () => closed())
  })
  const gw = await startLocalhostGateway(t, up.url, `limits: { headersTimeout: ${HEADERS_TIMEOUT}ms, requestTimeout: ${REQUEST_TIMEOUT}ms }`)
  return { gw, up, seen }
}

interface Dribbled {
  /** Everything the gateway sent back, as text. */
  readonly answer: string
  /** Milliseconds from the first byte sent to the connection's close. */
  readonly elapsed: number
  readonly bytesSent: number
}

/**
 * Sends `head` at once, then `dribble` one byte every DRIBBLE_MS until the gateway closes the connection.
 * Gives up (and says so in `answer`) after `giveUpMs`, so a gateway that never cuts fails the test, bounded.
 */
function dribble(port: number, head: string, dribble: string, giveUpMs: number, whileSlow: () => Promise<void>): Promise<Dribbled> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    let answer = ''
    let sent = 0
    let start = 0
    let timer: NodeJS.Timeout | undefined
    socket.on('data', (c: Buffer) => { answer += c.toString('latin1') })
    socket.on('error', () => {})
    socket.once('secureConnect', () => {
      start = performance.now()
      socket.write(head)
      timer = setInterval(() => {
        if (sent < dribble.length && socket.writable) socket.write(dribble[sent++]!)
      }, DRIBBLE_MS)
      whileSlow().catch(reject)
    })
    const giveUp = setTimeout(() => {
      answer = `(still open after ${giveUpMs} ms) ${answer}`
      socket.destroy()
    }, giveUpMs)
    socket.once('close', () => {
      clearInterval(timer)
      clearTimeout(giveUp)
      resolve({ answer, elapsed: performance.now() - start, bytesSent: head.length + sent })
    })
  })
}

t.test('slowloris: headers dribbled byte by byte get 408 at headersTimeout and never reach the upstream', async (t) => {
  const { gw, up } = await setup(t)
  let servedMeanwhile: number[] = []
  const r = await dribble(gw.port, 'GET /slowloris HTTP/1.1\r\nHost: localhost\r\n', `X-Slow: ${'a'.repeat(400)}\r\n\r\n`,
    HEADERS_TIMEOUT + SLACK + 1000, async () => {
      servedMeanwhile = [(await h1(gw.port)).status, (await h2(gw.port)).status]
    })
  t.match(r.answer, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'answered 408, then closed')
  t.ok(r.elapsed >= HEADERS_TIMEOUT - 50, `cut after headersTimeout (${Math.round(r.elapsed)} ms)`)
  t.ok(r.elapsed < HEADERS_TIMEOUT + SLACK, `cut soon after headersTimeout, not at Node's 30 s check (${Math.round(r.elapsed)} ms)`)
  t.ok(r.bytesSent < 100, `the headers were never complete (${r.bytesSent} bytes sent)`)
  t.same(servedMeanwhile, [200, 200], 'other clients (HTTP/1.1 and HTTP/2) were served during the attack')
  t.notOk(up.requests.some((q) => q.url === '/slowloris'), 'the upstream never received the request')
})

t.test('slow HTTP/1.1 body: cut at requestTimeout, the upstream sees the request aborted', async (t) => {
  const { gw, up, seen } = await setup(t)
  let servedMeanwhile = 0
  const r = await dribble(gw.port,
    'POST /slow-post HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789',
    'x'.repeat(990), REQUEST_TIMEOUT + SLACK + 1000, async () => {
      servedMeanwhile = (await h1(gw.port, { method: 'POST', path: '/fast', body: 'quick' })).status
    })
  t.match(r.answer, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'answered 408, then closed')
  t.ok(r.elapsed >= REQUEST_TIMEOUT - 50, `cut after requestTimeout (${Math.round(r.elapsed)} ms)`)
  t.ok(r.elapsed < REQUEST_TIMEOUT + SLACK, `cut soon after requestTimeout (${Math.round(r.elapsed)} ms)`)
  t.equal(servedMeanwhile, 200, 'another client was served during the attack')
  const s = seen.get('/slow-post')
  t.ok(s, 'the request was streamed to the upstream as it came (bodies are never buffered)')
  await s?.closed
  t.equal(s?.ended, false, 'the upstream never saw a complete body')
  t.equal(s?.aborted, true, 'the upstream saw the request aborted')
  t.ok((s?.bytes ?? 0) < 1000, `the upstream received only part of the body (${s?.bytes} of 1000 bytes)`)
  t.ok(up.requests.some((q) => q.url === '/fast'))
})

t.test('HTTP/2: a stream whose body never ends is reset at requestTimeout; its session keeps serving', async (t) => {
  const { gw, seen } = await setup(t)
  const session = http2.connect(`https://127.0.0.1:${gw.port}`, { servername: 'localhost', rejectUnauthorized: false })
  t.teardown(() => session.destroy())
  session.on('error', () => {})
  const start = performance.now()
  const stream = session.request({ ':method': 'POST', ':path': '/slow-h2', ':authority': 'localhost', 'content-length': '1000' })
  stream.on('error', () => {})
  stream.write('0123456789')
  const giveUp = setTimeout(() => stream.close(http2.constants.NGHTTP2_NO_ERROR), REQUEST_TIMEOUT + SLACK + 1000)
  const [status] = await Promise.all([
    h1(gw.port).then((r) => r.status),
    new Promise<void>((resolve) => stream.once('close', () => resolve())),
  ])
  clearTimeout(giveUp)
  const elapsed = performance.now() - start
  t.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL, 'the gateway reset the stream (CANCEL)')
  t.ok(elapsed >= REQUEST_TIMEOUT - 50, `reset after requestTimeout (${Math.round(elapsed)} ms)`)
  t.ok(elapsed < REQUEST_TIMEOUT + SLACK, `reset soon after requestTimeout (${Math.round(elapsed)} ms)`)
  t.equal(status, 200, 'another client was served meanwhile')
  const s = seen.get('/slow-h2')
  t.ok(s, 'the request was streamed to the upstream')
  await s?.closed
  t.equal(s?.ended, false, 'the upstream never saw a complete body')
  t.equal(s?.aborted, true, 'the upstream saw the request aborted')

  const again = session.request({ ':path': '/', ':authority': 'localhost' })
  const code = await new Promise<number>((resolve, reject) => {
    again.on('response', (h) => resolve(Number(h[':status'])))
    again.on('error', reject)
  })
  again.close()
  t.equal(code, 200, 'the same session still serves other streams')
})
