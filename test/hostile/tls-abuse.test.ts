/**
 * Abuse of the TLS layer, on real sockets, with `limits.handshakeTimeout: 1s`.
 *
 * Proves that garbage instead of a ClientHello (plaintext HTTP, random bytes) is closed at once; that TCP
 * connections that send nothing, or a ClientHello that never finishes, are closed at the handshake timeout (not
 * Node's 120 s default); that a TLS 1.2 renegotiation asked by the client is refused and the connection closed
 * cleanly; and that the gateway serves HTTP/1.1 and HTTP/2 clients with 200 after each attack. None of it reaches
 * the upstream.
 */
import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { randomBytes } from 'node:crypto'
import { h1, h2, startLocalhostGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const HANDSHAKE_TIMEOUT = 1000
/** Slack for a loaded machine. */
const SLACK = 2000
const GIVE_UP = HANDSHAKE_TIMEOUT + SLACK + 1000

async function setup(t: { teardown(fn: () => unknown): void }): Promise<{ gw: TestGateway; up: Upstream }> {
  const up = await startUpstream(t)
  const gw = await startLocalhostGateway(t, up.url, `limits: { handshakeTimeout: ${HANDSHAKE_TIMEOUT}ms }`)
  return { gw, up }
}

/**
 * A raw TCP connection that sends `bytes` (maybe none) and never anything else, nor closes: resolves with how long
 * the gateway took to close it, or Infinity if it was still open after GIVE_UP ms.
 */
function rawUntilClosed(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const start = performance.now()
    const socket = net.connect({ host: '127.0.0.1', port }, () => { if (bytes.length > 0) socket.write(bytes) })
    socket.on('error', () => {})
    socket.resume()
    const giveUp = setTimeout(() => {
      resolve(Infinity)
      socket.destroy()
    }, GIVE_UP)
    socket.once('close', () => {
      clearTimeout(giveUp)
      resolve(performance.now() - start)
    })
  })
}

/** The gateway's open TCP connections, once they drop to zero (polled; bounded): Infinity if they never do. */
async function settledConnections(gw: TestGateway): Promise<number> {
  const server = gw.runtime.gateway.server
  const deadline = performance.now() + SLACK
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => server.getConnections((err, count) => err ? reject(err) : resolve(count)))
    if (n === 0) return 0
    if (performance.now() > deadline) return n
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function servesAfterwards(t: { equal(a: unknown, b: unknown, m: string): unknown }, gw: TestGateway): Promise<void> {
  t.equal((await h1(gw.port)).status, 200, 'an HTTP/1.1 client is served afterwards')
  t.equal((await h2(gw.port)).status, 200, 'an HTTP/2 client is served afterwards')
}

/** A TLS 1.2 handshake record header announcing `declared` bytes, followed by the start of a ClientHello. */
function truncatedClientHello(declared: number, sent: number): Buffer {
  const head = Buffer.from([0x16, 0x03, 0x01, declared >> 8, declared & 0xff, 0x01, 0x00, (declared - 4) >> 8, (declared - 4) & 0xff, 0x03, 0x03])
  return Buffer.concat([head, randomBytes(sent - head.length)])
}

t.test('garbage instead of a ClientHello is closed at once', async (t) => {
  const { gw, up } = await setup(t)
  const garbage: Array<[string, Buffer]> = [
    ['plaintext HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')],
    ['random bytes', Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), randomBytes(2048)])],
    ['a handshake record of an unknown message', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x63, 0x00, 0x00, 0x00])],
  ]
  for (const [name, bytes] of garbage) {
    const elapsed = await rawUntilClosed(gw.port, bytes)
    t.ok(elapsed < HANDSHAKE_TIMEOUT, `${name}: closed by the gateway in ${Math.round(elapsed)} ms, before any timeout`)
  }
  t.ok(gw.logs.some((l) => l['code'] === 'RAMPART_ERR_TLS_HANDSHAKE'), 'failed handshakes are logged with their code')
  t.equal(await settledConnections(gw), 0, 'the gateway holds none of those connections open')
  await servesAfterwards(t, gw)
  t.equal(up.requests.length, 2, 'only the two well-behaved requests reached the upstream')
})

t.test('silent connections and unfinished ClientHellos are closed at the handshake timeout', async (t) => {
  const { gw, up } = await setup(t)
  const silent = Array.from({ length: 20 }, () => rawUntilClosed(gw.port, Buffer.alloc(0)))
  const partial = Array.from({ length: 20 }, () => rawUntilClosed(gw.port, truncatedClientHello(512, 64)))
  t.equal((await h1(gw.port)).status, 200, 'served while 40 connections hang in their handshake')
  const times = await Promise.all([...silent, ...partial])
  const slowest = Math.max(...times)
  const fastest = Math.min(...times)
  t.ok(fastest >= HANDSHAKE_TIMEOUT - 50, `none closed before the handshake timeout (first after ${Math.round(fastest)} ms)`)
  t.ok(slowest < HANDSHAKE_TIMEOUT + SLACK, `all 40 closed soon after it (last after ${Math.round(slowest)} ms; Node's default is 120 s)`)
  t.equal(await settledConnections(gw), 0, 'the gateway holds none of them open')
  await servesAfterwards(t, gw)
  t.equal(up.requests.length, 3)
})

t.test('a client-initiated TLS 1.2 renegotiation is refused and the connection closed cleanly', async (t) => {
  const { gw } = await setup(t)
  const socket = tls.connect({
    host: '127.0.0.1', port: gw.port, servername: 'localhost', rejectUnauthorized: false,
    maxVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'],
  })
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()))
  t.equal(socket.getProtocol(), 'TLSv1.2')
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const giveUp = setTimeout(() => socket.destroy(new Error('still open')), GIVE_UP)
  const outcome = await new Promise<Error | undefined>((resolve) => {
    socket.once('error', resolve)
    socket.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err ?? undefined))
  })
  await closed
  clearTimeout(giveUp)
  t.equal((outcome as NodeJS.ErrnoException | undefined)?.code, 'ERR_SSL_NO_RENEGOTIATION', 'the server answered no_renegotiation')
  t.equal(await settledConnections(gw), 0, 'the gateway closed its side too (no connection left half-dead)')
  await servesAfterwards(t, gw)
})
