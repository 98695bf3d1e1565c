/**
 * Header and request-target abuse through a real gateway (raw HTTP/1.1 over TLS, and HTTP/2), with a raw upstream
 * recording every byte forwarded.
 *
 * What it proves:
 * - Control bytes in header fields (CR, LF, NUL, CTL, DEL; bad names; a folded first line) get 400 over HTTP/1.1
 *   and never reach the upstream; over HTTP/2 they are never injected as a header line upstream.
 * - Limits hold on both protocols: headers over `limits.maxHeaderSize` get 431, a target over `limits.maxUriLength`
 *   414, and headers are never silently dropped (too many of them: refused, or all forwarded).
 * - Only origin-form targets are proxied: absolute-form, `*`, CONNECT, h2c upgrades, fragments and invalid
 *   methods are refused; extension methods pass as sent.
 * - Expect: 100-continue works (the gateway answers it and the body reaches the upstream).
 * - Path tricks cannot reach a path an access rule denies: every spelling of `/admin` is refused, or reaches the
 *   upstream in a form that no common upstream (IIS, Tomcat, PHP, Node) reads as `/admin`.
 */
import t, { type Test } from 'tap'
import { startGateway } from '../helpers/gateway.js'
import { oneSiteYaml } from '../helpers/site-yaml.js'
import { startRawUpstream } from './raw-upstream.js'
import { exchange, h2Exchange, barrier, BARRIER_PREFIX, type Outcome } from './raw-client.js'

const up = await startRawUpstream(t)
const gw = await startGateway(t, oneSiteYaml({ upstream: up.url, http2: true, name: 'app', extra: `access:
  - { name: no-admin, pathPrefix: /admin, deny: [0.0.0.0/0, "::/0"] }
threats:
  mode: block
limits:
  maxHeaderSize: 32kb
  maxUriLength: 200
` }), { certs: { site: ['a.test'] } })

const TARGET = { port: gw.port, ca: gw.ca }
const HOST = 'Host: a.test\r\n'
const send = (payload: string): Promise<Outcome> => exchange(TARGET, 'a.test', payload, up)
const get = (target: string, headers = ''): Promise<Outcome> => send(`GET ${target} HTTP/1.1\r\n${HOST}${headers}Connection: close\r\n\r\n`)
const statuses = (o: Outcome): number[] => o.responses.map((r) => r.status)

/** The HTTP/2 request's fate, and what the upstream got for it (settled by a barrier). */
async function h2(headers: Record<string, string>, body?: string): Promise<{ status: number | undefined; error: string | undefined; forwarded: typeof up.requests }> {
  up.reset()
  const r = await h2Exchange(TARGET, headers, body)
  await barrier(TARGET, 'a.test', up)
  return { ...r, forwarded: up.requests.filter((q) => !q.target.startsWith(BARRIER_PREFIX)) }
}

const refusedWith = (t: Test, o: Outcome, status: number, name: string): void => {
  t.same(statuses(o), [status], `${name}: ${status}`)
  t.ok(o.closedByServer, `${name}: connection closed`)
  t.equal(o.stray, '', `${name}: the upstream received nothing`)
}

t.test('control bytes and bad names in HTTP/1.1 header fields: 400, nothing upstream', async (t) => {
  const cases: Array<[string, string]> = [
    ['CR in a value', 'X-A: a\rX-Injected: 1\r\n'],
    ['LF in a value', 'X-A: a\nX-Injected: 1\r\n'],
    ['NUL in a value', 'X-A: a\x00b\r\n'],
    ['CTL in a value', 'X-A: a\x01b\r\n'],
    ['DEL in a value', 'X-A: a\x7fb\r\n'],
    ['space in a name', 'X A: b\r\n'],
    ['empty name', ': b\r\n'],
    ['non-token name', 'X(A): b\r\n'],
  ]
  for (const [name, header] of cases) refusedWith(t, await get('/', header), 400, name)
  refusedWith(t, await send('GET / HTTP/1.1\r\n Host: a.test\r\n\r\n'), 400, 'whitespace before the first header')
  const obsText = await get('/', 'X-A: caf\xe9\r\n')
  t.same(statuses(obsText), [200], 'obs-text in a value is legal')
  t.match(obsText.forwarded[0]?.raw.toString('latin1') ?? '', /\r\nx-a: caf\xe9\r\n/, 'and forwarded byte for byte')
})

t.test('HTTP/2: CR/LF in a header value is never injected as a header line upstream', async (t) => {
  for (const value of ['a\r\nX-Injected: 1', 'a\nX-Injected: 1', 'a\rX-Injected: 1', 'a\r\nTransfer-Encoding: chunked']) {
    const r = await h2({ 'x-a': value })
    t.ok(r.forwarded.length <= 1, `${JSON.stringify(value)}: at most one request upstream`)
    for (const q of r.forwarded) {
      t.notOk(q.headers.some(([n]) => n === 'x-injected' || n === 'transfer-encoding'), `${JSON.stringify(value)}: no injected line`)
      t.notOk(q.headers.some(([, v]) => /[\r\n]/.test(v)), `${JSON.stringify(value)}: no CR or LF in any value`)
    }
  }
})

t.test('header size: 431 over limits.maxHeaderSize, on HTTP/1.1 and HTTP/2', async (t) => {
  t.same(statuses(await get('/', `X-Big: ${'a'.repeat(31 * 1024)}\r\n`)), [200], 'just under the limit passes')
  refusedWith(t, await get('/', `X-Big: ${'a'.repeat(33 * 1024)}\r\n`), 431, 'HTTP/1.1 over the limit')
  const under = await h2({ 'x-big': 'a'.repeat(31 * 1024) })
  t.equal(under.status, 200, 'HTTP/2 just under the limit passes')
  const over = await h2({ 'x-big': 'a'.repeat(33 * 1024) })
  t.ok(over.status === 431 || (over.status === undefined && over.error !== undefined), 'HTTP/2 over the limit: 431 or a refused stream')
  t.same(over.forwarded, [], 'HTTP/2 over the limit: nothing upstream')
})

t.test('too many header fields: refused, never forwarded with some of them silently dropped', async (t) => {
  const count = 2100
  const lines = Array.from({ length: count }, (_, i) => `x${i.toString(36)}:1\r\n`).join('')
  t.ok(lines.length < 31 * 1024, 'the request is within limits.maxHeaderSize')
  const o = await get('/', lines)
  const forwardedX = o.forwarded[0]?.headers.filter(([n]) => /^x[0-9a-z]+$/.test(n)).length ?? 0
  if (statuses(o)[0] === 431) t.equal(o.stray, '', '431, and the upstream received nothing')
  else t.equal(forwardedX, count, `forwarded, then with all ${count} fields (got ${forwardedX}, status ${statuses(o).join(',')})`)
  const r = await h2(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x${i}`, '1'])))
  t.not(r.status, 200, 'HTTP/2 with 200 fields is refused')
  t.same(r.forwarded, [], 'HTTP/2: nothing upstream')
})

t.test('target length: 414 over limits.maxUriLength (HTTP/1.1 and HTTP/2)', async (t) => {
  t.same(statuses(await get(`/${'a'.repeat(199)}`)), [200], '200 characters pass')
  refusedWith(t, await get(`/${'a'.repeat(200)}`), 414, '201 characters')
  const huge = await get(`/${'a'.repeat(40 * 1024)}`)
  // Node's parser counts the request line against the header limit, so a target longer than that gets 431.
  t.ok([414, 431].includes(statuses(huge)[0] ?? 0), `a target over the header limit is refused (${statuses(huge).join(',')})`)
  t.equal(huge.stray, '', 'and never reaches the upstream')
  const r = await h2({ ':path': `/${'a'.repeat(300)}` })
  t.equal(r.status, 414, 'HTTP/2: 414')
  t.same(r.forwarded, [], 'HTTP/2: nothing upstream')
})

t.test('methods: invalid ones get 400; extension methods are forwarded as sent', async (t) => {
  for (const method of ['get', 'FOO', 'G@T', 'GET\t']) {
    refusedWith(t, await send(`${method} / HTTP/1.1\r\n${HOST}\r\n`), 400, JSON.stringify(method))
  }
  const propfind = await send(`PROPFIND / HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.same(statuses(propfind), [200], 'PROPFIND (WebDAV) is proxied')
  t.equal(propfind.forwarded[0]?.method, 'PROPFIND')
})

t.test('request-target forms other than origin-form never reach the upstream', async (t) => {
  refusedWith(t, await get('https://other.test/'), 400, 'absolute-form, other host')
  refusedWith(t, await get('https://a.test/admin'), 400, 'absolute-form, own host')
  refusedWith(t, await send(`OPTIONS * HTTP/1.1\r\n${HOST}\r\n`), 400, 'asterisk-form')
  const connect = await send(`CONNECT a.test:443 HTTP/1.1\r\n${HOST}\r\n`)
  t.notOk(statuses(connect).some((s) => s < 400), `CONNECT authority-form: no success answer (${statuses(connect).join(',') || 'closed'})`)
  t.ok(connect.closedByServer, 'CONNECT: connection closed')
  t.equal(connect.stray, '', 'CONNECT: nothing upstream')
  const h2Connect = await h2({ ':method': 'CONNECT', ':authority': 'a.test:443' })
  t.ok(h2Connect.status === undefined || h2Connect.status >= 400, `HTTP/2 CONNECT refused (${h2Connect.status ?? h2Connect.error})`)
  t.same(h2Connect.forwarded, [], 'HTTP/2 CONNECT: nothing upstream')
  const h2Absolute = await h2({ ':path': 'https://other.test/' })
  t.not(h2Absolute.status, 200, 'HTTP/2 absolute :path refused')
  t.same(h2Absolute.forwarded, [], 'HTTP/2 absolute :path: nothing upstream')
  refusedWith(t, await get('/', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'),
    400, 'h2c upgrade')
  refusedWith(t, await get('/public#/../admin'), 400, 'a fragment in the target')
})

t.test('Expect: 100-continue is answered by the gateway and the body reaches the upstream', async (t) => {
  const o = await send(`POST /form HTTP/1.1\r\n${HOST}Expect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`)
  t.same(statuses(o), [100, 200], '100 Continue, then the upstream\'s answer')
  t.equal(o.forwarded[0]?.body.toString(), 'hi', 'with the body')
  t.notOk(o.forwarded[0]?.headers.some(([n]) => n === 'expect'), 'the expectation was met here, not passed on')
})

/**
 * What lenient upstreams may make of a target, all readings at once: the query cut, one percent-decoding pass
 * (with overlong UTF-8 dots and slashes, as old IIS and Tomcat decoded them), a NUL ending the path (C runtimes),
 * `\` as a separator (IIS), `;` parameters cut (Tomcat), dot-segments resolved, case folded (Windows file
 * systems). Deliberately independent of Rampart's own normaliser.
 */
function lenientReading(target: string): string {
  let p = target.split('?')[0]!
  p = p.replace(/%c0%ae|%e0%80%ae/gi, '.').replace(/%c0%af|%e0%80%af/gi, '/')
  p = p.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
  p = p.split('\0')[0]!.replace(/\\/g, '/')
  const out: string[] = []
  for (const raw of p.split('/')) {
    const seg = raw.split(';')[0]!
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg.toLowerCase())
  }
  return `/${out.join('/')}`
}
const readsAsAdmin = (target: string): boolean => /^\/admin(\/|$)/.test(lenientReading(target))

t.test('path tricks never reach a path the access rule denies', async (t) => {
  t.ok(readsAsAdmin('/public/..%2fAdmin;x=1') && !readsAsAdmin('/administrator'), 'the lenient reading finds /admin (self-check)')
  const control = await get('/public/x')
  t.same(control.forwarded.map((q) => q.target), ['/public/x'], 'control: an allowed path is proxied unchanged')
  const spellings = [
    '/admin', '/Admin', '/ADMIN/x', '//admin', '/./admin', '/public/../admin', '/public/..%2fadmin', '/public/%2e%2e/admin',
    '/%2e%2e/admin', '/public/.%2e/admin', '/%61dmin', '/admin;jsessionid=x', '/public/..;/admin', '/\\admin',
    '/public\\..\\admin', '/%5cadmin', '/public/..%5cadmin', '/admin%2f', '/%2fadmin', '/public/%c0%ae%c0%ae/admin',
    '/public/%e0%80%ae%e0%80%ae/admin', '/%c0%afadmin', '/admin%00', '/admin%00.php', '/admin?x=1', '/%2561dmin',
  ]
  for (const target of spellings) {
    const o = await get(target)
    const [status] = statuses(o)
    if (status === 403 || status === 400) {
      t.equal(o.stray, '', `${target}: refused (${status}), nothing upstream`)
      continue
    }
    t.equal(o.forwarded.length, 1, `${target}: proxied once (${status})`)
    t.equal(o.forwarded[0]?.target, target, `${target}: byte for byte`)
    t.notOk(readsAsAdmin(target), `${target}: and no upstream reads it as /admin`)
  }
  for (const path of ['/public/..%2fadmin', '//admin', '/Admin', '/admin%00', '/%2e%2e/admin']) {
    const r = await h2({ ':path': path })
    t.ok(r.forwarded.every((q) => !readsAsAdmin(q.target)), `HTTP/2 ${path}: nothing that reads as /admin reaches the upstream (${r.status})`)
    t.ok(r.status === 403 || r.status === 400, `HTTP/2 ${path}: refused (${r.status})`)
  }
})
