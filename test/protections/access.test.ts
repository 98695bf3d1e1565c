/**
 * Access rules through a running gateway, over real sockets: the client address comes from the socket unless the
 * peer is a trusted proxy, so a spoofed X-Forwarded-For from an untrusted peer is still refused, and a trusted proxy
 * forwarding an allowed address gets in. Path spellings that an upstream reads as the protected path are refused
 * too. Refusals carry the request id, never reach the upstream, and are logged and counted. WebSocket upgrades get
 * the same decision through `upgradeGate`, and a reload applies new rules at once.
 */
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { startGateway, h1, h2, type TestGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { createLogger } from '../../src/log/logger.js'
import { handleUpgrade } from '../../src/proxy/websocket.js'
import { upgradeGate } from '../../src/protections/access.js'

const up = await startUpstream(t)

const RULES = `access:
  - { name: admin-office, pathPrefix: /admin, allow: [10.0.0.0/8, 203.0.113.7/32] }
  - { name: blocklist, pathPrefix: /, deny: [192.0.2.0/24] }
  - { name: private-b, site: other, pathPrefix: /private, deny: [127.0.0.0/8] }
`

function config(trusted: string, access = RULES): string {
  return `listen:
  https: { host: 127.0.0.1, port: 0, http2: true }
  http: { enabled: false }
trustedProxies: ${trusted}
tls:
  certificates:
    - { hosts: [localhost, a.test], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [localhost]
    upstream: ${up.url}
  - name: other
    hosts: [a.test]
    upstream: ${up.url}
threats: { mode: off }
${access}`
}

const direct = await startGateway(t, config('[]'))
const behindProxy = await startGateway(t, config('[127.0.0.0/8]'))

function seen(path: string): number {
  return up.requests.filter((r) => r.url === path).length
}

function denials(gw: TestGateway, reqId: string): Array<Record<string, unknown>> {
  return gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_ACCESS_DENIED' && l['reqId'] === reqId)
}

async function deniedCount(gw: TestGateway): Promise<number> {
  const text = await gw.runtime.metrics.registry.getSingleMetricAsString('rampart_protection_events_total')
  return Number(/protection="access",outcome="denied"\} (\d+)/.exec(text)?.[1] ?? 0)
}

t.test('a refusal: 403 page with the request id, not proxied, logged with the rule, counted', async (t) => {
  const before = seen('/admin')
  const counted = await deniedCount(direct)
  const res = await h1(direct.port, { path: '/admin' })
  t.equal(res.status, 403)
  const reqId = res.headers['x-request-id'] as string
  t.match(res.body, reqId, 'the page carries the request id')
  t.match(res.body, 'You do not have access to this page from your network.')
  t.equal(seen('/admin'), before, 'the upstream never saw it')
  t.match(denials(direct, reqId), [{ level: 'info', rule: 'admin-office', clientIp: '127.0.0.1', remoteIp: '127.0.0.1', site: 'club', path: '/admin' }])
  t.equal(await deniedCount(direct), counted + 1, 'rampart_protection_events_total{access,denied}')
})

t.test('a spoofed X-Forwarded-For from an untrusted peer changes nothing', async (t) => {
  for (const xff of ['10.1.2.3', '203.0.113.7', '10.1.2.3, 10.9.9.9']) {
    const res = await h1(direct.port, { path: '/admin', headers: { 'x-forwarded-for': xff } })
    t.equal(res.status, 403, `X-Forwarded-For: ${xff}`)
    t.match(denials(direct, res.headers['x-request-id'] as string), [{ clientIp: '127.0.0.1' }])
  }
  t.equal((await h2(direct.port, { path: '/admin', headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 403, 'HTTP/2 too')
})

t.test('behind a trusted proxy the forwarded client address decides', async (t) => {
  const table: Array<[string, string | undefined, number]> = [
    ['/admin', '10.1.2.3', 200],
    ['/admin', '203.0.113.7', 200],
    ['/admin/users', '10.200.0.1', 200],
    ['/admin', '203.0.113.9', 403],
    ['/admin', '10.1.2.3, 203.0.113.9', 403], // the client wrote the left part itself; the proxy saw 203.0.113.9
    ['/admin', '203.0.113.9, 127.0.0.5', 403], // proxies in front of proxies are peeled off
    ['/admin', '10.1.2.3, 127.0.0.5', 200],
    ['/admin', undefined, 403], // no header: the proxy itself is the client
    ['/', '192.0.2.44', 403],
    ['/', '198.51.100.1', 200],
  ]
  for (const [path, xff, status] of table) {
    const res = await h1(behindProxy.port, { path, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } })
    t.equal(res.status, status, `${path} from ${xff ?? 'the proxy'}`)
  }
  const res = await h2(behindProxy.port, { path: '/admin', headers: { 'x-forwarded-for': '10.1.2.3' } })
  t.equal(res.status, 200, 'HTTP/2 through the proxy')
})

t.test('every spelling of a protected path is refused; neighbours are not', async (t) => {
  const table: Array<[string, number]> = [
    ['/admin', 403],
    ['/%61dmin', 403],
    ['/%61%64%6d%69%6e/', 403],
    ['//admin', 403],
    ['/x/../admin', 403],
    ['/./admin', 403],
    ['/%2e%2e/admin', 403],
    ['/ADMIN', 403],
    ['/Admin/Users', 403],
    ['/admin;jsessionid=1', 403],
    ['/admin/', 403],
    ['/admin?x=1', 403],
    ['/%2fadmin', 403],
    ['/administrator', 200],
    ['/adm', 200],
    ['/public/admin', 200],
    ['/', 200],
  ]
  for (const [path, status] of table) {
    const before = up.requests.length
    const res = await h1(direct.port, { path })
    t.equal(res.status, status, path)
    if (status === 403) t.equal(up.requests.length, before, `${path}: not proxied`)
  }
  t.equal((await h2(direct.port, { path: '/%61dmin' })).status, 403, 'HTTP/2: /%61dmin')
})

t.test('a rule for one site leaves the others alone', async (t) => {
  t.equal((await h1(direct.port, { host: 'a.test', path: '/private/x' })).status, 403, 'site other')
  t.equal((await h1(direct.port, { host: 'localhost', path: '/private/x' })).status, 200, 'site club')
})

t.test('WebSocket upgrades get the same decision through upgradeGate', async (t) => {
  const gate = upgradeGate(behindProxy.runtime.state)
  t.equal(gate.check!({ siteIndex: 0, path: '/%61dmin', clientIp: '203.0.113.9' }), 'RAMPART_ERR_ACCESS_DENIED')
  t.equal(gate.check!({ siteIndex: 0, path: '/admin', clientIp: '10.1.2.3' }), undefined)
  t.equal(gate.check!({ siteIndex: 0, path: '/chat', clientIp: '203.0.113.9' }), undefined)

  // A real upgrade over a socket: an upstream that accepts WebSocket upgrades, and a listener wired like the
  // runtime's, with the gate.
  const wsUpstream = http.createServer((_req, res) => res.end())
  wsUpstream.on('upgrade', (_req, socket: net.Socket) => {
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  })
  await new Promise<void>((r) => wsUpstream.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => wsUpstream.close(() => r())))
  const wsPort = (wsUpstream.address() as net.AddressInfo).port
  const ws = await startGateway(t, config('[127.0.0.0/8]').replaceAll(up.url, `http://127.0.0.1:${wsPort}`))
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) })
  const listener = http.createServer()
  listener.on('upgrade', (req, socket, head) => handleUpgrade(req, socket, head, ws.runtime.state, logger, upgradeGate(ws.runtime.state)))
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    listener.closeAllConnections()
    listener.close(() => r())
  }))
  const port = (listener.address() as net.AddressInfo).port
  const upgrade = (path: string, xff: string): Promise<string> => new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-For: ${xff}\r\n\r\n`)
    })
    let data = ''
    sock.on('data', (c: Buffer) => {
      data += c.toString('latin1')
      if (data.includes('\r\n')) {
        sock.destroy()
        resolve(data.slice(0, data.indexOf('\r\n')))
      }
    })
    sock.on('error', reject)
    sock.setTimeout(5000, () => sock.destroy(new Error('no answer')))
  })
  t.equal(await upgrade('/admin/socket', '203.0.113.9'), 'HTTP/1.1 403 Forbidden', 'refused')
  t.equal(await upgrade('/admin/socket', '10.1.2.3'), 'HTTP/1.1 101 Switching Protocols', 'allowed')
  t.equal(await upgrade('/%61dmin/socket', '203.0.113.9'), 'HTTP/1.1 403 Forbidden', 'path spelling')
})

t.test('a reload applies new rules at once; startup states the fail mode', async (t) => {
  const gw = await startGateway(t, config('[]'))
  const line = gw.logs.find((l) => l['msg'] === 'protections') as { protections: Record<string, Record<string, unknown>> }
  t.match(line.protections['access'], { failMode: 'closed', rules: ['admin-office: * /admin allow 2', 'blocklist: * / deny 1', 'private-b: other /private deny 1'] })
  t.equal((await h1(gw.port, { path: '/admin' })).status, 403)
  writeFileSync(gw.configPath, config('[]', 'access:\n  - { pathPrefix: /admin, allow: [127.0.0.1/32] }\n  - { pathPrefix: /old, deny: [127.0.0.0/8] }\n'))
  t.match(await gw.runtime.reload(), { ok: true })
  t.equal((await h1(gw.port, { path: '/admin' })).status, 200, 'now allowed')
  t.equal((await h1(gw.port, { path: '/old/page' })).status, 403, 'now denied')
  t.equal(upgradeGate(gw.runtime.state).check!({ siteIndex: 0, path: '/old', clientIp: '127.0.0.1' }), 'RAMPART_ERR_ACCESS_DENIED', 'the gate follows the reload')
  writeFileSync(gw.configPath, config('[]', ''))
  t.match(await gw.runtime.reload(), { ok: true })
  t.notOk(gw.runtime.state.plan.protections.all.some((p) => p.name === 'access'), 'no rules: no access protection')
  t.equal((await h1(gw.port, { path: '/old/page' })).status, 200)
})
