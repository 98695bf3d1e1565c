/**
 * A misbehaving upstream behind a real gateway, seen from real HTTP/1.1 (raw TLS bytes) and HTTP/2 clients.
 *
 * What a production gateway owes the client when the app answers badly:
 * - nothing of the app's head has been sent yet (bad status line, bad header bytes, oversized head, no answer in
 *   time, a body that fails before its first byte): a clean 502 or 504 page with the request id, none of the app's
 *   headers, and the catalogued code in the access log;
 * - the head has been sent: the rest is passed faithfully, and if the body then fails the client must SEE the
 *   failure: an HTTP/1.1 response is cut short of its framing (Content-Length not reached, no last chunk) and an
 *   HTTP/2 stream is reset with an error code (RST_STREAM NO_ERROR would read as a normal end); the access log still
 *   has the request with its code;
 * - bytes the app wrote beyond its response (a lying Content-Length, a body on HEAD/204/304) never reach the client
 *   as a second response, and the upstream connection that carried them is never reused;
 * - after every fault, a normal request through the same gateway to the same upstream succeeds.
 */
import t from 'tap'
import http2 from 'node:http2'
import { startGateway, LISTEN_HTTPS_ONLY, accessLines } from '../helpers/gateway.js'
import { rawExchange } from './raw-client.js'
import { startBadUpstream, send, sendThenClose, silence, HEALTHY_BODY, type Script } from './bad-upstream.js'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const HEADERS_TIMEOUT_MS = 500
const IDLE_TIMEOUT_MS = 500
const OK = (extra: string): string => `HTTP/1.1 200 OK\r\n${extra}Content-Length: 2\r\n\r\nok`
const big = (bytes: number): string => `X-Big: ${'a'.repeat(bytes)}\r\n`

const scripts: Record<string, Script> = {
  // Invalid heads.
  '/status-digits': send('HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok'),
  '/status-missing': send('hello\r\n\r\n'),
  '/status-version': send('HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/cr-in-value': send(OK('X-A: a\rX-Injected: yes\r\n')),
  '/lf-in-value': send(OK('X-A: a\nX-Injected: yes\r\n')),
  '/nul-in-value': send(OK('X-A: a\0b\r\n')),
  '/space-in-name': send(OK('Bad Name: x\r\n')),
  '/cookie-cr': send(OK('Set-Cookie: sid=a\rX-Injected: yes\r\n')),
  '/cookie-lf': send(OK('Set-Cookie: sid=a\nX-Injected: yes\r\n')),
  '/cookie-ctl': send(OK('Set-Cookie: sid=a\x01b; Path=/\r\n')),
  '/cookie-del': send(OK('Set-Cookie: sid=a\x7fb; Path=/\r\n')),
  '/cookie-fold': send(OK('Set-Cookie: sid=a;\r\n X-Injected=yes\r\n')),
  '/head-80k': send(OK(big(80 * 1024))),
  '/head-20k': send(OK(big(20 * 1024))),
  // Interim answers.
  '/early-hints': send(`HTTP/1.1 103 Early Hints\r\nLink: </hint.css>; rel=preload\r\n\r\n${OK('')}`),
  '/unsolicited-continue': send(`HTTP/1.1 100 Continue\r\n\r\n${OK('')}`),
  // Framing lies.
  '/length-short': send(`${OK('')}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!`),
  '/head-with-body': send('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'),
  '/no-content-with-body': send('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello'),
  '/not-modified-with-body': send('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\nhello'),
  '/not-modified-with-length': send('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\n'),
  // Failures after the head.
  '/length-long': sendThenClose('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'),
  '/chunked-cut': sendThenClose('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n'),
  '/chunk-size-bad': send('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\nzz\r\nmore\r\n0\r\n\r\n'),
  '/body-stalls': send('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'),
  '/closed-before-body': sendThenClose('HTTP/1.1 200 OK\r\nSet-Cookie: sid=app\r\nContent-Encoding: gzip\r\nContent-Length: 100\r\n\r\n'),
  '/first-chunk-bad': send('HTTP/1.1 200 OK\r\nSet-Cookie: sid=app\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nmore\r\n0\r\n\r\n'),
  '/stalls-before-body': send('HTTP/1.1 200 OK\r\nSet-Cookie: sid=app\r\nContent-Encoding: gzip\r\nContent-Length: 100\r\n\r\n'),
  // No answer at all.
  '/silent': silence,
}
const up = await startBadUpstream(t, scripts)

const gw = await startGateway(t, `${LISTEN_HTTPS_ONLY}
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: site.pem, key: site-key.pem }
sites:
  - name: faulty
    hosts: [a.test]
    upstream: ${up.url}
    timeouts: { headers: ${HEADERS_TIMEOUT_MS}ms, idle: ${IDLE_TIMEOUT_MS}ms }
  - name: strict-passive
    hosts: [passive.a.test]
    upstream: ${up.url}
    timeouts: { headers: ${HEADERS_TIMEOUT_MS}ms, idle: ${IDLE_TIMEOUT_MS}ms }
    passive: { maxFails: 2, ejectFor: 1m }
`, { certs: { site: ['a.test', '*.a.test'] } })

interface Answer {
  readonly status: number
  /** Lower-cased names; repeated fields joined with ", ". */
  readonly headers: Record<string, string>
  readonly body: string
}

interface H1Answer extends Answer {
  /** The body reached the end its framing announced (Content-Length bytes, or the last chunk). */
  readonly complete: boolean
  /** The status line's reason phrase. */
  readonly reason: string
}

/** Splits raw HTTP/1.1 bytes into the responses to `methods`, in order; whatever follows is `rest`. */
function frame(text: string, methods: readonly string[]): { answers: H1Answer[]; rest: string } {
  const answers: H1Answer[] = []
  let rest = text
  for (const method of methods) {
    const headEnd = rest.indexOf('\r\n\r\n')
    const status = /^HTTP\/1\.1 (\d{3}) ([^\r]*)/.exec(rest)
    if (!status || headEnd < 0) break
    const headers: Record<string, string> = {}
    for (const line of rest.slice(0, headEnd).split('\r\n').slice(1)) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    const code = Number(status[1])
    let after = rest.slice(headEnd + 4)
    let body = ''
    let complete = true
    if (method === 'HEAD' || code === 204 || code === 304) {
      // no body, by definition
    } else if (headers['transfer-encoding'] === 'chunked') {
      complete = false
      for (;;) {
        const lineEnd = after.indexOf('\r\n')
        const size = lineEnd < 0 ? NaN : parseInt(after.slice(0, lineEnd), 16)
        if (Number.isNaN(size) || after.length < lineEnd + 4 + size) {
          body += after
          after = ''
          break
        }
        body += after.slice(lineEnd + 2, lineEnd + 2 + size)
        after = after.slice(lineEnd + 4 + size)
        if (size === 0) {
          complete = true
          break
        }
      }
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length'])
      body = after.slice(0, length)
      complete = body.length === length
      after = after.slice(length)
    } else {
      body = after
      after = ''
    }
    answers.push({ status: code, headers, body, complete, reason: status[2] ?? '' })
    rest = after
  }
  return { answers, rest }
}

/** Requests the clients sent, per path: the upstream must have received each exactly once (never retried). */
const sent = new Map<string, number>()
const count = (path: string): void => {
  sent.set(path, (sent.get(path) ?? 0) + 1)
}

/** Raw HTTP/1.1 requests written in one go on one TLS connection, the last with `Connection: close`. */
async function h1(paths: ReadonlyArray<{ method?: string; path: string }>, host = 'a.test') {
  for (const p of paths) count(p.path)
  const payload = paths.map((p, i) =>
    `${p.method ?? 'GET'} ${p.path} HTTP/1.1\r\nHost: ${host}\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('')
  const exchange = await rawExchange({ port: gw.port, ca: gw.ca, servername: host }, payload, 5000)
  return { ...frame(exchange.text, paths.map((p) => p.method ?? 'GET')), closedByServer: exchange.closedByServer }
}

/** The one answer to a single raw HTTP/1.1 request; fails the test if there is not exactly one. */
async function h1One(tt: Tap, path: string, o: { method?: string; host?: string } = {}): Promise<H1Answer> {
  const { answers, rest, closedByServer } = await h1([{ method: o.method, path }], o.host)
  tt.equal(answers.length, 1, `${path}: one response on the client connection`)
  tt.equal(rest, '', `${path}: no byte after it`)
  tt.ok(closedByServer, `${path}: the gateway closed the connection`)
  return answers[0] ?? { status: 0, headers: {}, body: '', complete: false, reason: '' }
}

interface H2Answer extends Answer {
  /** RST_STREAM code the stream closed with (0 both for a clean end and for a reset with NO_ERROR). */
  readonly rstCode: number
}

/** One HTTP/2 request on a fresh session; resolves when the stream closes, however it closes. */
function h2(path: string, o: { method?: string; host?: string } = {}): Promise<H2Answer> {
  return new Promise((resolve) => {
    const host = o.host ?? 'a.test'
    count(path)
    const session = http2.connect(`https://127.0.0.1:${gw.port}`, { servername: host, ca: gw.ca })
    session.on('error', () => {})
    const stream = session.request({ ':method': o.method ?? 'GET', ':path': path, ':authority': host })
    let status = 0
    const headers: Record<string, string> = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => {
      status = Number(h[':status'])
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) headers[k] = Array.isArray(v) ? v.join(', ') : String(v)
    })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('error', () => {})
    stream.setTimeout(5000, () => stream.close(http2.constants.NGHTTP2_CANCEL))
    stream.on('close', () => {
      session.destroy()
      resolve({ status, headers, body: Buffer.concat(chunks).toString('latin1'), rstCode: stream.rstCode ?? -1 })
    })
    stream.end()
  })
}

/** The access-log line of a request id, waiting (bounded) for it to be written. */
async function accessLine(reqId: string | undefined): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 40; i++) {
    const line = accessLines(gw.logs).find((l) => l['reqId'] === reqId)
    if (line || reqId === undefined) return line
    await new Promise((r) => setTimeout(r, 25))
  }
  return undefined
}

/** Header fields the scripted app sends on its failing answers: none may reach the client on an error page. */
const APP_HEADERS = ['set-cookie', 'content-encoding', 'x-a', 'x-big', 'x-injected', 'etag']

/** A Rampart error page: status, request id in header and body, none of the app's headers, code in the access log. */
async function expectPage(tt: Tap, what: string, res: Answer, status: number, code: string): Promise<void> {
  tt.equal(res.status, status, `${what}: ${status}`)
  tt.match(res.headers['content-type'] ?? '', /^text\/html/, `${what}: Rampart's own page`)
  const id = res.headers['x-request-id']
  tt.ok(id && res.body.includes(`<code>${id}</code>`), `${what}: the page quotes the request id`)
  tt.same(APP_HEADERS.filter((name) => res.headers[name] !== undefined), [], `${what}: none of the app's headers`)
  tt.notMatch(res.body, /injected|evil|hello/i, `${what}: nothing of the app's bytes`)
  const line = await accessLine(id)
  tt.equal(line?.['status'], status, `${what}: access log status`)
  tt.equal(line?.['error'], code, `${what}: access log code`)
}

/** The upstream is still usable through the same gateway: a normal request gets the healthy answer. */
async function expectHealthy(tt: Tap, what: string, host = 'a.test'): Promise<void> {
  const [res] = (await h1([{ path: '/ok' }], host)).answers
  tt.equal(res?.status, 200, `after ${what}: the next request to the same upstream is answered`)
  tt.equal(res?.body, HEALTHY_BODY, `after ${what}: with the app's own answer`)
}

/** Requests that arrived at the upstream on the connection that carried the last request for `path`. */
function sameConnectionAfter(path: string): string[] {
  const last = up.requests.findLast((r) => r.path === path)
  if (!last) return [`${path} never reached the upstream`]
  return up.requests.slice(up.requests.indexOf(last) + 1).filter((r) => r.connection === last.connection).map((r) => r.path)
}

t.test('an invalid status line or header byte: a 502 page, nothing of the head forwarded', async (t) => {
  const paths = ['/status-digits', '/status-missing', '/status-version', '/cr-in-value', '/lf-in-value', '/nul-in-value',
    '/space-in-name', '/cookie-cr', '/cookie-lf', '/cookie-ctl', '/cookie-del', '/cookie-fold']
  for (const path of paths) {
    const one = await h1One(t, path)
    await expectPage(t, `${path} h1`, one, 502, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
    // Node chose the app's reason phrase when it was refused the app's head: the page must not keep it.
    t.equal(one.reason, 'Bad Gateway', `${path} h1: the status line is the page's own`)
    await expectPage(t, `${path} h2`, await h2(path), 502, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
    await expectHealthy(t, path)
  }
})

t.test('response headers: 20 KiB (over undici\'s 16 KiB default) pass whole; 80 KiB (over the 64 KiB limit) are a 502', async (t) => {
  const fits = await h1One(t, '/head-20k')
  t.equal(fits.status, 200)
  t.equal(fits.headers['x-big']?.length, 20 * 1024, 'the large header arrives unchanged')
  t.equal(fits.body, 'ok')
  const fitsH2 = await h2('/head-20k')
  t.equal(fitsH2.headers['x-big']?.length, 20 * 1024, 'and over HTTP/2')
  await expectPage(t, 'h1', await h1One(t, '/head-80k'), 502, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
  const over = await h2('/head-80k')
  await expectPage(t, 'h2', over, 502, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
  t.equal((await accessLine(over.headers['x-request-id']))?.['errorKind'], 'headers-overflow')
  await expectHealthy(t, 'oversized headers')
})

t.test('103 Early Hints before the answer: the final answer passes whole, the hints are not merged into it', async (t) => {
  const { answers, rest } = await h1([{ path: '/early-hints' }, { path: '/ok' }])
  t.same(answers.map((a) => [a.status, a.body]), [[200, 'ok'], [200, HEALTHY_BODY]], 'exactly the two final answers')
  t.equal(rest, '')
  t.equal(answers[0]?.headers['link'], undefined, 'the 103 fields stay on the 103')
  const res = await h2('/early-hints')
  t.same([res.status, res.body, res.headers['link']], [200, 'ok', undefined])
})

t.test('an unsolicited 100 Continue: a 502 for a bad response, and the target is not ejected as down', async (t) => {
  // RFC 9110 §15.2 wants the final answer passed on; undici refuses any 100 it did not ask for, so the best a
  // gateway on undici can do is name it a bad response: the app is up and answering, so passive health (two
  // failures eject on this site) must not take it out and turn every later request into a 503.
  const host = 'passive.a.test'
  await expectPage(t, 'h1', await h1One(t, '/unsolicited-continue', { host }), 502, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
  await expectPage(t, 'h2', await h2('/unsolicited-continue', { host }), 502, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
  await expectHealthy(t, 'two unsolicited 100s', host)
})

t.test('bytes beyond the framing never become a response, and their connection is not reused', async (t) => {
  const cases = [
    { method: 'GET', path: '/length-short', status: 200, body: 'ok', headers: { 'content-length': '2' } },
    { method: 'HEAD', path: '/head-with-body', status: 200, body: '', headers: { 'content-length': '5' } },
    { method: 'GET', path: '/no-content-with-body', status: 204, body: '', headers: {} },
    { method: 'GET', path: '/not-modified-with-body', status: 304, body: '', headers: { etag: '"v1"' } },
  ]
  for (const c of cases) {
    const { answers, rest } = await h1([{ method: c.method, path: c.path }, { path: '/ok' }])
    t.same(answers.map((a) => [a.status, a.body]), [[c.status, c.body], [200, HEALTHY_BODY]], `${c.path}: exactly the two answers`)
    t.match(answers[0]?.headers, c.headers, `${c.path}: its head`)
    t.equal(rest, '', `${c.path}: nothing after them on the client connection`)
    t.same(sameConnectionAfter(c.path), [], `${c.path}: the upstream connection that carried extra bytes was dropped`)
    const res = await h2(c.path, { method: c.method })
    t.same([res.status, res.body, res.rstCode], [c.status, c.body, 0], `${c.path}: h2 answer, ended cleanly`)
    await accessLine(res.headers['x-request-id'])
    t.same(accessLines(gw.logs).filter((l) => l['path'] === c.path).map((l) => [l['status'], l['error']]),
      [[c.status, undefined], [c.status, undefined]], `${c.path}: logged twice as a normal answer`)
    await expectHealthy(t, c.path)
  }
})

t.test('a 304 with a Content-Length (the size of the representation, RFC 9110 §8.6) passes as a 304', async (t) => {
  const res = await h1One(t, '/not-modified-with-length')
  t.same([res.status, res.body, res.headers['etag']], [304, '', '"v1"'])
  const res2 = await h2('/not-modified-with-length')
  t.same([res2.status, res2.body, res2.rstCode], [304, '', 0])
  await expectHealthy(t, 'a 304 with a Content-Length')
})

t.test('the body fails after the head was sent: the client sees a cut response, and the log says why', async (t) => {
  const cases = [
    { path: '/length-long', sent: '0123456789', code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' },
    { path: '/chunked-cut', sent: '0123456789', code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' },
    { path: '/chunk-size-bad', sent: '0123456789', code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' },
    { path: '/body-stalls', sent: '0123456789', code: 'RAMPART_ERR_UPSTREAM_TIMEOUT' },
  ]
  for (const c of cases) {
    const res = await h1One(t, c.path)
    t.equal(res.status, 200, `${c.path}: the app's head was passed on`)
    t.equal(res.body, c.sent, `${c.path}: with the bytes the app did send`)
    t.notOk(res.complete, `${c.path}: and the HTTP/1.1 framing is left unfinished, so the client knows it is cut`)
    const line = await accessLine(res.headers['x-request-id'])
    t.equal(line?.['error'], c.code, `${c.path}: the access log has the request, with its code`)
    const res2 = await h2(c.path)
    t.same([res2.status, res2.body], [200, c.sent], `${c.path}: h2 head and bytes passed on`)
    t.not(res2.rstCode, http2.constants.NGHTTP2_NO_ERROR, `${c.path}: the HTTP/2 stream is reset with an error code`)
    await expectHealthy(t, c.path)
  }
})

t.test('the body fails before its first byte: a 502/504 page without the app\'s headers, never a 500', async (t) => {
  const cases = [
    { path: '/closed-before-body', status: 502, code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' },
    { path: '/first-chunk-bad', status: 502, code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' },
    { path: '/stalls-before-body', status: 504, code: 'RAMPART_ERR_UPSTREAM_TIMEOUT' },
  ]
  for (const c of cases) {
    await expectPage(t, `${c.path} h1`, await h1One(t, c.path), c.status, c.code)
    await expectPage(t, `${c.path} h2`, await h2(c.path), c.status, c.code)
    await expectHealthy(t, c.path)
  }
})

t.test('an upstream that accepts and never answers: 504 at timeouts.headers', async (t) => {
  const started = performance.now()
  const res = await h1One(t, '/silent')
  const elapsed = performance.now() - started
  await expectPage(t, 'h1', res, 504, 'RAMPART_ERR_UPSTREAM_TIMEOUT')
  t.ok(elapsed >= HEADERS_TIMEOUT_MS - 50 && elapsed < HEADERS_TIMEOUT_MS + 2000, `answered after ${Math.round(elapsed)} ms`)
  t.equal((await accessLine(res.headers['x-request-id']))?.['errorKind'], 'headers-timeout')
  await expectPage(t, 'h2', await h2('/silent'), 504, 'RAMPART_ERR_UPSTREAM_TIMEOUT')
  await expectHealthy(t, 'a silent upstream')
})

t.test('no fault escaped as an internal error, and the upstream saw only what it was sent', async (t) => {
  t.same(gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_LIFECYCLE_UNCAUGHT').map((l) => l['msg']), [],
    'no RAMPART_ERR_LIFECYCLE_UNCAUGHT')
  t.same(accessLines(gw.logs).filter((l) => l['status'] === 500).map((l) => l['path']), [], 'no 500 in the access log')
  t.same(up.requests.filter((r) => !/^(GET|HEAD) \/[\w-]+ HTTP\/1\.1\r\n/.test(r.head)).map((r) => r.head), [],
    'every request the upstream received is one the clients sent, nothing smuggled')
  // The healthy path is left out: whether it is reached is what each test's own last step checks.
  const faults = [...sent.keys()].filter((path) => path !== '/ok')
  t.same(faults.map((path) => up.requests.filter((r) => r.path === path).length), faults.map((path) => sent.get(path)),
    'each faulty request reached the upstream exactly once: no retry, no duplicate')
})
