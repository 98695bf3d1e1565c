import t from 'tap'
import http from 'node:http'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import {
  createDemoApp, startDemoApp, brandFor, hostWithoutPort, escapeHtml, parseCookieHeader,
  INVALID_CREDENTIALS_TEXT, RESET_SENT_TEXT, type StartedDemoApp,
} from '../../src/demo/app.js'

interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  cookies: string[]
  body: string
}

function request(
  port: number,
  opts: { method?: string, path?: string, host?: string, headers?: Record<string, string>, body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: opts.host ?? `localhost:${port}`, ...opts.headers }
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body))
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        cookies: res.headers['set-cookie'] ?? [],
        body: Buffer.concat(chunks).toString('utf8'),
      }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

function cookieValue(cookies: string[], name: string): string | undefined {
  const line = cookies.find((c) => c.startsWith(`${name}=`))
  return line?.slice(name.length + 1).split(';')[0]
}

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const json = { 'content-type': 'application/json' }

let app: StartedDemoApp
t.before(async () => {
  app = await startDemoApp({ port: 0, host: '127.0.0.1' })
})
t.teardown(() => app.close())

t.test('pure helpers', async (t) => {
  const hosts: Array<[string | undefined, string]> = [
    [undefined, 'localhost'],
    ['', 'localhost'],
    ['BalleJaune.localhost:8443', 'ballejaune.localhost'],
    ['openresa.localhost', 'openresa.localhost'],
    ['[::1]:3000', '[::1]'],
    ['127.0.0.1:3000', '127.0.0.1'],
  ]
  for (const [input, want] of hosts) t.equal(hostWithoutPort(input), want, `host of ${String(input)}`)

  const brands: Array<[string, string]> = [
    ['ballejaune.localhost', 'Balle Jaune'],
    ['www.ballejaune.test', 'Balle Jaune'],
    ['openresa.localhost', 'OpenResa'],
    ['localhost', 'Demo Club'],
    ['notballejaune.localhost', 'Demo Club'],
    ['openresa-fake.test', 'Demo Club'],
  ]
  for (const [host, want] of brands) t.equal(brandFor(host).name, want, `brand of ${host}`)

  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;')
  t.same([...parseCookieHeader('a=1; b=2;  =x; junk; a=3; c=')], [['a', '1'], ['b', '2'], ['c', '']])
  t.equal(parseCookieHeader(undefined).size, 0)
})

t.test('home page is branded by Host and carries the PHP headers and cookies', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['ballejaune.localhost', 'Balle Jaune', 'OpenResa'],
    ['openresa.localhost', 'OpenResa', 'Balle Jaune'],
    ['localhost', 'Demo Club', 'Balle Jaune'],
  ]
  for (const [host, brand, otherBrand] of cases) {
    const r = await request(app.port, { host: `${host}:${app.port}` })
    t.equal(r.status, 200, host)
    t.match(r.headers['content-type'], /^text\/html; charset=UTF-8$/)
    t.equal(r.headers.server, 'Apache/2.4.57 (Debian)')
    t.equal(r.headers['x-powered-by'], 'PHP/8.2.7')
    t.ok(r.body.includes(brand), `${host} shows ${brand}`)
    t.notOk(r.body.includes(otherBrand), `${host} does not show ${otherBrand}`)
    t.ok(r.body.includes(`<code>${host}</code>`), `${host} shows the host it was reached on`)
    for (const link of ['/login', '/account', '/search', '/password-reset', '/contact', '/admin']) {
      t.ok(r.body.includes(`href="${link}`), `links to ${link}`)
    }
    const size = Buffer.byteLength(r.body)
    t.ok(size > 1500 && size < 4000, `home page is about 2 KB (${size} bytes)`)
    t.equal(r.cookies.length, 2)
    t.match(r.cookies[0], /^PHPSESSID=[0-9a-f]{32}; path=\/$/)
    t.match(r.cookies[1], /^XSRF-TOKEN=[A-Za-z0-9_-]+; path=\/$/)
    for (const c of r.cookies) t.notMatch(c, /secure|httponly|samesite|domain/i, 'cookies are left unhardened')
  }
})

t.test('a known session cookie is not sent again; a malformed one is replaced', async (t) => {
  const first = await request(app.port)
  const sid = cookieValue(first.cookies, 'PHPSESSID')
  const again = await request(app.port, { headers: { cookie: `PHPSESSID=${sid}` } })
  t.same(again.cookies, [])
  const bad = await request(app.port, { headers: { cookie: 'PHPSESSID=../../etc/passwd' } })
  t.match(cookieValue(bad.cookies, 'PHPSESSID'), /^[0-9a-f]{32}$/)
})

t.test('login', async (t) => {
  const successes: Array<[string, Record<string, string>, string]> = [
    ['urlencoded', form, 'username=alice&password=correct+horse'],
    ['json', json, JSON.stringify({ username: 'alice', password: 'correct horse' })],
    ['json with charset', { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ username: 'alice', password: 'correct horse' })],
  ]
  for (const [name, headers, body] of successes) {
    const r = await request(app.port, { method: 'POST', path: '/login', host: `ballejaune.localhost:${app.port}`, headers, body })
    t.equal(r.status, 302, name)
    t.equal(r.headers.location, '/account')
    t.equal(r.cookies.filter((c) => c.startsWith('PHPSESSID=')).length, 1, 'one session cookie')
    const sid = cookieValue(r.cookies, 'PHPSESSID')
    t.match(sid, /^[0-9a-f]{32}$/)
    const remember = r.cookies.find((c) => c.startsWith('remember_me='))
    t.match(remember, /^remember_me=[A-Za-z0-9_-]+; expires=\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT; Max-Age=2592000; path=\/; domain=ballejaune\.localhost$/)
    const expires = Date.parse(/expires=([^;]+)/.exec(remember ?? '')?.[1] ?? '')
    t.ok(Math.abs(expires - (Date.now() + 2592000_000)) < 60_000, 'remember_me expires in 30 days')

    const account = await request(app.port, { path: '/account', headers: { cookie: `PHPSESSID=${sid}` } })
    t.equal(account.status, 200)
    t.ok(account.body.includes('Hello alice.'))
  }

  const failures: Array<[string, Record<string, string>, string]> = [
    ['wrong password', form, 'username=alice&password=wrong'],
    ['unknown user', form, 'username=bob&password=correct+horse'],
    ['prototype key as user', form, 'username=constructor&password=x'],
    ['missing password', form, 'username=alice'],
    ['empty body', form, ''],
    ['json wrong password', json, JSON.stringify({ username: 'alice', password: 'nope' })],
    ['json non-string password', json, JSON.stringify({ username: 'alice', password: ['correct horse'] })],
    ['password case differs', form, 'username=alice&password=Correct+horse'],
  ]
  for (const [name, headers, body] of failures) {
    const r = await request(app.port, { method: 'POST', path: '/login', headers, body })
    t.equal(r.status, 200, name)
    t.ok(r.body.includes(INVALID_CREDENTIALS_TEXT), `${name}: page says ${INVALID_CREDENTIALS_TEXT}`)
    t.equal(r.headers.location, undefined)
    t.notOk(r.cookies.some((c) => c.startsWith('remember_me=')), `${name}: no remember_me`)
  }

  const bad = await request(app.port, { method: 'POST', path: '/login', headers: json, body: '{"username":' })
  t.equal(bad.status, 400, 'malformed JSON is a 400')
  const arr = await request(app.port, { method: 'POST', path: '/login', headers: json, body: '["alice"]' })
  t.equal(arr.status, 400, 'a JSON array is a 400')

  const loginPage = await request(app.port, { path: '/login' })
  t.equal(loginPage.status, 200)
  t.match(loginPage.body, /<form method="post" action="\/login">/)
  t.notOk(loginPage.body.includes(INVALID_CREDENTIALS_TEXT))
})

t.test('login replaces the session id the client came with', async (t) => {
  const before = cookieValue((await request(app.port)).cookies, 'PHPSESSID') ?? ''
  const r = await request(app.port, {
    method: 'POST', path: '/login', headers: { ...form, cookie: `PHPSESSID=${before}` }, body: 'username=alice&password=correct+horse',
  })
  t.equal(r.status, 302)
  const after = cookieValue(r.cookies, 'PHPSESSID')
  t.match(after, /^[0-9a-f]{32}$/)
  t.not(after, before, 'a fixated session id is not kept')
  const old = await request(app.port, { path: '/account', headers: { cookie: `PHPSESSID=${before}` } })
  t.equal(old.status, 302, 'the pre-login id does not open the account')
})

t.test('account needs a logged-in session', async (t) => {
  const cases: Array<[string, Record<string, string>]> = [
    ['no cookie', {}],
    ['unknown session', { cookie: `PHPSESSID=${'a'.repeat(32)}` }],
    ['anonymous session', { cookie: `PHPSESSID=${cookieValue((await request(app.port)).cookies, 'PHPSESSID') ?? ''}` }],
  ]
  for (const [name, headers] of cases) {
    const r = await request(app.port, { path: '/account', headers })
    t.equal(r.status, 302, name)
    t.equal(r.headers.location, '/login?error=1')
  }
})

t.test('password reset, contact, search, admin, echo, health, 404, 405', async (t) => {
  for (const email of ['alice@example.test', 'nobody@example.test', '']) {
    const r = await request(app.port, { method: 'POST', path: '/password-reset', headers: form, body: `email=${encodeURIComponent(email)}` })
    t.equal(r.status, 200, `reset for "${email}"`)
    t.ok(r.body.includes(RESET_SENT_TEXT))
  }
  t.match((await request(app.port, { path: '/password-reset' })).body, /name="email"/)

  const contact = await request(app.port, { method: 'POST', path: '/contact', headers: form, body: 'email=%3Cb%3E%40x.test&message=hi' })
  t.equal(contact.status, 200)
  t.ok(contact.body.includes('&#60;b&#62;@x.test'), 'contact echoes the address escaped')
  t.notOk(contact.body.includes('<b>@x.test'))
  for (const body of ['email=a%40x.test', 'message=hi', '']) {
    t.equal((await request(app.port, { method: 'POST', path: '/contact', headers: form, body })).status, 400, `contact "${body}"`)
  }

  const search = await request(app.port, { path: '/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E' })
  t.equal(search.status, 200)
  t.notOk(search.body.includes('<script>alert(1)'), 'query is not reflected raw')
  t.ok(search.body.includes('&#60;script&#62;alert(1)&#60;/script&#62;'))
  t.ok(search.body.includes('No court matches.'))
  const clay = await request(app.port, { path: '/search?q=CLAY' })
  t.ok(clay.body.includes('Court 1 (clay)') && clay.body.includes('Court 2 (clay)'))
  t.notOk(clay.body.includes('Court 3 (hard)'))
  t.ok((await request(app.port, { path: '/search' })).body.includes('Squash 1'), 'no query lists every court')

  const admin = await request(app.port, { path: '/admin' })
  t.equal(admin.status, 200)
  t.ok(admin.body.includes('Admin panel'))

  const echo = await request(app.port, { path: '/echo?x=1', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } })
  t.equal(echo.status, 200)
  t.equal(echo.headers['content-type'], 'application/json')
  const seen = JSON.parse(echo.body) as { method: string, url: string, headers: Record<string, string> }
  t.equal(seen.method, 'GET')
  t.equal(seen.url, '/echo?x=1')
  t.equal(seen.headers['x-forwarded-for'], '203.0.113.7')
  t.equal(seen.headers['x-forwarded-proto'], 'https')
  t.equal(seen.headers.host, `localhost:${app.port}`)

  const health = await request(app.port, { path: '/health' })
  t.equal(health.status, 200)
  t.equal(health.body, 'ok')

  const missing = await request(app.port, { path: '/wp-login.php?x=<y>' })
  t.equal(missing.status, 404)
  t.equal(missing.headers['x-powered-by'], 'PHP/8.2.7')
  t.ok(missing.body.includes('Page not found'))

  const wrong: Array<[string, string, string]> = [
    ['DELETE', '/', 'GET'],
    ['POST', '/admin', 'GET'],
    ['PUT', '/login', 'GET, POST'],
  ]
  for (const [method, path, allow] of wrong) {
    const r = await request(app.port, { method, path })
    t.equal(r.status, 405, `${method} ${path}`)
    t.equal(r.headers.allow, allow)
  }

  const head = await request(app.port, { method: 'HEAD', path: '/' })
  t.equal(head.status, 200)
  t.equal(head.body, '')
  t.ok(Number(head.headers['content-length']) > 1000, 'HEAD reports the GET length')
})

t.test('bodies above the cap are refused', async (t) => {
  const small = await startDemoApp({ port: 0, maxBodyBytes: 100 })
  t.teardown(() => small.close())
  const r = await request(small.port, { method: 'POST', path: '/login', headers: form, body: `username=alice&password=${'x'.repeat(200)}` })
  t.equal(r.status, 413)
  const ok = await request(small.port, { method: 'POST', path: '/login', headers: form, body: 'username=alice&password=correct+horse' })
  t.equal(ok.status, 302)
})

t.test('counts requests and logins; keeps at most maxSessions sessions', async (t) => {
  const counted = await startDemoApp({ port: 0, maxSessions: 2, users: { u: 'p' } })
  t.teardown(() => counted.close())
  const sids: string[] = []
  for (let i = 0; i < 3; i++) {
    const r = await request(counted.port, { method: 'POST', path: '/login', headers: form, body: 'username=u&password=p' })
    sids.push(cookieValue(r.cookies, 'PHPSESSID') ?? '')
  }
  await request(counted.port, { method: 'POST', path: '/login', headers: form, body: 'username=alice&password=correct+horse' })
  t.same(counted.server.stats, { requests: 4, loginSuccesses: 3, loginFailures: 1 })
  const statuses: number[] = []
  for (const sid of sids) {
    statuses.push((await request(counted.port, { path: '/account', headers: { cookie: `PHPSESSID=${sid}` } })).status)
  }
  t.same(statuses, [302, 200, 200], 'the oldest session was dropped')
  t.equal(counted.server.stats.requests, 7)
})

t.test('createDemoApp does not listen; close() stops accepting', async (t) => {
  const server = createDemoApp()
  t.equal(server.listening, false)
  const started = await startDemoApp({ port: 0 })
  await request(started.port, { path: '/health' })
  await started.close()
  await started.close()
  await t.rejects(request(started.port, { path: '/health' }), { code: 'ECONNREFUSED' })
})

t.test('main.ts listens, logs one line, exits 0 on SIGTERM and SIGINT', async (t) => {
  const main = fileURLToPath(new URL('../../src/demo/main.js', import.meta.url))
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const child = spawn(process.execPath, [main, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('demo app did not start within 10 s')), 10_000)
      child.stdout.on('data', (chunk: string) => {
        out += chunk
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
        if (m !== null) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      child.once('exit', () => reject(new Error(`demo app exited early: ${out}`)))
    })
    const r = await request(port, { host: `openresa.localhost:${port}` })
    t.ok(r.body.includes('OpenResa'))
    child.kill(signal)
    const [code] = await once(child, 'exit') as [number | null]
    t.equal(code, 0, `exit code after ${signal}`)
    t.equal(out.trim().split('\n').length, 1, 'one log line')
  }

  const bad = spawn(process.execPath, [main, '--port', 'abc'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  bad.stderr.setEncoding('utf8').on('data', (c: string) => { err += c })
  const [code] = await once(bad, 'exit') as [number | null]
  t.equal(code, 1)
  t.match(err, /--port must be an integer/)
})
