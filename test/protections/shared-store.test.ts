/**
 * Two Rampart processes (`rampart start`, as operators run it) in front of one demo app share one Redis: login
 * failures spread across both lock the account on both, and one rate limit holds across both, also when each
 * instance counts through a local allowance (`localBatch`). Separate processes,
 * not two runtimes in one process, so that nothing but Redis can carry state from one to the other.
 */
import t from 'tap'
import https from 'node:https'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot, tempDir } from '../helpers/paths.js'
import { makeCert, testCa } from '../helpers/certs.js'
import { startRedis, freePort } from '../helpers/redis.js'
import { oneSiteYaml } from '../helpers/site-yaml.js'
import { startDemoApp, INVALID_CREDENTIALS_TEXT } from '../../src/demo/app.js'

const bin = join(projectRoot, 'dist', 'src', 'bin.js')
const MIMIC = `<p class="error">${INVALID_CREDENTIALS_TEXT}</p>`

const redis = await startRedis()
t.teardown(() => redis.stop())
const demo = await startDemoApp({ port: 0 })
t.teardown(() => demo.close())
const dir = tempDir(t)
await makeCert(dir, 'site', ['a.test'])
const ca = (await testCa('ec')).cert

interface Instance { readonly port: number; readonly child: ChildProcess; readonly lines: Array<Record<string, unknown>> }

async function startInstance(name: string): Promise<Instance> {
  const port = await freePort()
  const config = join(dir, `${name}.yaml`)
  writeFileSync(config, oneSiteYaml({ upstream: demo.port, port, admin: false, trustedProxies: ['127.0.0.1/32'], name: 'club', extra: `log: { level: info, accessLog: false }
store:
  redis: ${redis.url}
  keySecret: shared-store-test-key-secret
  # Generous: these tests are about results, not timeouts (store-faults covers those), and CI machines are busy.
  commandTimeout: 1s
rateLimits:
  - { name: per-ip, match: { pathPrefix: /limited }, key: ip, limit: 4, per: 1m }
  - { name: batched, match: { pathPrefix: /batched }, key: ip, limit: 10, per: 1m, localBatch: 4 }
lockout:
  logins: [{ site: club, path: /login }]
  failure: { bodyContains: "${INVALID_CREDENTIALS_TEXT}" }
  maxFailures: 3
  answer: { status: 200, body: '${MIMIC}' }
  deviceCookie: { secret: shared-device-cookie-secret-0123456789 }
` }))
  const child = spawn(process.execPath, [bin, 'start', '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  let pending = ''
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString()
    let nl: number
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch { /* not a log line */ }
    }
  })
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  const deadline = Date.now() + 20_000
  while (!lines.some((l) => l['msg'] === 'rampart listening')) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr}`)
    if (Date.now() > deadline) throw new Error(`${name} did not start within 20 s: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { port, child, lines }
}

const [a, b] = await Promise.all([startInstance('a'), startInstance('b')])

function request(i: Instance, o: { method?: string; path: string; ip: string; body?: string }): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: i.port, method: o.method ?? 'GET', path: o.path, servername: 'a.test', ca, agent: false,
      headers: { host: 'a.test', 'x-forwarded-for': o.ip, ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')))
    req.end(o.body)
  })
}

const login = (i: Instance, user: string, password: string, ip: string) =>
  request(i, { method: 'POST', path: '/login', ip, body: new URLSearchParams({ username: user, password }).toString() })

t.test('failures spread across two instances lock the account on both', async (t) => {
  const failuresBefore = demo.server.stats.loginFailures
  for (const [i, inst] of [a, b, a].entries()) {
    const res = await login(inst, 'alice', `wrong-${i}`, `198.51.100.${10 + i}`)
    t.match(res.body, INVALID_CREDENTIALS_TEXT, `failure ${i + 1} on instance ${inst === a ? 'a' : 'b'}`)
  }
  t.equal(demo.server.stats.loginFailures - failuresBefore, 3)
  const requests = demo.server.stats.requests
  for (const inst of [b, a]) {
    const res = await login(inst, 'alice', 'correct horse', '198.51.100.20')
    t.equal(res.status, 200)
    t.equal(res.body, MIMIC, `refused by instance ${inst === a ? 'a' : 'b'}, even with the right password`)
  }
  t.equal(demo.server.stats.requests, requests, 'neither instance contacted the application')
  t.equal((await login(b, 'bob', 'x', '198.51.100.21')).body.includes(INVALID_CREDENTIALS_TEXT), true, 'other accounts are not affected')

  // The audit trail is in the instances' own logs (written every 200 ms).
  const deadline = Date.now() + 3000
  const find = () => [...a.lines, ...b.lines].find((l) => l['type'] === 'login.lockout')
  while (!find() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.match(find(), { audit: true, kind: 'account', scope: 'club', level: 1 })
})

t.test('one rate limit holds across both instances', async (t) => {
  const remaining: string[] = []
  for (const inst of [a, b, a, b]) {
    const res = await request(inst, { path: '/limited', ip: '198.51.100.30' })
    t.equal(res.status, 404, 'passed to the application')
    remaining.push(String(res.headers['ratelimit']))
  }
  t.same(remaining.map((r) => /r=(\d+)/.exec(r)?.[1]), ['3', '2', '1', '0'], 'one budget, counted by both')
  for (const inst of [a, b]) t.equal((await request(inst, { path: '/limited', ip: '198.51.100.30' })).status, 429)
  t.equal((await request(b, { path: '/limited', ip: '198.51.100.31' })).status, 404, 'another address has its own budget')
})

t.test('with localBatch, each instance reserves in batches and together they never pass more than the limit', async (t) => {
  const { Redis } = await import('ioredis')
  const admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true })
  await admin.connect()
  t.teardown(() => admin.quit())
  const scripts = async (): Promise<number> => {
    const info = await admin.info('commandstats')
    let calls = 0
    for (const m of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(m[1])
    return calls
  }
  const before = await scripts()
  const first: number[] = []
  for (const inst of [a, b, a, b, a, b]) first.push((await request(inst, { path: '/batched', ip: '198.51.100.40' })).status)
  t.same(first, [404, 404, 404, 404, 404, 404], 'under the limit: all pass')
  const used = (await scripts()) - before
  t.ok(used < 6, `${used} store round trips for 6 requests (one reservation of 4 per instance serves several)`)
  let passed = 6
  for (let i = 0; i < 14; i++) if ((await request(i % 2 === 0 ? a : b, { path: '/batched', ip: '198.51.100.40' })).status === 404) passed++
  t.ok(passed <= 10, `${passed} of 20 passed: never more than the limit of 10`)
  t.ok(passed >= 6, 'and the budget was used, not lost')
})
