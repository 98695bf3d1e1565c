/**
 * sendHead against real Node responses: an HTTP/1.1 server read byte for byte, and an HTTP/2 server read by Node's
 * HTTP/2 client. A refused field must leave no trace, so the error page that follows is wholly Rampart's.
 */
import t from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import { once } from 'node:events'
import { sendHead } from '../../src/proxy/response-head.js'
import type { UpstreamHeaders } from '../../src/proxy/forwarder.js'

type Handler = (res: ServerResponse | http2.Http2ServerResponse) => void

/** The raw bytes of one HTTP/1.1 answer from a server whose handler is `handle`. */
async function h1Answer(handle: Handler): Promise<string> {
  const server = http.createServer((_req: IncomingMessage, res: ServerResponse) => handle(res))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    socket.end('GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')
    let text = ''
    socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
    await once(socket, 'close')
    return text
  } finally {
    server.close()
  }
}

/** Status, headers and body of one HTTP/2 answer. */
async function h2Answer(handle: Handler): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  const server = http2.createServer((_req, res) => handle(res))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`)
  try {
    const stream = client.request({ ':path': '/' })
    const [headers] = await once(stream, 'response') as [http2.IncomingHttpHeaders]
    let body = ''
    stream.setEncoding('utf8')
    stream.on('data', (d: string) => { body += d })
    await once(stream, 'end')
    return { status: Number(headers[':status']), headers, body }
  } finally {
    client.close()
    server.close()
  }
}

const sent = (headers: UpstreamHeaders): Handler => (res) => {
  t.equal(sendHead(res, 201, headers), undefined, 'the head is accepted')
  res.end('body')
}

/**
 * The app's head with one field both protocols refuse (a space in its name; HTTP/2's compatibility layer does not
 * check values), then the page a gateway sends instead.
 */
const refusedThenPage: Handler = (res) => {
  const err = sendHead(res, 200, { 'x-app': 'from the app', 'set-cookie': ['a=1'], 'bad name': 'x', 'x-after': 'later' })
  t.type(err, Error, 'the refusal is returned, not thrown')
  t.notOk(res.headersSent, 'nothing was sent')
  res.writeHead(502, { 'content-type': 'text/plain' })
  res.end('page')
}

t.test('HTTP/1.1: every defined field in one head, undefined ones left out, arrays as repeated fields', async (t) => {
  const text = await h1Answer(sent({ 'x-one': '1', 'x-gone': undefined, 'set-cookie': ['a=1', 'b=2'], 'content-length': '4' }))
  const head = text.slice(0, text.indexOf('\r\n\r\n'))
  t.match(head, /^HTTP\/1\.1 201 Created\r\n/)
  t.match(head, /\r\nx-one: 1(\r\n|$)/)
  t.match(head, /\r\nset-cookie: a=1\r\nset-cookie: b=2(\r\n|$)/)
  t.notMatch(head, /x-gone/i, 'an undefined field is not sent')
  t.equal(text.slice(text.indexOf('\r\n\r\n') + 4), 'body')
})

t.test('HTTP/1.1: a refused value (a control byte) is refused too', async (t) => {
  const text = await h1Answer((res) => {
    t.type(sendHead(res, 200, { 'x-app': 'a\u0001b' }), Error)
    res.writeHead(502).end()
  })
  t.match(text, /^HTTP\/1\.1 502 Bad Gateway\r\n/)
  t.notMatch(text, /x-app/i)
})

t.test('HTTP/1.1: a refused field leaves no trace: the page has its own status line and none of the app\'s fields', async (t) => {
  const text = await h1Answer(refusedThenPage)
  const head = text.slice(0, text.indexOf('\r\n\r\n'))
  t.match(head, /^HTTP\/1\.1 502 Bad Gateway\r\n/, 'the reason phrase is the page\'s, not the app\'s "OK"')
  t.notMatch(head, /x-app|set-cookie|x-after/i)
  t.match(text, /\r\n\r\n4\r\npage\r\n0\r\n\r\n$/, 'then the page')
})

t.test('HTTP/2: every defined field, undefined ones left out', async (t) => {
  const res = await h2Answer(sent({ 'x-one': '1', 'x-gone': undefined, 'set-cookie': ['a=1', 'b=2'] }))
  t.equal(res.status, 201)
  t.equal(res.headers['x-one'], '1')
  t.same(res.headers['set-cookie'], ['a=1', 'b=2'])
  t.equal(res.headers['x-gone'], undefined)
  t.equal(res.body, 'body')
})

t.test('HTTP/2: a refused field leaves none of the fields accepted before it', async (t) => {
  const res = await h2Answer(refusedThenPage)
  t.equal(res.status, 502)
  t.equal(res.headers['x-app'], undefined)
  t.equal(res.headers['set-cookie'], undefined)
  t.equal(res.body, 'page')
})
