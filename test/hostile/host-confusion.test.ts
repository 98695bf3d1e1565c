/**
 * Host confusion through a real gateway with two sites, each with its own certificate and its own raw upstream.
 *
 * What it proves:
 * - Routing follows the Host header, as nginx and HAProxy do: a Host naming the other configured site reaches that
 *   site's upstream (whatever the SNI), a Host no site serves gets 421, and neither upstream sees it.
 * - A Host with a port is routed by its name and forwarded as sent; a bad port, userinfo, a list, or a missing
 *   Host gets 400.
 * - More than one Host header line gets 400 (RFC 9112 §3.2 says MUST; nginx does), whatever their values.
 * - HTTP/2: `:authority` and a `host` header that disagree get 400; userinfo 400; unknown authority 421.
 */
import t from 'tap'
import { startGateway, LISTEN_HTTPS_ONLY } from '../helpers/gateway.js'
import { startRawUpstream, type RawUpstream } from './raw-upstream.js'
import { exchange, h2Exchange, barrier, type Outcome } from './raw-client.js'

const upA = await startRawUpstream(t)
const upB = await startRawUpstream(t)
const gw = await startGateway(t, `${LISTEN_HTTPS_ONLY}
tls:
  certificates:
    - { hosts: [a.test], cert: site-a.pem, key: site-a-key.pem }
    - { hosts: [b.test], cert: site-b.pem, key: site-b-key.pem }
sites:
  - name: a
    hosts: [a.test]
    upstream: ${upA.url}
  - name: b
    hosts: [b.test]
    upstream: ${upB.url}
`, { certs: { 'site-a': ['a.test'], 'site-b': ['b.test'] } })

const target = (servername: string) => ({ port: gw.port, ca: gw.ca, servername })

/** Sends `hostLines` as the whole header block of a GET over TLS with SNI `sni`; reports both upstreams. */
async function ask(sni: string, hostLines: string, version = 'HTTP/1.1'): Promise<{ a: Outcome; bForwarded: string[] }> {
  upB.reset()
  const a = await exchange(target(sni), 'a.test', `GET /where ${version}\r\n${hostLines}Connection: close\r\n\r\n`, upA)
  await barrier(target('b.test'), 'b.test', upB)
  return { a, bForwarded: upB.requests.map((q) => q.target).filter((p) => p === '/where') }
}

const hostOf = (up: RawUpstream): string | undefined => up.requests.find((q) => q.target === '/where')?.headers.find(([n]) => n === 'host')?.[1]

t.test('routing follows Host: the other configured site, whatever the SNI; an unknown host gets 421', async (t) => {
  const own = await ask('a.test', 'Host: a.test\r\n')
  t.same(own.a.responses.map((r) => r.status), [200])
  t.same(own.a.forwarded.map((q) => q.target), ['/where'], 'control: a.test reaches upstream A')

  const cross = await ask('a.test', 'Host: b.test\r\n')
  t.same(cross.a.responses.map((r) => r.status), [200], 'SNI a.test, Host b.test: served')
  t.same(cross.a.forwarded, [], 'not by upstream A')
  t.same(cross.bForwarded, ['/where'], 'by upstream B, the site the Host names')
  t.equal(hostOf(upB), 'b.test', 'with the Host the client sent')

  for (const sni of ['a.test', 'b.test']) {
    const unknown = await ask(sni, 'Host: evil.test\r\n')
    t.same(unknown.a.responses.map((r) => r.status), [421], `SNI ${sni}, Host evil.test: 421 Misdirected Request`)
    t.same(unknown.a.forwarded, [], 'upstream A received nothing')
    t.same(unknown.bForwarded, [], 'upstream B received nothing')
  }
  for (const literal of ['127.0.0.1', '[::1]']) {
    const ip = await ask('a.test', `Host: ${literal}\r\n`)
    t.same(ip.a.responses.map((r) => r.status), [421], `Host ${literal}: 421`)
    t.equal(ip.a.stray, '', `Host ${literal}: nothing upstream`)
  }
})

t.test('Host with a port: routed by name, forwarded as sent; malformed hosts get 400', async (t) => {
  for (const host of ['a.test:443', 'a.test:8443', 'A.TEST', 'a.test.']) {
    const o = await ask('a.test', `Host: ${host}\r\n`)
    t.same(o.a.responses.map((r) => r.status), [200], `Host ${host}: 200`)
    t.equal(hostOf(upA), host, `Host ${host}: forwarded as sent`)
  }
  for (const host of ['a.test:99999', 'a.test:', 'a.test:x', 'user@a.test', 'a.test@evil.test', 'user:pw@a.test', 'a.test, b.test',
    'a.test/evil', 'a .test', 'a%2etest', '']) {
    const o = await ask('a.test', `Host: ${host}\r\n`)
    t.same(o.a.responses.map((r) => r.status), [400], `Host ${JSON.stringify(host)}: 400`)
    t.equal(o.a.stray, '', `Host ${JSON.stringify(host)}: nothing upstream`)
    t.same(o.bForwarded, [], `Host ${JSON.stringify(host)}: nothing at B either`)
  }
})

t.test('a missing Host gets 400', async (t) => {
  for (const version of ['HTTP/1.1', 'HTTP/1.0']) {
    const o = await ask('a.test', '', version)
    t.same(o.a.responses.map((r) => r.status), [400], `${version} without Host: 400`)
    t.equal(o.a.stray, '', `${version}: nothing upstream`)
  }
})

t.test('two Host header lines get 400, whatever their values and order', async (t) => {
  const cases: Array<[string, string]> = [
    ['identical', 'Host: a.test\r\nHost: a.test\r\n'],
    ['served, then foreign', 'Host: a.test\r\nHost: evil.test\r\n'],
    ['foreign, then served', 'Host: evil.test\r\nHost: a.test\r\n'],
    ['two served sites', 'Host: a.test\r\nHost: b.test\r\n'],
  ]
  for (const [name, lines] of cases) {
    const o = await ask('a.test', lines)
    t.same(o.a.responses.map((r) => r.status), [400], `${name}: 400`)
    t.equal(o.a.stray, '', `${name}: nothing at upstream A`)
    t.same(o.bForwarded, [], `${name}: nothing at upstream B`)
  }
})

t.test('HTTP/2: :authority decides, and a host header that disagrees is refused', async (t) => {
  const h2 = async (headers: Record<string, string>): Promise<{ status: number | undefined; error?: string; a: string[]; b: string[] }> => {
    upA.reset()
    upB.reset()
    const r = await h2Exchange(target('a.test'), { ':path': '/where', ...headers })
    await barrier(target('a.test'), 'a.test', upA)
    await barrier(target('b.test'), 'b.test', upB)
    const where = (up: RawUpstream): string[] => up.requests.filter((q) => q.target === '/where').map((q) => q.headers.find(([n]) => n === 'host')?.[1] ?? '')
    return { status: r.status, ...(r.error === undefined ? {} : { error: r.error }), a: where(upA), b: where(upB) }
  }
  t.same(await h2({ ':authority': 'a.test', host: 'a.test' }), { status: 200, a: ['a.test'], b: [] }, 'agreeing host: served')
  t.same(await h2({ ':authority': 'b.test' }), { status: 200, a: [], b: ['b.test'] }, 'the other site\'s authority on an a.test connection: upstream B')
  t.same(await h2({ ':authority': 'a.test:443' }), { status: 200, a: ['a.test:443'], b: [] }, 'authority with a port')
  t.same(await h2({ ':authority': 'a.test', host: 'b.test' }), { status: 400, a: [], b: [] }, 'disagreeing host: 400, nothing upstream')
  t.same(await h2({ ':authority': 'a.test', host: 'evil.test' }), { status: 400, a: [], b: [] }, 'foreign host header: 400')
  // Node 24's HTTP/2 layer refuses this :authority itself (the stream is reset before Rampart sees it); Node 20
  // hands it over and Rampart answers 400. Either way nothing reaches an upstream.
  const userinfo = await h2({ ':authority': 'user@a.test' })
  t.ok(userinfo.status === 400 || (userinfo.status === undefined && userinfo.error !== undefined),
    `userinfo: 400, or the stream refused (status ${userinfo.status}, error ${userinfo.error})`)
  t.same([userinfo.a, userinfo.b], [[], []], 'userinfo: nothing upstream')
  t.same(await h2({ ':authority': 'evil.test' }), { status: 421, a: [], b: [] }, 'unknown authority: 421')
})
