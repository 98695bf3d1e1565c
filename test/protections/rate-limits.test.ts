/**
 * Rate limits through a running gateway with a real Redis store, over real sockets: per-address 429 with
 * Retry-After and the RateLimit fields (and the fields on allowed answers), shadow mode, the allowlist, a
 * body-keyed e-mail limit on the demo app's password-reset form with a pretend-success answer, exact request bytes
 * at the upstream whether the body was buffered or not, and streaming on routes no body-keyed limit matches.
 * Client addresses come from X-Forwarded-For (the loopback peer is a trusted proxy). Windows use a fake `Date`.
 */
import t from 'tap'
import https from 'node:https'
import FakeTimers from '@sinonjs/fake-timers'
import { startGateway, h1, type Response } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { startRedis } from '../helpers/redis.js'
import { startDemoApp, RESET_SENT_TEXT } from '../../src/demo/app.js'

const redis = await startRedis()
t.teardown(() => redis.stop())
const demo = await startDemoApp({ port: 0 })
t.teardown(() => demo.close())

/** Raw bodies as the upstream received them, and when their first bytes arrived. */
interface Arrival { url: string; headers: Record<string, unknown>; chunks: Buffer[]; ended: boolean }
const arrivals: Arrival[] = []
const waiters: Array<() => void> = []
const raw = await startUpstream(t, (req, res) => {
  const a: Arrival = { url: req.url ?? '', headers: req.headers, chunks: [], ended: false }
  arrivals.push(a)
  req.on('data', (c: Buffer) => {
    a.chunks.push(c)
    for (const w of waiters.splice(0)) w()
  })
  req.on('end', () => {
    a.ended = true
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('ok')
  })
})

const PRETEND_BODY = `<p>${RESET_SENT_TEXT}</p>`

const gw = await startGateway(t, `listen:
  https: { host: 127.0.0.1, port: 0 }
  http: { enabled: false }
  admin: { enabled: false }
trustedProxies: [127.0.0.1/32]
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [a.test]
    upstream: http://127.0.0.1:${demo.port}
  - name: raw
    hosts: [raw.a.test]
    upstream: ${raw.url}
store:
  redis: ${redis.url}
  keySecret: rate-limit-test-key-secret
  # Generous: these tests are about results, not timeouts (store-faults covers those), and CI machines are busy.
  commandTimeout: 1s
# Only the protections under test: threat detection would buffer form bodies on every route.
threats: { mode: off }
rateLimits:
  - { name: per-ip, match: { site: club, pathPrefix: /limited }, key: ip, limit: 3, per: 1m }
  - { name: shadow, match: { site: club, pathPrefix: /shadow }, key: ip, limit: 2, per: 1m, mode: shadow }
  - { name: office, match: { site: club, pathPrefix: /office }, key: ip, limit: 1, per: 1m, allow: [203.0.113.0/24] }
  - name: reset-mail
    match: { site: club, method: POST, path: /password-reset }
    key: body.email
    limit: 2
    per: 1h
    answer:
      pretend:
        status: 200
        contentType: "text/html; charset=UTF-8"
        headers: { Cache-Control: "no-store, no-cache, must-revalidate", Pragma: no-cache }
        body: "${PRETEND_BODY}"
  - { name: form-mail, match: { site: raw, method: POST, path: /form }, key: body.email, limit: 1000, per: 1h }
`, { certs: { site: ['a.test', '*.a.test'] } })

const clock = FakeTimers.install({ toFake: ['Date'], now: Date.now(), shouldAdvanceTime: true })
t.teardown(() => clock.uninstall())

const get = (path: string, ip: string, host = 'a.test'): Promise<Response> =>
  h1(gw.port, { host, path, headers: { 'x-forwarded-for': ip }, ca: gw.ca })
const post = (path: string, ip: string, body: string | Buffer, contentType: string, host = 'a.test'): Promise<Response> =>
  h1(gw.port, { host, path, method: 'POST', body, headers: { 'x-forwarded-for': ip, 'content-type': contentType }, ca: gw.ca })
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const FORM = 'application/x-www-form-urlencoded'

t.test('per-address limit: RateLimit fields on allowed answers, then 429 with Retry-After; honest Retry-After', async (t) => {
  const before = demo.server.stats.requests
  const allowed: Response[] = []
  // Path spellings the application serves as one page count as one route.
  for (const path of ['/limited', '/Limited/', '//limited/./x']) allowed.push(await get(path, '198.51.100.1'))
  for (const [i, res] of allowed.entries()) {
    t.equal(res.status, 404, 'the demo app answered (it has no such page)')
    t.equal(res.headers['ratelimit-policy'], '"per-ip";q=3;w=60')
    t.match(res.headers['ratelimit'], new RegExp(`^"per-ip";r=${2 - i};t=\\d+$`), `remaining ${2 - i}`)
  }
  const refused = await get('/limited', '198.51.100.1')
  t.equal(refused.status, 429)
  t.equal(refused.body, 'Too Many Requests\n')
  t.equal(refused.headers['ratelimit-policy'], '"per-ip";q=3;w=60')
  t.match(refused.headers['ratelimit'], /^"per-ip";r=0;t=\d+$/)
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 120, `Retry-After ${retryAfter}`)
  t.equal(refused.headers['cache-control'], 'no-store')
  t.ok(refused.headers['strict-transport-security'], 'the answer carries the header policy like every page')
  t.equal(demo.server.stats.requests - before, 3, 'the refused request never reached the application')
  t.equal((await get('/limited', '198.51.100.2')).status, 404, 'another address has its own budget')
  t.equal((await get('/elsewhere', '198.51.100.1')).headers['ratelimit'], undefined, 'other routes: no limit, no fields')

  clock.tick(retryAfter * 1000)
  t.equal((await get('/limited', '198.51.100.1')).status, 404, 'allowed again once Retry-After has passed')
  t.equal((await get('/limited', '198.51.100.1')).status, 429, 'and only that one')
  const line = gw.logs.find((l) => l['code'] === 'RAMPART_ERR_RATELIMIT_EXCEEDED' && l['limit'] === 'per-ip')
  t.match(line, { clientIp: '198.51.100.1', reason: 'over', answer: 'refuse' })
})

t.test('shadow mode: everything passes, nothing is advertised, the would-be refusals are logged', async (t) => {
  const before = demo.server.stats.requests
  for (let i = 0; i < 4; i++) {
    const res = await get('/shadow', '198.51.100.20')
    t.equal(res.status, 404)
    t.equal(res.headers['ratelimit'], undefined)
    t.equal(res.headers['ratelimit-policy'], undefined)
  }
  t.equal(demo.server.stats.requests - before, 4)
  const lines = gw.logs.filter((l) => l['limit'] === 'shadow' && l['mode'] === 'shadow')
  t.equal(lines.length, 2, 'requests 3 and 4 are over the limit')
  t.match(lines[0], { code: 'RAMPART_ERR_RATELIMIT_EXCEEDED', enforced: false, clientIp: '198.51.100.20' })
})

t.test('allowlist: listed addresses are never limited, others are', async (t) => {
  for (let i = 0; i < 3; i++) t.equal((await get('/office', '203.0.113.9')).status, 404, `allowlisted request ${i + 1}`)
  t.equal((await get('/office', '198.51.100.30')).status, 404)
  t.equal((await get('/office', '198.51.100.30')).status, 429)
})

t.test('body-keyed e-mail limit on the reset form: normalised e-mail, any body format, pretend-success answer', async (t) => {
  const before = demo.server.stats.requests
  const first = await post('/password-reset', '198.51.100.40', form({ email: 'Victim@Example.com' }), FORM)
  t.equal(first.status, 200)
  t.match(first.body, RESET_SENT_TEXT)
  t.equal(first.headers['ratelimit'], undefined, 'a limit with a pretend answer is never advertised')
  t.equal((await post('/password-reset', '198.51.100.41', JSON.stringify({ email: ' victim@example.COM ' }), 'application/json')).status, 200)
  t.equal(demo.server.stats.requests - before, 2)

  const variants: Array<[string, string | Buffer, string]> = [
    ['form, other case and spaces', form({ email: '  VICTIM@example.com' }), FORM],
    ['JSON', JSON.stringify({ email: 'victim@example.com' }), 'application/json'],
    ['multipart', '--b0\r\nContent-Disposition: form-data; name="email"\r\n\r\nvictim@example.com\r\n--b0--\r\n', 'multipart/form-data; boundary=b0'],
  ]
  for (const [name, body, type] of variants) {
    const res = await post('/password-reset', `198.51.100.${50 + variants.findIndex((v) => v[0] === name)}`, body, type)
    t.equal(res.status, 200, name)
    t.equal(res.body, PRETEND_BODY, `${name}: the pretend answer`)
    t.equal(res.headers['retry-after'], undefined)
    t.equal(res.headers['ratelimit'], undefined)
    t.equal(res.headers['cache-control'], 'no-store, no-cache, must-revalidate', 'the configured headers, not Rampart\'s no-store')
    t.equal(res.headers['content-type'], 'text/html; charset=UTF-8')
  }
  t.equal(demo.server.stats.requests - before, 2, 'throttled requests never reached the application')

  t.equal((await post('/password-reset', '198.51.100.40', form({ email: 'someone@example.com' }), FORM)).body.includes(RESET_SENT_TEXT), true, 'another address passes')
  t.equal((await h1(gw.port, { host: 'a.test', path: '/password-reset', headers: { 'x-forwarded-for': '198.51.100.40' }, ca: gw.ca })).status, 200, 'GET is not limited')
  t.equal((await post('/password-reset', '198.51.100.40', form({ other: 'x' }), FORM)).status, 200, 'no e-mail field: the limit does not apply')
  t.equal(demo.server.stats.requests - before, 5)

  // Padding the form past the cap so that the e-mail is cut off must not dodge the limit.
  const padded = `pad=${'x'.repeat(70 * 1024)}&email=victim@example.com`
  const tooLarge = await post('/password-reset', '198.51.100.40', padded, FORM)
  t.equal(tooLarge.status, 413)
  t.equal(demo.server.stats.requests - before, 5, 'the padded request never reached the application')
})

t.test('the upstream receives the exact bytes, whether the body fit the buffer, was cut, or was chunked', async (t) => {
  const small = Buffer.concat([
    Buffer.from('email=a%40b.test&note=caf%C3%A9+%26+cr%C3%A8me&raw=\u00e9t\u00e9&x=%00%FF&'),
    Buffer.from([0xff, 0xfe, 0x00, 0x80]),
  ])
  const big = Buffer.concat([Buffer.from('email=big%40b.test&blob='), Buffer.alloc(200 * 1024, 0x61), Buffer.from('&end=1')])
  for (const [name, body] of [['small', small], ['larger than the 64 KB buffer', big]] as const) {
    arrivals.length = 0
    const res = await post('/form', '198.51.100.60', body, FORM, 'raw.a.test')
    t.equal(res.status, 200, name)
    t.equal(arrivals.length, 1)
    t.ok(Buffer.concat(arrivals[0]!.chunks).equals(body), `${name}: identical bytes`)
    t.equal(arrivals[0]!.headers['content-length'], String(body.length))
  }

  arrivals.length = 0
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: gw.port, method: 'POST', path: '/form', servername: 'raw.a.test', ca: gw.ca, agent: false,
      headers: { host: 'raw.a.test', 'content-type': FORM, 'transfer-encoding': 'chunked' },
    }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.write(small.subarray(0, 10))
    req.write(small.subarray(10))
    req.end()
  })
  t.equal(chunked, 200)
  t.ok(Buffer.concat(arrivals[0]!.chunks).equals(small), 'chunked: identical bytes')
})

t.test('routes without a body-keyed limit stream; body-keyed routes are buffered', async (t) => {
  /** Sends the first chunk, waits until the upstream saw the request's data or `ms` passed, then finishes. */
  async function firstChunkArrivesEarly(path: string, ms: number): Promise<boolean> {
    arrivals.length = 0
    let finish!: () => void
    const done = new Promise<void>((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: gw.port, method: 'POST', path, servername: 'raw.a.test', ca: gw.ca, agent: false,
        headers: { host: 'raw.a.test', 'content-type': FORM, 'transfer-encoding': 'chunked' },
      }, (res) => {
        res.resume()
        res.on('end', () => resolve())
      })
      req.on('error', reject)
      req.write('email=stream%40b.test&part=one')
      finish = () => req.end('&part=two')
    })
    const seen = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      waiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    finish()
    await done
    t.equal(Buffer.concat(arrivals[0]!.chunks).toString(), 'email=stream%40b.test&part=one&part=two', `${path}: whole body arrived`)
    return seen
  }
  t.equal(await firstChunkArrivesEarly('/upload', 5000), true, 'an unlimited route forwards the first chunk before the body ends')
  t.equal(await firstChunkArrivesEarly('/form', 300), false, 'the body-keyed route holds the body until it is read')
})
