/**
 * Login lockout through a running gateway with a real Redis store, over real sockets, in front of the demo app
 * (`alice` / `correct horse`; failure = 200 page with "Invalid credentials") and of a legacy app with a fixed
 * failure page (for byte-exact comparisons): failures lock the account, locked attempts are answered without the
 * upstream and look like the application's own failure, per-address threshold, success resets, lock durations
 * double (fake `Date`), device cookies let the owner in while locked, reset requests never lock, compressed and
 * oversized login bodies, the timing gap between a locked answer and a real failure, and `rampart unlock`.
 * Client addresses come from X-Forwarded-For (the loopback peer is a trusted proxy).
 */
import t from 'tap'
import https from 'node:https'
import { gzipSync } from 'node:zlib'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import FakeTimers from '@sinonjs/fake-timers'
import { startGateway, type Response } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { startRedis } from '../helpers/redis.js'
import { projectRoot } from '../helpers/paths.js'
import { startDemoApp, INVALID_CREDENTIALS_TEXT } from '../../src/demo/app.js'
import { hashSubject } from '../../src/store/keys.js'

const execFileP = promisify(execFile)
const KEY_SECRET = 'lockout-test-key-secret'
const account = (name: string) => hashSubject(KEY_SECRET, name)

const redis = await startRedis()
t.teardown(() => redis.stop())
const demo = await startDemoApp({ port: 0, users: { alice: 'correct horse', bob: 'pw' } })
t.teardown(() => demo.close())

// The legacy app: a fixed failure page with the headers a stock Apache + mod_php sends.
const LEGACY_FAILURE = '<!DOCTYPE html>\n<html><head><title>Log in</title></head>\n<body><p class="error">Invalid credentials</p>\n' +
  '<form method="post" action="/login"><input name="username"><input type="password" name="password"><button>Log in</button></form>\n</body></html>\n'
const PHP = {
  server: 'Apache/2.4.57 (Debian)', 'x-powered-by': 'PHP/8.2.7', expires: 'Thu, 19 Nov 1981 08:52:00 GMT',
  'cache-control': 'no-store, no-cache, must-revalidate', pragma: 'no-cache', 'content-type': 'text/html; charset=UTF-8',
}
let legacyRequests = 0
const legacySeen: Array<{ url: string; acceptEncoding: string | undefined }> = []
const legacy = await startUpstream(t, (req, res) => {
  legacyRequests++
  legacySeen.push({ url: req.url ?? '', acceptEncoding: req.headers['accept-encoding'] })
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const form = new URLSearchParams(Buffer.concat(chunks).toString())
    const session = /PHPSESSID=[0-9a-f]{32}/.test(req.headers.cookie ?? '') ? {} : { 'set-cookie': `PHPSESSID=${'1'.repeat(32)}; path=/` }
    if (form.get('username') === 'alice' && form.get('password') === 'correct horse') {
      res.writeHead(302, { ...PHP, ...session, location: '/account', 'content-length': '0' })
      return res.end()
    }
    if (req.url === '/gz-login') {
      // Compresses whatever the client asked for, as a misconfigured output filter does.
      const body = gzipSync(LEGACY_FAILURE)
      res.writeHead(200, { ...PHP, ...session, 'content-encoding': 'gzip', 'content-length': String(body.length) })
      return res.end(body)
    }
    res.writeHead(200, { ...PHP, ...session, 'content-length': String(Buffer.byteLength(LEGACY_FAILURE)) })
    res.end(LEGACY_FAILURE)
  })
})

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
  - name: legacy
    hosts: [legacy.a.test]
    upstream: ${legacy.url}
store:
  redis: ${redis.url}
  keySecret: ${KEY_SECRET}
  # Generous: these tests are about results, not timeouts (store-faults covers those), and CI machines are busy.
  commandTimeout: 1s
lockout:
  logins:
    - { site: club, path: /login }
    - { site: legacy, path: /login }
    - { site: legacy, path: /gz-login }
  failure: { status: [401, 403], bodyContains: "${INVALID_CREDENTIALS_TEXT}" }
  maxFailures: 3
  window: 15m
  lockFor: 1m
  maxLockFor: 8m
  perIp: { maxFailures: 6, window: 15m, lockFor: 10m }
  answer:
    mode: mimic
    status: 200
    contentType: "text/html; charset=UTF-8"
    headers: { Expires: "Thu, 19 Nov 1981 08:52:00 GMT", Cache-Control: "no-store, no-cache, must-revalidate", Pragma: no-cache }
    body: ${JSON.stringify(LEGACY_FAILURE)}
  deviceCookie: { secret: "device-cookie-secret-for-the-lockout-test", maxFailures: 2 }
`, { certs: { site: ['a.test', '*.a.test'] } })

const clock = FakeTimers.install({ toFake: ['Date'], now: Date.now(), shouldAdvanceTime: true })
t.teardown(() => clock.uninstall())

const agent = new https.Agent({ keepAlive: true, maxSockets: 4 })
t.teardown(() => agent.destroy())

interface LoginOptions {
  readonly host?: string
  readonly path?: string
  readonly ip: string
  readonly cookie?: string
  readonly body?: string | Buffer
  readonly headers?: Record<string, string>
}

/** One POST over a keep-alive connection; `ms` is the client-side latency. */
function send(o: LoginOptions & { user?: string; password?: string }): Promise<Response & { ms: number; raw: Buffer }> {
  const body = o.body ?? new URLSearchParams({ username: o.user ?? '', password: o.password ?? 'wrong' }).toString()
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const host = o.host ?? 'a.test'
    const req = https.request({
      host: '127.0.0.1', port: gw.port, method: 'POST', path: o.path ?? '/login', servername: host, ca: gw.ca, agent,
      headers: {
        host, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': o.ip,
        cookie: o.cookie ?? `PHPSESSID=${'2'.repeat(32)}`, 'content-length': String(Buffer.byteLength(body)), ...o.headers,
      },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString('utf8'), rawHeaders: res.rawHeaders, ms: performance.now() - started, raw })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')))
    req.end(body)
  })
}

type Line = Record<string, unknown>
const audit = (type: string, acct?: string, also: (l: Line) => boolean = () => true) =>
  gw.logs.filter((l) => l['audit'] === true && l['type'] === type && (acct === undefined || l['account'] === acct) && also(l))

/** Outcomes are booked right after the answer left; waits (bounded) until `n` such audit lines exist. */
async function auditCount(type: string, acct: string | undefined, n: number, also?: (l: Line) => boolean): Promise<Line[]> {
  const deadline = performance.now() + 3000
  for (;;) {
    const lines = audit(type, acct, also)
    if (lines.length >= n) return lines
    if (performance.now() > deadline) throw new Error(`expected ${n} '${type}' audit lines, saw ${lines.length}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

t.test('failures lock the account; locked attempts never reach the application', async (t) => {
  const ip = '198.51.100.10'
  for (let i = 1; i <= 3; i++) {
    const res = await send({ user: 'bob', ip })
    t.equal(res.status, 200)
    t.match(res.body, INVALID_CREDENTIALS_TEXT, `failure ${i} answered by the application`)
  }
  const [lock] = await auditCount('login.lockout', account('bob'), 1)
  t.match(lock, { kind: 'account', scope: 'club', durationMs: 60_000, level: 1, enforced: true, ip })
  const failures = await auditCount('login.failure', account('bob'), 3)
  t.same(failures.map((l) => l['accountFailures']), [1, 2, 0], 'the third failure locks, which starts a new count')

  const before = demo.server.stats.requests
  const locked = await send({ user: 'bob', password: 'pw', ip: '198.51.100.11' })
  t.equal(locked.status, 200)
  t.equal(locked.body, LEGACY_FAILURE, 'the configured copy of the failure page, even with the right password')
  t.equal(demo.server.stats.requests, before, 'the application was not contacted')
  const [refusal] = await auditCount('login.locked-attempt', account('bob'), 1)
  t.match(refusal, { code: 'RAMPART_ERR_LOCKOUT_LOCKED', reason: 'account', ip: '198.51.100.11' })
  t.match(gw.logs.find((l) => l['type'] === 'access' && l['error'] === 'RAMPART_ERR_LOCKOUT_LOCKED'), { status: 200 })
  const all = JSON.stringify(gw.logs)
  t.notOk(all.includes('"bob"') || all.includes('username=bob'), 'user names appear only hashed')
  t.notOk(all.includes('correct horse') || all.includes('password=pw'), 'no password in any log line')
})

t.test('a locked answer is indistinguishable from the application\'s failure: status, body, headers and their order', async (t) => {
  const ip = '198.51.100.20'
  const failure = await send({ host: 'legacy.a.test', user: 'mallory', ip })
  t.equal(failure.body, LEGACY_FAILURE)
  await send({ host: 'legacy.a.test', user: 'mallory', ip })
  await send({ host: 'legacy.a.test', user: 'mallory', ip })
  await auditCount('login.lockout', account('mallory'), 1)
  const before = legacyRequests
  const locked = await send({ host: 'legacy.a.test', user: 'mallory', ip })
  t.equal(legacyRequests, before, 'answered by Rampart')
  t.equal(locked.status, failure.status)
  t.ok(locked.raw.equals(failure.raw), 'same body bytes')
  const comparable = (r: Response) => {
    const h = { ...r.headers }
    delete h['date']
    delete h['x-request-id']
    return h
  }
  t.same(comparable(locked), comparable(failure), 'same header fields and values (Date and request id differ per answer anyway)')
  const names = (r: Response) => r.rawHeaders!.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
  t.same(names(locked), names(failure), 'same header names in the same order')
})

t.test('timing: a locked answer versus a real failed login (loopback, keep-alive)', async (t) => {
  const N = 30
  const normal: number[] = []
  const locked: number[] = []
  for (let i = 0; i < N; i++) {
    // A fresh account and address each time, so that nothing locks.
    normal.push((await send({ host: 'legacy.a.test', user: `timing-${i}`, ip: `10.20.${i}.1` })).ms)
    locked.push((await send({ host: 'legacy.a.test', user: 'mallory', ip: '198.51.100.21' })).ms)
  }
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!
  const fmt = (xs: number[]) => `median ${q(xs, 0.5).toFixed(2)} ms, p90 ${q(xs, 0.9).toFixed(2)} ms`
  t.comment(`real failure (upstream + store): ${fmt(normal)}`)
  t.comment(`locked answer (store only):       ${fmt(locked)}`)
  t.comment(`gap (median): ${(q(normal, 0.5) - q(locked, 0.5)).toFixed(2)} ms`)
  t.ok(q(locked, 0.5) < 1000 && q(normal, 0.5) < 1000, 'both bounded')
})

t.test('per-address threshold: failures across accounts lock the address', async (t) => {
  const ip = '198.51.100.77'
  for (let i = 1; i <= 6; i++) t.match((await send({ user: `spray-${i}`, ip })).body, INVALID_CREDENTIALS_TEXT)
  const [lock] = await auditCount('login.lockout', undefined, 1, (l) => l['kind'] === 'ip')
  t.match(lock, { ip, durationMs: 600_000, account: undefined }, 'the address is locked for 10 minutes')
  const before = demo.server.stats.requests
  const refused = await send({ user: 'spray-7', ip })
  t.equal(refused.body, LEGACY_FAILURE, 'a fresh account from that address is refused')
  t.equal(demo.server.stats.requests, before)
  t.match((await send({ user: 'spray-7', ip: '198.51.100.78' })).body, INVALID_CREDENTIALS_TEXT, 'the same account from elsewhere is not')
})

t.test('a success resets the account\'s failures', async (t) => {
  const ip = '198.51.100.32'
  await send({ user: 'alice', ip })
  await send({ user: 'alice', ip })
  const before = demo.server.stats.loginSuccesses
  t.equal((await send({ user: 'alice', password: 'correct horse', ip })).status, 302)
  t.equal(demo.server.stats.loginSuccesses, before + 1)
  await auditCount('login.success', account('alice'), 1)
  await send({ user: 'alice', ip })
  const fourth = await send({ user: 'alice', ip })
  t.match(fourth.body, INVALID_CREDENTIALS_TEXT, 'failures 3 and 4 of the day reach the application: the count restarted')
  const counts = (await auditCount('login.failure', account('alice'), 4)).map((l) => l['accountFailures'])
  t.same(counts, [1, 2, 1, 2])
  t.equal(audit('login.lockout', account('alice')).length, 0)
  t.equal((await send({ user: 'alice', ip })).status, 200, 'the third failure after the success still reaches the application')
  await auditCount('login.lockout', account('alice'), 1)
  t.pass('and locks')
  t.equal((await send({ user: 'alice', password: 'correct horse', ip })).body, LEGACY_FAILURE, 'locked now, even with the right password')
})

t.test('lock durations double with each lockout (fake Date)', async (t) => {
  const u = 'dora'
  const fail = async (ip: string, n: number) => {
    for (let i = 0; i < n; i++) t.match((await send({ user: u, ip })).body, INVALID_CREDENTIALS_TEXT)
  }
  const refusedNow = async (ip: string) => {
    const before = demo.server.stats.requests
    await send({ user: u, ip })
    return demo.server.stats.requests === before
  }
  await fail('198.51.100.40', 3)
  t.match((await auditCount('login.lockout', account(u), 1))[0], { durationMs: 60_000, level: 1 })
  t.equal(await refusedNow('198.51.100.41'), true, 'locked')
  clock.tick(58_000)
  t.equal(await refusedNow('198.51.100.41'), true, 'still locked after 58 s')
  clock.tick(3_000)
  await fail('198.51.100.42', 3)
  t.match((await auditCount('login.lockout', account(u), 2))[1], { durationMs: 120_000, level: 2 }, 'second lock: twice as long')
  clock.tick(61_000)
  t.equal(await refusedNow('198.51.100.43'), true, 'still locked after 61 s')
  clock.tick(60_000)
  t.equal(await refusedNow('198.51.100.43'), false, 'open after 121 s')
})

t.test('reset requests never lock an account', async (t) => {
  const ip = '198.51.100.50'
  const before = demo.server.stats.requests
  for (let i = 0; i < 8; i++) {
    const res = await send({ path: '/password-reset', body: 'username=alice&email=alice%40example.com', ip })
    t.equal(res.status, 200)
  }
  t.equal(demo.server.stats.requests - before, 8, 'every reset reached the application')
  t.equal((await send({ user: 'alice', password: 'correct horse', ip })).status, 302, 'alice still logs in')
})

t.test('device cookie: the owner logs in while the account is locked for everyone else, within its budget', async (t) => {
  const owner = '198.51.100.60'
  const attacker = '198.51.100.61'
  const first = await send({ user: 'alice', password: 'correct horse', ip: owner })
  t.equal(first.status, 302)
  const line = ([] as string[]).concat(first.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-rampart-device='))
  t.match(line, /^__Host-rampart-device=v1\.[A-Za-z0-9_-]{22}\.[0-9a-z]+\.[A-Za-z0-9_-]+; Path=\/; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict$/)
  const device = line!.split(';')[0]!
  const cookie = `PHPSESSID=${'3'.repeat(32)}; ${device}`

  for (let i = 0; i < 3; i++) await send({ user: 'alice', ip: attacker })
  // Her second lockout today (the first was in the success test): level 2.
  t.match((await auditCount('login.lockout', account('alice'), 2))[1], { durationMs: 120_000, level: 2 })
  const before = demo.server.stats.requests
  t.equal((await send({ user: 'alice', password: 'correct horse', ip: attacker })).body, LEGACY_FAILURE, 'locked for an unknown browser')
  t.equal(demo.server.stats.requests, before)

  const successes = demo.server.stats.loginSuccesses
  const mine = await send({ user: 'alice', password: 'correct horse', ip: owner, cookie })
  t.equal(mine.status, 302, 'the owner\'s browser gets in')
  t.equal(demo.server.stats.loginSuccesses, successes + 1)
  await auditCount('login.success', account('alice'), 4)
  t.equal(audit('login.success', account('alice')).at(-1)!['via'], 'device')

  for (let i = 0; i < 2; i++) {
    t.match((await send({ user: 'alice', ip: owner, cookie })).body, INVALID_CREDENTIALS_TEXT, `device failure ${i + 1} reaches the application`)
  }
  await auditCount('login.failure', account('alice'), 10)
  const spent = demo.server.stats.requests
  t.equal((await send({ user: 'alice', password: 'correct horse', ip: owner, cookie })).body, LEGACY_FAILURE, 'budget spent: locked like anyone')
  t.equal(demo.server.stats.requests, spent)
  const forged = device.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))
  t.equal((await send({ user: 'alice', password: 'correct horse', ip: '198.51.100.62', cookie: forged })).body, LEGACY_FAILURE, 'a forged cookie is an unknown browser')
})

t.test('odd login bodies: compressed answers, ambiguous and oversized bodies', async (t) => {
  legacySeen.length = 0
  const gz = await send({ host: 'legacy.a.test', path: '/gz-login', user: 'gz-user', ip: '198.51.100.70', headers: { 'accept-encoding': 'gzip, br' } })
  t.equal(gz.headers['content-encoding'], 'gzip', 'the compressed answer passes through unchanged')
  t.equal(legacySeen[0]!.acceptEncoding, undefined, 'Accept-Encoding is not forwarded on login routes')
  t.match((await auditCount('login.failure', account('gz-user'), 1))[0], { accountFailures: 1 }, 'the marker was found in the compressed body')

  legacySeen.length = 0
  await h1Get('/', '198.51.100.70', { 'accept-encoding': 'gzip' })
  t.equal(legacySeen[0]!.acceptEncoding, 'gzip', 'other routes keep it')

  const before = demo.server.stats.requests
  const ambiguous = await send({ body: 'username=alice&username=zed&password=x', ip: '198.51.100.71' })
  t.equal(ambiguous.body, LEGACY_FAILURE, 'two different user names: refused')
  const padded = await send({ body: `pad=${'x'.repeat(70 * 1024)}&username=zed&password=x`, ip: '198.51.100.71' })
  t.equal(padded.status, 413, 'a user name pushed past maxBody cannot buy an uncounted guess')
  t.equal(demo.server.stats.requests, before)
  t.equal((await send({ body: 'password=x', ip: '198.51.100.71' })).status, 200, 'no user name at all: passed on, not counted')
})

async function h1Get(path: string, ip: string, headers: Record<string, string>): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: gw.port, path, servername: 'legacy.a.test', ca: gw.ca, agent, headers: { host: 'legacy.a.test', 'x-forwarded-for': ip, ...headers } }, (res) => {
      res.resume()
      res.on('end', () => resolve())
    }).on('error', reject)
  })
}

t.test('rampart unlock lists and lifts an account lock and an address lock in Redis', async (t) => {
  const bin = join(projectRoot, 'dist', 'src', 'bin.js')
  const run = async (...args: string[]) => {
    try {
      const r = await execFileP(process.execPath, [bin, 'unlock', '--config', gw.configPath, ...args], { cwd: gw.dir, timeout: 20_000 })
      return { code: 0, stdout: r.stdout, stderr: r.stderr }
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string }
      return { code: err.code, stdout: err.stdout, stderr: err.stderr }
    }
  }
  const list = await run('--list')
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, new RegExp(`account ${account('alice')}  site=club  locked until .*level 2`))
  t.match(list.stdout, /ip 198\.51\.100\.77  site=club  locked until /)

  const one = await run('--account', 'Alice', '--list')
  t.equal(one.stdout.trim().split('\n').length, 1, 'one account listed, user name normalised')
  t.match(one.stdout, account('alice'))

  const lifted = await run('--account', 'alice')
  t.equal(lifted.code, 0)
  t.match(lifted.stdout, `unlocked account ${account('alice')}  site=club`)
  t.match(lifted.stderr, /"type":"login.unlock".*"by":"cli"/, 'an audit line')
  t.equal((await send({ user: 'alice', password: 'correct horse', ip: '198.51.100.61' })).status, 302, 'alice logs in from anywhere again')

  const before = demo.server.stats.requests
  t.equal((await send({ user: 'spray-8', ip: '198.51.100.77' })).body, LEGACY_FAILURE, 'the address is still locked')
  t.equal(demo.server.stats.requests, before)
  const ip = await run('--ip', '198.51.100.77')
  t.equal(ip.code, 0)
  t.match(ip.stdout, 'unlocked ip 198.51.100.77  site=club')
  t.match((await send({ user: 'spray-8', ip: '198.51.100.77' })).body, INVALID_CREDENTIALS_TEXT, 'the address reaches the application again')

  const [nobody, missing] = await Promise.all([run('--account', 'nobody'), run('--account')])
  t.equal(nobody.code, 0)
  t.match(nobody.stdout, "nothing to unlock for account 'nobody'")
  t.equal(missing.code, 2, 'usage error')
  t.match(missing.stderr, '--account needs a value')
})
