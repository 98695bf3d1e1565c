/**
 * Redis failing under a running gateway: killed (SIGKILL) and hung (SIGSTOP) while a stream of requests flows.
 * Every protection follows its own `onStoreError` (a rate limit failing open lets requests through, one failing
 * closed answers 429; a lockout failing open passes logins on uncounted, one failing closed answers them with the
 * locked answer), each choice is logged, nothing crashes, no request spends more than the store's command timeout
 * (plus a scheduling margin) in Rampart on top of the upstream's time, and enforcement resumes once Redis is back,
 * without restarting Rampart.
 *
 * Two gateways share the Redis: lockout `onStoreError: open` on one, `closed` on the other. Each request of the
 * stream comes from a fresh address and user name, so that only the store's state decides its fate.
 */
import t from 'tap'
import https from 'node:https'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { oneSiteYaml } from '../helpers/site-yaml.js'
import { startRedis } from '../helpers/redis.js'
import { startDemoApp, INVALID_CREDENTIALS_TEXT } from '../../src/demo/app.js'
import type { Store } from '../../src/store/types.js'

/** The assertions the helpers below use (a subtest's `t`). */
interface Asserts {
  ok(value: unknown, message: string): void
  same(found: unknown, wanted: unknown, message: string): void
  match(found: unknown, pattern: unknown, message: string): void
  equal(found: unknown, wanted: unknown, message: string): void
}

/** Short enough to keep the test quick, long enough that a busy machine does not time out a healthy Redis. */
const COMMAND_TIMEOUT = 250
/**
 * Scheduling jitter allowed on top of the command timeout: at least 200 ms, more when the machine is so busy that
 * requests with a healthy Redis already take that long (twice the slowest one seen before the fault).
 */
const MIN_MARGIN = 200
const MIMIC = `<p class="error">${INVALID_CREDENTIALS_TEXT}</p>`

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
process.on('unhandledRejection', onUnhandled)
t.teardown(() => {
  process.off('unhandledRejection', onUnhandled)
  if (unhandled.length > 0) throw new Error(`unhandled rejections: ${unhandled.map(String).join('; ')}`)
})

const redis = await startRedis()
t.teardown(() => redis.stop())
const demo = await startDemoApp({ port: 0 })
t.teardown(() => demo.close())

const config = (lockoutOnStoreError: 'open' | 'closed') => oneSiteYaml({
  upstream: demo.port, admin: false, trustedProxies: ['127.0.0.1/32'], name: 'club', extra: `store:
  redis: ${redis.url}
  commandTimeout: ${COMMAND_TIMEOUT}ms
  keySecret: store-faults-test-key-secret
rateLimits:
  - { name: open-limit, match: { pathPrefix: /open }, key: ip, limit: 3, per: 1m, onStoreError: open }
  - { name: closed-limit, match: { pathPrefix: /closed }, key: ip, limit: 3, per: 1m, onStoreError: closed }
lockout:
  logins: [{ site: club, path: /login }]
  failure: { bodyContains: "${INVALID_CREDENTIALS_TEXT}" }
  maxFailures: 3
  answer: { status: 200, body: '${MIMIC}' }
  deviceCookie: { secret: store-faults-device-cookie-secret-0123 }
  onStoreError: ${lockoutOnStoreError}
` })
const gwOpen = await startGateway(t, config('open'), { certs: { site: ['a.test'] } })
const gwClosed = await startGateway(t, config('closed'), { certs: { site: ['a.test'] } })

const agent = new https.Agent({ keepAlive: true, maxSockets: 8 })
t.teardown(() => agent.destroy())

interface Result { status: number; body: string; headers: Record<string, unknown>; ms: number }

function request(gw: TestGateway, o: { method?: string; path: string; ip: string; body?: string }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = https.request({
      host: '127.0.0.1', port: gw.port, method: o.method ?? 'GET', path: o.path, servername: 'a.test', ca: gw.ca, agent,
      headers: { host: 'a.test', 'x-forwarded-for': o.ip, ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers, ms: performance.now() - started }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout: a request hung')))
    req.end(o.body)
  })
}

let seq = 0
const freshIp = () => {
  seq++
  return `10.${(seq >> 16) & 255}.${(seq >> 8) & 255}.${seq & 255}`
}
const login = (gw: TestGateway, user: string, ip = freshIp()) =>
  request(gw, { method: 'POST', path: '/login', ip, body: new URLSearchParams({ username: user, password: 'wrong' }).toString() })

type Kind = 'open-limit' | 'closed-limit' | 'lockout-open' | 'lockout-closed'
const KINDS: readonly Kind[] = ['open-limit', 'closed-limit', 'lockout-open', 'lockout-closed']
function one(kind: Kind): Promise<Result> {
  switch (kind) {
    case 'open-limit': return request(gwOpen, { path: '/open', ip: freshIp() })
    case 'closed-limit': return request(gwOpen, { path: '/closed', ip: freshIp() })
    case 'lockout-open': return login(gwOpen, `u${++seq}`)
    case 'lockout-closed': return login(gwClosed, `u${++seq}`)
  }
}

/** What each kind must answer while the store is down. */
function followsFailMode(kind: Kind, r: Result): boolean {
  switch (kind) {
    case 'open-limit': return r.status === 404
    case 'closed-limit': return r.status === 429 && r.headers['retry-after'] === '1'
    case 'lockout-open': return r.status === 200 && r.body !== MIMIC && r.body.includes(INVALID_CREDENTIALS_TEXT)
    case 'lockout-closed': return r.status === 200 && r.body === MIMIC
  }
}
/** What each kind answers with the store up (fresh address and user name each time: never limited or locked). */
function enforcedNormally(kind: Kind, r: Result): boolean {
  switch (kind) {
    case 'open-limit': case 'closed-limit': return r.status === 404 && typeof r.headers['ratelimit'] === 'string'
    case 'lockout-open': case 'lockout-closed': return r.status === 200 && r.body !== MIMIC
  }
}

type Phase = 'up' | 'down' | 'changing'
let phase: Phase = 'up'
interface Sample { kind: Kind; from: Phase; to: Phase; result: Result }

/** Four clients sending the four kinds in turn until `stop()`. */
function startStream(): { samples: Sample[]; stop(): Promise<Sample[]> } {
  const samples: Sample[] = []
  let running = true
  const worker = async (offset: number) => {
    for (let i = offset; running; i++) {
      const kind = KINDS[i % KINDS.length]!
      const from = phase
      const result = await one(kind)
      samples.push({ kind, from, to: phase, result })
    }
  }
  const workers = [0, 1, 2, 3].map(worker)
  return {
    samples,
    async stop() {
      running = false
      await Promise.all(workers)
      return samples
    },
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function eventually<T>(what: string, limitMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** Waits (bounded) until the stream has `n` samples that started and ended in the current phase. */
async function collect(stream: { samples: Sample[] }, n: number): Promise<void> {
  const now = phase
  await eventually(`${n} requests in phase ${now}`, 20_000, async () =>
    stream.samples.filter((s) => s.from === now && s.to === now).length >= n ? true : undefined)
}

/** Access-log lines of both gateways: Rampart's own time is the total minus the upstream's. */
const logMarks = (): [number, number] => [gwOpen.logs.length, gwClosed.logs.length]
function ownTimes(since: readonly [number, number]): number[] {
  return [gwOpen, gwClosed].flatMap((gw, i) => gw.logs.slice(since[i]).filter((l) => l['type'] === 'access'))
    .map((l) => Number(l['durationMs']) - (typeof l['upstreamMs'] === 'number' ? l['upstreamMs'] : 0))
}

function checkStream(t: Asserts, samples: Sample[], label: string): void {
  const during = samples.filter((s) => s.from === 'down' && s.to === 'down')
  const before = samples.filter((s) => s.from === 'up' && s.to === 'up')
  t.ok(before.length >= 8, `${label}: ${before.length} requests before the fault`)
  t.ok(during.length >= 16, `${label}: ${during.length} requests during the fault`)
  for (const kind of KINDS) {
    const mine = during.filter((s) => s.kind === kind)
    t.ok(mine.length > 0, `${label}: ${kind} exercised during the fault`)
    const wrong = mine.filter((s) => !followsFailMode(kind, s.result))
    t.same(wrong.map((s) => `${s.result.status} ${s.result.body.slice(0, 40)}`), [], `${label}: ${kind} follows its onStoreError`)
    t.same(before.filter((s) => s.kind === kind && !enforcedNormally(kind, s.result)).map((s) => s.result.status), [], `${label}: ${kind} normal before`)
  }
}

t.test('killed Redis: fail modes apply at once, bounded, logged; enforcement resumes after a restart', async (t) => {
  const logsFrom = logMarks()
  const stream = startStream()
  await collect(stream, 8)
  phase = 'changing'
  await sleep(50) // the last access lines are written as the last answers finish
  const bound = COMMAND_TIMEOUT + Math.max(MIN_MARGIN, 2 * Math.max(...ownTimes(logsFrom)))
  const faultFrom = logMarks()
  await redis.kill()
  // The client notices the closed connection at once; give it a moment to fail the requests in flight.
  await sleep(50)
  phase = 'down'
  await collect(stream, 16)
  phase = 'changing'
  const samples = await stream.stop()
  checkStream(t, samples, 'kill')
  await sleep(50)

  const own = ownTimes(faultFrom)
  t.ok(ownTimes(logsFrom).length >= samples.length, 'every request has an access line')
  t.ok(Math.max(...own) <= bound, `no request spent more than ${bound.toFixed(0)} ms in Rampart (max ${Math.max(...own).toFixed(1)} ms)`)
  t.ok(Math.max(...samples.map((s) => s.result.ms)) < 2000, 'no client waited long')

  const logs = [...gwOpen.logs.slice(logsFrom[0]), ...gwClosed.logs.slice(logsFrom[1])]
  const storeLines = logs.filter((l) => l['code'] === 'RAMPART_ERR_STORE_UNAVAILABLE')
  t.match(storeLines.find((l) => l['limit'] === 'open-limit'), { protection: 'rate-limits', failMode: 'open', action: 'pass' }, 'open limit: logged, passed')
  t.match(storeLines.find((l) => l['limit'] === 'closed-limit'), { protection: 'rate-limits', failMode: 'closed', action: 'refuse' }, 'closed limit: logged, refused')
  // (An outcome being written when Redis died is logged too, as op 'record', action 'not-counted'.)
  const lockoutChecks = storeLines.filter((l) => l['protection'] === 'lockout' && l['op'] === 'check')
  t.match(lockoutChecks.find((l) => l['failMode'] === 'open'), { type: 'login.store-error', action: 'proceed' }, 'lockout open: logged, passed on')
  t.match(lockoutChecks.find((l) => l['failMode'] === 'closed'), { type: 'login.store-error', action: 'refuse' }, 'lockout closed: logged, refused')
  t.ok(storeLines.filter((l) => l['limit'] === 'closed-limit').length < samples.filter((s) => s.kind === 'closed-limit').length,
    'rate-limit store errors are logged throttled, not once per request')

  await redis.restart()
  phase = 'up'
  await resumes(t, 'kill')
})

t.test('hung Redis (SIGSTOP): every decision gives up after the command timeout; resumes on SIGCONT', async (t) => {
  const logsFrom = logMarks()
  const stream = startStream()
  await collect(stream, 8)
  phase = 'changing'
  await sleep(50)
  const bound = COMMAND_TIMEOUT + Math.max(MIN_MARGIN, 2 * Math.max(...ownTimes(logsFrom)))
  const faultFrom = logMarks()
  redis.pause()
  // Commands already sent when the server froze time out within COMMAND_TIMEOUT.
  await sleep(COMMAND_TIMEOUT + 50)
  phase = 'down'
  await collect(stream, 16)
  phase = 'changing'
  const samples = await stream.stop()
  redis.resume()
  phase = 'up'
  checkStream(t, samples, 'hang')
  await sleep(50)

  const own = ownTimes(faultFrom)
  t.ok(Math.max(...own) <= bound, `no request spent more than ${bound.toFixed(0)} ms in Rampart (max ${Math.max(...own).toFixed(1)} ms)`)
  const slowest = Math.max(...samples.filter((s) => s.from === 'down' && s.to === 'down' && s.kind === 'open-limit').map((s) => s.result.ms))
  t.ok(slowest >= COMMAND_TIMEOUT * 0.9, `the timeout path was taken (a decision waited ${slowest.toFixed(1)} ms)`)
  await resumes(t, 'hang')
})

/** Limits count and locks lock again, on the same running gateways (each reconnects on its own). */
async function resumes(t: Asserts, label: string): Promise<void> {
  const stores: Store[] = [gwOpen.runtime.store(), gwClosed.runtime.store()]
  await eventually(`${label}: both stores to reconnect`, 10_000, async () => (stores.every((s) => s.status() === 'ready') ? true : undefined))
  const ip = freshIp()
  await eventually(`${label}: the closed limit to pass again`, 10_000, async () => {
    const r = await request(gwOpen, { path: '/closed', ip })
    return r.status === 404 ? r : undefined
  })
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await request(gwOpen, { path: '/closed', ip })).status)
  const over = await request(gwOpen, { path: '/closed', ip })
  t.same([...statuses, over.status], [404, 404, 429, 429], `${label}: the limit counts again`)
  t.match(over.headers['ratelimit'], /r=0/, `${label}: refused for being over the limit, not for the store`)

  const user = `resume-${label}`
  for (let i = 0; i < 3; i++) await login(gwClosed, user)
  const before = demo.server.stats.requests
  const locked = await eventually(`${label}: the account to lock`, 3000, async () => {
    const r = await login(gwOpen, user)
    return r.body === MIMIC ? r : undefined
  })
  t.equal(locked.body, MIMIC, `${label}: the account locks again (on the other gateway)`)
  t.ok(demo.server.stats.requests - before <= 1, 'at most one attempt got through while the lock was being booked')
  t.ok(stores.every((s) => s.status() === 'ready'), `${label}: the stores report ready`)
}
