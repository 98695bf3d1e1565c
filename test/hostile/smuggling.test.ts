/**
 * Request smuggling through a real gateway, with exact bytes on both sides: a raw TLS client writes the framing
 * attack, a raw upstream records every byte the gateway sent on.
 *
 * What it proves:
 * - Ambiguous framing (Content-Length with Transfer-Encoding, duplicate or malformed Content-Length, obfuscated
 *   Transfer-Encoding, obs-fold, bare LF or CR) gets 400 and a closed connection; the upstream gets no byte.
 * - A request pipelined behind one Rampart refused (and closed the connection on) is never forwarded.
 * - Malformed chunked bodies (bad sizes, bad extensions, bad terminators) get 400; the upstream never gets a
 *   complete request, and the bytes smuggled after them never reach it.
 * - Spellings the parser may safely normalise (`Chunked`, `identity, chunked`, a tab, chunk extensions) arrive as
 *   exactly one re-framed request; a request pipelined after them is checked on its own (403 here), never
 *   smuggled through.
 * - A client's malformed body is the client's fault: it never counts against the upstream's health, and it never
 *   crashes the gateway.
 * - HTTP/2: a body longer than its content-length, or a stream reset mid-upload, never reaches the upstream as a
 *   complete (truncated) request.
 */
import t from 'tap'
import http2 from 'node:http2'
import { startGateway, LISTEN_HTTPS_ONLY } from '../helpers/gateway.js'
import { deadPort } from '../helpers/upstream.js'
import { startRawUpstream, type RawRequest, type RawUpstream } from './raw-upstream.js'
import { barrier, BARRIER_PREFIX, connectRaw, exchange, h2Exchange, rawExchange, parseResponses, type Outcome, type ParsedResponse } from './raw-client.js'

const up = await startRawUpstream(t)
const ejectable = await startRawUpstream(t)
const dead = await deadPort()
const gw = await startGateway(t, `${LISTEN_HTTPS_ONLY}
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: site.pem, key: site-key.pem }
sites:
  - name: app
    hosts: [a.test]
    upstream: ${up.url}
    # Client-caused failures in one test must not eject this target for the next (the ejection test uses its own site).
    passive: { maxFails: 1000 }
  - name: ejectable
    hosts: [eject.a.test]
    upstream: ${ejectable.url}
  - name: dead
    hosts: [dead.a.test]
    upstream: http://127.0.0.1:${dead}
    passive: { maxFails: 1 }
access:
  - { pathPrefix: /admin, deny: [0.0.0.0/0, "::/0"] }
`, { certs: { site: ['a.test', '*.a.test'] } })

const TARGET = { port: gw.port, ca: gw.ca }
const HOST = 'Host: a.test\r\n'
/** The request an attacker hides in a body; its target marks it wherever it lands. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n'
/** A pipelined request the access rule refuses, closing the connection so the client need not wait. */
const ADMIN_THEN_CLOSE = 'GET /admin HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'

/** One raw exchange on `a.test` (or `servername`), settled by a barrier; see `exchange`. */
const send = (payload: string, upstream: RawUpstream = up, servername = 'a.test'): Promise<Outcome> =>
  exchange({ ...TARGET, servername }, servername, payload, upstream)

const statuses = (o: { responses: ParsedResponse[] }): number[] => o.responses.map((r) => r.status)

t.test('control: the upstream sees one request per client request, and two when two are pipelined', async (t) => {
  const one = await send(`GET /one HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.same(statuses(one), [200])
  t.same(one.forwarded.map((r) => r.target), ['/one'])
  const two = await send(`GET /a HTTP/1.1\r\n${HOST}\r\nGET /b HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`)
  t.same(statuses(two), [200, 200])
  t.same(two.forwarded.map((r) => r.target), ['/a', '/b'], 'each pipelined request is forwarded on its own')
})

t.test('ambiguous framing in the head: 400, connection closed, not one byte upstream', async (t) => {
  const post = (headers: string, body: string): string => `POST / HTTP/1.1\r\n${HOST}${headers}\r\n${body}`
  const cases: Array<[string, string]> = [
    ['CL.TE', post('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['TE.CL', post('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`)],
    ['duplicate identical Content-Length', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello')],
    ['duplicate different Content-Length', post(`Content-Length: 5\r\nContent-Length: ${5 + SMUGGLED.length}\r\n`, `hello${SMUGGLED}`)],
    ['Content-Length list', post('Content-Length: 5, 5\r\n', 'hello')],
    ['Content-Length +5', post('Content-Length: +5\r\n', 'hello')],
    ['Content-Length -1', post('Content-Length: -1\r\n', 'hello')],
    ['Content-Length 0x5', post('Content-Length: 0x5\r\n', 'hello')],
    ['Content-Length with inner space', post('Content-Length: 1 0\r\n', 'helloworld')],
    ['Content-Length overflow', post('Content-Length: 99999999999999999999999\r\n', 'hello')],
    ['Transfer-Encoding: chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['two Transfer-Encoding lines', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['space before the colon', post('Transfer-Encoding : chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['obs-fold Transfer-Encoding', post('Transfer-Encoding:\r\n chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['obs-fold hiding a header', post('X-Foo: bar\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', 'hello')],
    ['bare LF line endings', `GET / HTTP/1.1\n${HOST.replace('\r\n', '\n')}\n${SMUGGLED}`],
    ['bare LF inside the head', `GET / HTTP/1.1\r\nHost: a.test\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED}`],
    ['bare CR inside the head', `GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n${SMUGGLED}`],
    ['GET with a Content-Length body', `GET / HTTP/1.1\r\n${HOST}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    ['GET with Transfer-Encoding', `GET / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ]
  for (const [name, payload] of cases) {
    const o = await send(payload)
    t.same(statuses(o), [400], `${name}: one answer, 400`)
    t.ok(o.closedByServer, `${name}: connection closed`)
    t.equal(o.stray, '', `${name}: the upstream received nothing`)
  }
})

t.test('after a refusal that closes the connection, nothing pipelined behind it reaches the upstream', async (t) => {
  // Rampart refuses these itself (not the parser) and answers "Connection: close": the bytes after them are exactly
  // what a front proxy that framed the first request differently would have sent as someone else's request.
  const cases: Array<[string, string]> = [
    ['GET with Transfer-Encoding', `GET / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['absolute-form target', `GET https://a.test/ HTTP/1.1\r\n${HOST}\r\n`],
    ['missing Host', 'GET / HTTP/1.1\r\n\r\n'],
  ]
  for (const [name, first] of cases) {
    const o = await send(`${first}${SMUGGLED}`)
    t.equal(statuses(o)[0], 400, `${name}: refused`)
    t.ok(o.closedByServer, `${name}: connection closed`)
    t.same(o.forwarded.map((q) => q.target), [], `${name}: the pipelined request was not forwarded`)
  }
})

t.test('malformed chunked bodies: 400, and the upstream never gets a complete request or the smuggled one', async (t) => {
  const chunked = (body: string, te = 'chunked'): string =>
    `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: ${te}\r\n\r\n${body}${SMUGGLED}`
  const cases: Array<[string, string]> = [
    ['unknown coding xchunked', chunked('5\r\nhello\r\n0\r\n\r\n', 'xchunked')],
    ['non-hex size', chunked('zz\r\nhello\r\n0\r\n\r\n')],
    ['size overflow', chunked('fffffffffffffffffff5\r\nhello\r\n0\r\n\r\n')],
    ['negative size', chunked('-5\r\nhello\r\n0\r\n\r\n')],
    ['space after the size', chunked('5 \r\nhello\r\n0\r\n\r\n')],
    ['bare LF in a chunk extension', chunked('5;a\nb\r\nhello\r\n0\r\n\r\n')],
    ['NUL in a chunk extension', chunked('5;a\x00b\r\nhello\r\n0\r\n\r\n')],
    ['chunk data longer than its size', chunked('5\r\nhelloXX\r\n0\r\n\r\n')],
    ['bare LF chunk lines', chunked('5\nhello\n0\n\n')],
  ]
  for (const [name, payload] of cases) {
    const o = await send(payload)
    t.same(statuses(o), [400], `${name}: one answer, 400`)
    t.ok(o.closedByServer, `${name}: connection closed`)
    t.equal(o.forwarded.length, 0, `${name}: no complete request upstream`)
    t.notOk(o.stray.includes('/smuggled'), `${name}: the smuggled request never reaches the upstream`)
  }
})

t.test('normalisable spellings arrive as exactly one re-framed request; what follows is checked on its own', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['Transfer-Encoding: Chunked (case)', 'Transfer-Encoding: Chunked', '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding: identity, chunked', 'Transfer-Encoding: identity, chunked', '5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding with a tab', 'Transfer-Encoding:\tchunked', '5\r\nhello\r\n0\r\n\r\n'],
    ['chunk extension', 'Transfer-Encoding: chunked', '5;name=value\r\nhello\r\n0\r\n\r\n'],
    ['quoted chunk extension', 'Transfer-Encoding: chunked', '5;name="va lue"\r\nhello\r\n0\r\n\r\n'],
    ['body then a pipelined request', 'Content-Length: 5', 'hello'],
  ]
  for (const [name, framing, body] of cases) {
    const o = await send(`POST / HTTP/1.1\r\n${HOST}${framing}\r\n\r\n${body}${ADMIN_THEN_CLOSE}`)
    t.same(statuses(o), [200, 403], `${name}: the body's request is proxied, the pipelined /admin refused`)
    t.equal(o.forwarded.length, 1, `${name}: exactly one upstream request`)
    const [req] = o.forwarded
    t.equal(req?.body.toString('latin1'), 'hello', `${name}: with the client's body`)
    const framings = req?.headers.filter(([n]) => n === 'content-length' || n === 'transfer-encoding') ?? []
    t.equal(framings.length, 1, `${name}: framed one way only`)
    t.notOk(/identity|name=/.test(req?.raw.toString('latin1') ?? ''), `${name}: no client framing detail passes through`)
    t.notOk(o.stray.includes('/admin'), `${name}: /admin never reaches the upstream`)
  }
})

t.test('a client\'s malformed chunked bodies never eject a healthy upstream', async (t) => {
  // Passive health (default: 3 failures eject a target for 30 s) is about targets that fail. Three bad requests
  // from one client must not take the site down for everyone.
  const target = { port: gw.port, ca: gw.ca, servername: 'eject.a.test' }
  for (let i = 0; i < 3; i++) {
    const o = await rawExchange(target, 'POST / HTTP/1.1\r\nHost: eject.a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n')
    t.same(statuses({ responses: parseResponses(o.text) }), [400], `bad body ${i + 1}: 400`)
  }
  const after = await rawExchange(target, 'GET /after HTTP/1.1\r\nHost: eject.a.test\r\nConnection: close\r\n\r\n')
  t.same(statuses({ responses: parseResponses(after.text) }), [200], 'the next client is still served')
  t.same(ejectable.requests.map((r) => r.target), ['/after'], 'by the same upstream')
  const ejections = gw.logs.filter((l) => l['msg'] === 'upstream target ejected after consecutive failures' && l['site'] === 'ejectable')
  t.equal(ejections.length, 0, 'no ejection was logged')
})

t.test('a malformed chunked body to a site with no healthy target does not crash the gateway', async (t) => {
  const escaped: Error[] = []
  const onUncaught = (err: Error): void => {
    escaped.push(err)
  }
  process.on('uncaughtException', onUncaught)
  t.teardown(() => {
    process.off('uncaughtException', onUncaught)
  })
  const target = { port: gw.port, ca: gw.ca, servername: 'dead.a.test' }
  const ask = async (payload: string): Promise<number[]> => statuses({ responses: parseResponses((await rawExchange(target, payload)).text) })
  t.same(await ask('GET / HTTP/1.1\r\nHost: dead.a.test\r\nConnection: close\r\n\r\n'), [502], 'the dead target is found dead, and ejected')
  const bad = await ask('POST / HTTP/1.1\r\nHost: dead.a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n')
  t.ok(bad.length === 1 && bad[0]! >= 400, 'the bad body gets one error answer')
  t.same(await ask('GET / HTTP/1.1\r\nHost: dead.a.test\r\nConnection: close\r\n\r\n'), [503], 'the gateway still answers')
  t.same(escaped.map((e) => e.message), [], 'no error escaped the gateway (in production it would exit the process)')
})

t.test('HTTP/1.1 upload cut mid-body: the upstream never gets a complete request', async (t) => {
  up.reset()
  const socket = await connectRaw(TARGET)
  socket.write(`POST /upload HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n`)
  await up.until(() => up.received().includes('hel'))
  socket.destroy()
  const conn = up.connections.find((c) => c.bytes.includes('hel'))!
  await up.until(() => conn.closed || conn.requests.length > 0)
  t.equal(conn.requests.length, 0, 'the truncated body was not framed as a complete request')
  t.ok(conn.closed, 'the upstream connection carrying it was closed')
})

t.test('HTTP/2: a body longer than its content-length never reaches the upstream (H2.CL)', async (t) => {
  const forwarded = (): RawRequest[] => up.requests.filter((q) => !q.target.startsWith(BARRIER_PREFIX))
  for (const declared of ['0', '5']) {
    up.reset()
    const r = await h2Exchange(TARGET, { ':method': 'POST', ':path': '/h2cl', 'content-length': declared }, `hello${SMUGGLED}`)
    t.ok(r.error !== undefined || (r.status !== undefined && r.status >= 400), `content-length ${declared}: the stream is refused`)
    // A later request on a fresh connection is the barrier: by the time it arrives, the refused one was dealt with.
    await barrier(TARGET, 'a.test', up)
    t.notOk(up.received().includes('hello'), `content-length ${declared}: no byte of the body reaches the upstream`)
    t.notOk(up.received().includes('/smuggled'), `content-length ${declared}: nor the request hidden in it`)
    if (declared === '0') {
      // A declared-empty body is whole once the headers are in; a streaming proxy forwards it at once, as declared.
      t.ok(forwarded().every((q) => q.body.length === 0), 'content-length 0: at most an empty request, as declared')
    } else {
      t.same(forwarded(), [], 'content-length 5: the request is not forwarded with a body other than the one declared')
    }
  }
})

t.test('HTTP/2: an upload cut mid-body never reaches the upstream as a complete request', async (t) => {
  up.reset()
  const session = http2.connect(`https://127.0.0.1:${gw.port}`, { servername: 'a.test', ca: gw.ca })
  t.teardown(() => session.destroy())
  session.on('error', () => undefined)
  const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'a.test', 'content-type': 'application/octet-stream' },
    { endStream: false })
  req.on('error', () => undefined)
  req.write('hel')
  await up.until(() => up.received().includes('hel'))
  // The session drops with the body unfinished. (Node's stream.close() would not do: it sends END_STREAM before
  // RST_STREAM, which makes the body complete as far as HTTP/2 is concerned.)
  session.destroy()
  const conn = up.connections.find((c) => c.bytes.includes('hel'))!
  await up.until(() => conn.closed || conn.requests.length > 0)
  t.equal(conn.requests.length, 0, 'the truncated body was not framed as a complete request')
  t.ok(conn.closed, 'the upstream connection carrying it was closed')
})
