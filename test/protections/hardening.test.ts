/**
 * Response hardening through a running gateway, over HTTP/1.1 and HTTP/2: Rampart's header policy beats the
 * upstream's own headers, leak headers never reach the client, cookies arrive hardened with exceptions honoured,
 * and Rampart's own pages, 304s and redirects carry the policy. Plus the CSP report collector.
 */
import t from 'tap'
import net from 'node:net'
import { startGateway, h1, h2, type Response } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { deadPort } from '../helpers/upstream.js'

const app = await startUpstream(t, (req, res) => {
  const common = { server: 'Apache/2.4.57 (Debian)', 'x-powered-by': 'PHP/8.2.7', 'x-aspnet-version': '4.0.30319' }
  if (req.url === '/login') {
    res.writeHead(302, { ...common, location: '/account', 'set-cookie': [
      'PHPSESSID=abc123; path=/',
      'remember_me=tok; expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=2592000; path=/; domain=a.test',
      'XSRF-TOKEN=xyz; path=/',
      'tracker=1; Domain=evil.test; Path=/',
      '__Host-id=9; Domain=a.test; Path=/app',
    ] })
    return res.end()
  }
  if (req.url === '/cached') {
    res.writeHead(304, { ...common, etag: '"v1"' })
    return res.end()
  }
  if (req.url === '/own-csp') {
    res.writeHead(200, { ...common, 'content-security-policy': "default-src *", 'x-frame-options': 'ALLOWALL', 'referrer-policy': 'unsafe-url', 'content-type': 'text/html' })
    return res.end('<p>page</p>')
  }
  res.writeHead(200, { ...common, 'content-type': 'text/html', 'permissions-policy': 'geolocation=(self)' })
  res.end(`<p>${req.url}</p>`)
})
const dead = await deadPort()

const gw = await startGateway(t, `listen:
  https: { host: 127.0.0.1, port: 0 }
  http: { host: 127.0.0.1, port: 0 }
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [a.test, "*.a.test"]
    upstream: ${app.url}
  - name: down
    hosts: [down.test]
    upstream: http://127.0.0.1:${dead}
headers:
  contentSecurityPolicy: "default-src 'self'; frame-ancestors 'self'"
  xFrameOptions: DENY
  referrerPolicy: no-referrer-when-downgrade
  permissionsPolicy: { value: "camera=(), microphone=()", mode: default }
  overrides:
    - pathPrefix: /widget
      xFrameOptions: { mode: remove }
      contentSecurityPolicy: "frame-ancestors https://partner.test"
  cspReports: { enabled: true, ratePerMinute: 3 }
cookies:
  except: { XSRF-TOKEN: { httpOnly: false } }
`, { certs: { site: ['a.test', '*.a.test'] } })

const clients: Array<[string, (o: Parameters<typeof h1>[1]) => Promise<Response>]> = [
  ['HTTP/1.1', (o) => h1(gw.port, o)],
  ['HTTP/2', (o) => h2(gw.port, o)],
]

for (const [proto, ask] of clients) {
  t.test(`${proto}: the policy wins over the upstream's headers; leak headers are removed`, async (t) => {
    const res = await ask({ host: 'a.test', path: '/own-csp', ca: gw.ca })
    t.equal(res.status, 200)
    t.equal(res.headers['content-security-policy'], "default-src 'self'; frame-ancestors 'self'", 'set mode replaces the upstream CSP')
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers['referrer-policy'], 'no-referrer-when-downgrade')
    t.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains')
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['x-xss-protection'], '0')
    for (const leak of ['server', 'x-powered-by', 'x-aspnet-version']) t.notOk(res.headers[leak], `${leak} removed`)
    const page = await ask({ host: 'a.test', path: '/plain', ca: gw.ca })
    t.equal(page.headers['permissions-policy'], 'geolocation=(self)', 'default mode keeps the upstream value')
    t.equal((await ask({ host: 'a.test', path: '/cached', ca: gw.ca })).headers['x-frame-options'], 'DENY', '304s carry the policy')
  })

  t.test(`${proto}: per-path override for a framable widget`, async (t) => {
    const res = await ask({ host: 'a.test', path: '/widget/calendar?club=1', ca: gw.ca })
    t.notOk(res.headers['x-frame-options'], 'X-Frame-Options removed under /widget')
    t.equal(res.headers['content-security-policy'], 'frame-ancestors https://partner.test')
    const other = await ask({ host: 'a.test', path: '/widgets', ca: gw.ca })
    t.equal(other.headers['x-frame-options'], 'DENY', '/widgets is not under /widget')
  })

  t.test(`${proto}: every cookie of a login 302 arrives hardened, exceptions honoured`, async (t) => {
    const res = await ask({ host: 'www.a.test', path: '/login', ca: gw.ca })
    t.equal(res.status, 302)
    t.same(res.headers['set-cookie'], [
      'PHPSESSID=abc123; path=/; Secure; HttpOnly; SameSite=Lax',
      'remember_me=tok; expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=2592000; path=/; domain=a.test; Secure; HttpOnly; SameSite=Lax',
      'XSRF-TOKEN=xyz; path=/; Secure; SameSite=Lax',
      'tracker=1; Path=/; Secure; HttpOnly; SameSite=Lax',
      '__Host-id=9; Path=/; Secure; HttpOnly; SameSite=Lax',
    ])
  })

  t.test(`${proto}: Rampart's own error pages carry the policy`, async (t) => {
    const res = await ask({ host: 'down.test', servername: 'a.test', ca: gw.ca })
    t.equal(res.status, 502)
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains')
  })
}

t.test('the HTTP redirect carries the policy, without HSTS (browsers ignore it over HTTP)', async (t) => {
  const raw = await new Promise<string>((resolve, reject) => {
    const s = net.connect(gw.httpPort!, '127.0.0.1', () => s.write('GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'))
    let buf = ''
    s.on('data', (d: Buffer) => { buf += d.toString() })
    s.on('close', () => resolve(buf))
    s.on('error', reject)
  })
  t.match(raw, /^HTTP\/1\.1 308 /)
  t.match(raw, /\r\nx-frame-options: DENY\r\n/i)
  t.notMatch(raw, /strict-transport-security/i)
})

t.test('CSP report collector: logs violations, bounded and rate-limited, never proxied', async (t) => {
  const before = app.requests.length
  const report = JSON.stringify({ 'csp-report': { 'document-uri': 'https://a.test/book?token=secret', 'violated-directive': 'script-src', 'effective-directive': 'script-src', 'blocked-uri': 'https://evil.test/x.js', 'original-policy': "default-src 'self'", disposition: 'report' } })
  const ok = await h1(gw.port, { host: 'a.test', method: 'POST', path: '/.rampart/csp-report', body: report, headers: { 'content-type': 'application/csp-report' }, ca: gw.ca })
  t.equal(ok.status, 204)
  const event = gw.logs.find((l) => l['type'] === 'csp-violation') as { violation?: { blockedURI: string; documentURI: string } } | undefined
  t.ok(event, 'a csp-violation event is logged')
  t.equal(event?.violation?.blockedURI, 'https://evil.test/x.js')
  t.notMatch(JSON.stringify(event), /token=secret/, 'query strings (reset tokens…) are not logged')
  const garbage = await h1(gw.port, { host: 'a.test', method: 'POST', path: '/.rampart/csp-report', body: '{{{', headers: { 'content-type': 'application/csp-report' }, ca: gw.ca })
  t.equal(garbage.status, 400)
  const big = await h1(gw.port, { host: 'a.test', method: 'POST', path: '/.rampart/csp-report', body: 'x'.repeat(20_000), headers: { 'content-type': 'application/csp-report' }, ca: gw.ca })
  t.equal(big.status, 413)
  const limited = await h1(gw.port, { host: 'a.test', method: 'POST', path: '/.rampart/csp-report', body: report, headers: { 'content-type': 'application/csp-report' }, ca: gw.ca })
  t.equal(limited.status, 429, 'the fourth report in a minute from one address is refused')
  t.equal(app.requests.length, before, 'the upstream never saw a report')
})
