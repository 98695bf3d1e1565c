/** The plain-HTTP listener: redirects (byte for byte, never open), bad hosts, and the ACME webroot. */
import t from 'tap'
import net from 'node:net'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { buildHttpsRedirect } from '../../src/http/redirect.js'
import { parseHostHeader } from '../../src/http/host.js'

t.test('buildHttpsRedirect (pure)', async (t) => {
  const knows = (h: string) => h === 'a.test' || h.endsWith('.a.test')
  const cases: Array<[string | undefined, string, number, string | false]> = [
    ['a.test', '/', 443, 'https://a.test/'],
    ['a.test:8080', '/x?y=1&z=%2F', 443, 'https://a.test/x?y=1&z=%2F'],
    ['A.Test', '/p%C3%A9?q=caf%C3%A9', 8443, 'https://a.test:8443/p%C3%A9?q=caf%C3%A9'],
    ['www.a.test', '//evil.test/x', 443, 'https://www.a.test//evil.test/x'],
    ['evil.test', '/', 443, false],
    ['a.test@evil.test', '/', 443, false],
    ['', '/', 443, false],
    [undefined, '/', 443, false],
    ['a.test:99999', '/', 443, false],
    ['a.test', 'http://evil.test/', 443, false],
    ['a.test', '*', 443, false],
    ['a.test', '/\\evil.test', 443, false],
    ['[::1]', '/', 443, false],
  ]
  for (const [host, target, port, want] of cases) {
    const d = buildHttpsRedirect(host, target, knows, port)
    t.same(d.ok ? d.location : false, want, `${host} ${target}`)
  }
})

t.test('parseHostHeader (pure)', async (t) => {
  t.same(parseHostHeader('Example.com:8080'), { name: 'example.com', port: 8080, urlHost: 'example.com' })
  t.same(parseHostHeader('[2001:db8::1]:443'), { name: '2001:db8::1', port: 443, urlHost: '[2001:db8::1]' })
  for (const bad of ['a b', 'a.test:', 'a.test:0', 'u@a.test', '[::1', 'a.test:80:80', 'a%2e.test', '']) {
    t.equal(parseHostHeader(bad), undefined, `${JSON.stringify(bad)} is refused`)
  }
})

const app = await startUpstream(t, (req, res) => res.end(`upstream saw ${req.url} for ${req.headers.host}`))
const gw = await startGateway(t, `listen:
  https: { host: 127.0.0.1, port: 0 }
  http:
    host: 127.0.0.1
    port: 0
    acme: { mode: folder, folder: webroot }
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: site.pem, key: site-key.pem }
sites:
  - hosts: [a.test, "*.a.test"]
    upstream: ${app.url}
`, { certs: { site: ['a.test', '*.a.test'] } })
mkdirSync(join(gw.dir, 'webroot', '.well-known', 'acme-challenge'), { recursive: true })
writeFileSync(join(gw.dir, 'webroot', '.well-known', 'acme-challenge', 'tok3n_-x'), 'tok3n_-x.keyauth')

function raw(payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.httpPort!, '127.0.0.1', () => s.write(payload))
    let buf = ''
    s.on('data', (d: Buffer) => { buf += d.toString('latin1') })
    s.on('end', () => resolve(buf))
    s.on('close', () => resolve(buf))
    s.on('error', reject)
    s.setTimeout(5000, () => s.destroy())
  })
}
const get = (host: string | undefined, target: string) =>
  raw(`GET ${target} HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`)

t.test('every request is redirected to HTTPS, path and query byte for byte', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['a.test', '/', 'https://a.test/'],
    ['shop.a.test', '/cart?item=42&ref=%2Fhome', 'https://shop.a.test/cart?item=42&ref=%2Fhome'],
    ['a.test:8080', '/caf%C3%A9/%2e%2e/x;jsessionid=1', 'https://a.test/caf%C3%A9/%2e%2e/x;jsessionid=1'],
  ]
  for (const [host, target, location] of cases) {
    const res = await get(host, target)
    t.match(res, /^HTTP\/1\.1 308 Permanent Redirect\r\n/, `${host}${target}: 308`)
    t.match(res, new RegExp(`\\r\\n[Ll]ocation: ${location.replace(/[.?*+^$()[\]\\|]/g, '\\$&')}\\r\\n`), `→ ${location}`)
  }
  const post = await raw('POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc')
  t.match(post, /^HTTP\/1\.1 308 /, 'POST gets 308, which keeps the method')
})

t.test('a missing, malformed or foreign Host gets 400: never an open redirect', async (t) => {
  for (const host of [undefined, 'evil.test', 'a.test@evil.test', 'a.test:abc']) {
    const res = await get(host, '/')
    t.match(res, /^HTTP\/1\.1 400 /, `Host ${host ?? '(none)'} → 400`)
    t.notMatch(res, /[Ll]ocation:/, 'no Location header')
  }
  t.match(await get('a.test', 'http://evil.test/'), /^HTTP\/1\.1 400 /, 'absolute-form target → 400')
})

t.test('ACME HTTP-01 challenges are served from the webroot', async (t) => {
  const ok = await get('a.test', '/.well-known/acme-challenge/tok3n_-x')
  t.match(ok, /^HTTP\/1\.1 200 /)
  t.match(ok, /\r\n\r\ntok3n_-x\.keyauth$/)
  t.match(await get('a.test', '/.well-known/acme-challenge/missing'), /^HTTP\/1\.1 404 /)
  t.match(await get('a.test', '/.well-known/acme-challenge/..%2f..%2frampart.yaml'), /^HTTP\/1\.1 404 /, 'no path tricks')
  t.match(await get('evil.test', '/.well-known/acme-challenge/tok3n_-x'), /^HTTP\/1\.1 400 /, 'only for our hosts')
})
