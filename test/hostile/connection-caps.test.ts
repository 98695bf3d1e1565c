/**
 * Connection caps on real sockets: `limits.maxConnectionsPerIp` and `limits.maxConnections`.
 *
 * Proves that the connection past a cap is closed before any TLS handshake while the connections already open keep
 * being served, that another address (127.0.0.2, same loopback) is still admitted, that a slot freed by a closing
 * connection is usable again, that the listener reports each refusal, and that the plain-HTTP listener has the
 * same caps.
 */
import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { LISTEN_HTTPS_ONLY, h1, startLocalhostGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { CONNECTION_REFUSED, type ConnectionRefusal } from '../../src/server/tls-server.js'

type Outcome = tls.TLSSocket | 'refused'

/** A TLS connection from `localAddress`: the socket once handshaken, or 'refused' if the server closed it first. */
function connectTls(port: number, localAddress = '127.0.0.1'): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      socket: net.connect({ host: '127.0.0.1', port, localAddress }),
      servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'],
    })
    socket.once('secureConnect', () => resolve(socket))
    socket.on('error', () => {})
    socket.once('close', () => resolve('refused'))
    socket.setTimeout(10_000, () => socket.destroy())
  })
}

/** A plain TCP connection that sends a request: the status line it gets, or 'refused' when closed with no answer. */
function plainRequest(port: number, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress })
    let text = ''
    socket.on('data', (c: Buffer) => { text += c.toString('latin1') })
    socket.on('error', () => {})
    socket.once('close', () => resolve(text === '' ? 'refused' : text.split('\r\n')[0]!))
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    socket.setTimeout(10_000, () => socket.destroy())
  })
}

/** One keep-alive GET on an open connection; resolves with the status once the whole response has arrived. */
function getOn(socket: tls.TLSSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c])
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.subarray(0, end).toString('latin1')
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 'NaN')
      if (buf.length < end + 4 + length) return
      socket.off('data', onData)
      resolve(Number(head.split(' ')[1]))
    }
    socket.on('data', onData)
    socket.once('close', () => reject(new Error('connection closed before the response')))
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
  })
}

function opened(outcomes: Outcome[]): tls.TLSSocket[] {
  return outcomes.filter((o): o is tls.TLSSocket => o !== 'refused')
}

/** Closes a connection and waits for the close; the server frees its slot when it sees it. */
function closeConnection(socket: tls.TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve())
    socket.end()
  })
}

/** A new connection after a close: retried a few times, since the server counts the close on its own event. */
async function connectAfterClose(port: number, localAddress: string): Promise<Outcome> {
  for (let i = 0; i < 20; i++) {
    const outcome = await connectTls(port, localAddress)
    if (outcome !== 'refused') return outcome
    await new Promise((r) => setTimeout(r, 25))
  }
  return 'refused'
}

async function gatewayWithCaps(t: { teardown(fn: () => unknown): void }, limits: string, listen = LISTEN_HTTPS_ONLY): Promise<{ gw: TestGateway; refusals: ConnectionRefusal[] }> {
  const up = await startUpstream(t)
  const gw = await startLocalhostGateway(t, up.url, `limits: ${limits}`, listen)
  const refusals: ConnectionRefusal[] = []
  gw.runtime.gateway.server.on(CONNECTION_REFUSED, (r: ConnectionRefusal) => refusals.push(r))
  return { gw, refusals }
}

t.test('per address: the (N+1)th connection is closed before TLS, the others keep working', async (t) => {
  const { gw, refusals } = await gatewayWithCaps(t, '{ maxConnectionsPerIp: 3, maxConnections: 100 }')
  const held = opened(await Promise.all([1, 2, 3].map(() => connectTls(gw.port))))
  t.teardown(() => { for (const s of held) s.destroy() })
  t.equal(held.length, 3, 'three connections from 127.0.0.1 are admitted')
  for (const s of held) t.equal(await getOn(s), 200)

  t.equal(await connectTls(gw.port), 'refused', 'the fourth from 127.0.0.1 is closed without a handshake')
  t.same(refusals, [{ ip: '127.0.0.1', cap: 'per-ip' }], 'the listener reported the refusal')
  t.ok(gw.logs.some((l) => l['code'] === 'RAMPART_ERR_HTTP_TOO_MANY_CONNECTIONS' && l['cap'] === 'per-ip' && l['refused'] === 1),
    'the refusal is logged with its code and count')
  const metrics = await gw.runtime.metrics.registry.getSingleMetricAsString('rampart_connections_refused_total')
  t.match(metrics, /rampart_connections_refused_total\{listener="https",cap="per-ip"\} 1/, 'and counted in the metrics')

  const other = await connectTls(gw.port, '127.0.0.2')
  t.not(other, 'refused', 'another address is admitted')
  if (other !== 'refused') {
    t.equal(await getOn(other), 200)
    other.destroy()
  }
  for (const s of held) t.equal(await getOn(s), 200, 'the admitted connections are still served')

  await closeConnection(held.pop()!)
  const again = await connectAfterClose(gw.port, '127.0.0.1')
  t.not(again, 'refused', 'after one closes, a new connection from 127.0.0.1 is accepted')
  if (again !== 'refused') {
    held.push(again)
    t.equal(await getOn(again), 200)
  }
  t.equal(await connectTls(gw.port), 'refused', 'and the cap holds again')
})

t.test('in total: the connection past maxConnections is closed whatever its address', async (t) => {
  const { gw, refusals } = await gatewayWithCaps(t, '{ maxConnectionsPerIp: 3, maxConnections: 4 }')
  const held = opened(await Promise.all([
    connectTls(gw.port, '127.0.0.1'), connectTls(gw.port, '127.0.0.1'), connectTls(gw.port, '127.0.0.2'), connectTls(gw.port, '127.0.0.2'),
  ]))
  t.teardown(() => { for (const s of held) s.destroy() })
  t.equal(held.length, 4)
  t.equal(await connectTls(gw.port, '127.0.0.3'), 'refused', 'a fresh address is refused when the total is reached')
  t.same(refusals, [{ ip: '127.0.0.3', cap: 'total' }])
  for (const s of held) t.equal(await getOn(s), 200, 'the admitted connections are still served')

  await closeConnection(held.shift()!)
  const again = await connectAfterClose(gw.port, '127.0.0.3')
  t.not(again, 'refused', 'a freed slot admits a new connection')
  if (again !== 'refused') held.push(again)
  await t.rejects(h1(gw.port), 'the total holds again for a request on a new connection')
})

t.test('the plain-HTTP listener has the same caps', async (t) => {
  const { gw } = await gatewayWithCaps(t, '{ maxConnectionsPerIp: 2, maxConnections: 100 }', `listen:
  https: { host: 127.0.0.1, port: 0 }
  http: { enabled: true, host: 127.0.0.1, port: 0 }
`)
  const port = gw.httpPort!
  const held = await Promise.all([1, 2].map(() => new Promise<net.Socket>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s))
  })))
  t.teardown(() => { for (const s of held) s.destroy() })
  t.equal(await plainRequest(port), 'refused', 'a third connection from the same address is closed unanswered')
  t.match(await plainRequest(port, '127.0.0.2'), /^HTTP\/1\.1 308/, 'another address still gets its redirect')
})
