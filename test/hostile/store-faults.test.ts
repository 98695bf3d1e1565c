/**
 * Hostile store conditions under a running gateway, beyond a single kill or hang (`test/protections/store-faults`):
 *
 * - Redis absent at startup: Rampart starts anyway, `/readyz` names the store as the failed check, every protection
 *   follows its `onStoreError`, and enforcement starts by itself once Redis appears.
 * - Redis flapping (killed and restarted several times under a stream of requests): no crash, every answer is either
 *   a real decision or the fail-mode answer, and counters are exact afterwards: a request that failed open was never
 *   counted later (no offline queue, no replay), so a limit of N allows exactly N minus the decisions Redis made.
 * - Redis slow (`DEBUG SLEEP`): every decision gives up at `store.commandTimeout` and follows `onStoreError`; the
 *   commands already sent still run when Redis wakes, so a request that passed during the stall is counted late.
 * - Redis Cluster failover (a primary with a replica is killed): decisions continue after a bounded error window
 *   that follows `onStoreError`, and the replica carries the counters and the lock over.
 * - Redis restarted with persistence (append-only file): a stored lockout is still enforced; without persistence
 *   it is gone. Keeping locks across a Redis restart is the operator's Redis persistence setting.
 *
 * Real redis-server processes (SIGKILL for crashes), a real gateway with the demo app behind it. Waits are for
 * real events (a process exiting, a store reconnecting), each bounded.
 */
import t from 'tap'
import http from 'node:http'
import { Redis } from 'ioredis'
import { startGateway, h1, type TestGateway } from '../helpers/gateway.js'
import { oneSiteYaml } from '../helpers/site-yaml.js'
import { startRedis, startRedisCluster, type RedisHandle } from '../helpers/redis.js'
import { startDemoApp, INVALID_CREDENTIALS_TEXT } from '../../src/demo/app.js'

const COMMAND_TIMEOUT = 150
/** Scheduling jitter on a loaded 2-core machine; a request stuck on the store would take seconds. */
const MARGIN = 400
/** Budget of the `budget` limit (per address, per hour: no window boundary matters within a test). */
const N = 6
const MIMIC = `<p class="error">${INVALID_CREDENTIALS_TEXT}</p>`
const PERSISTENT = ['--appendonly', 'yes', '--appendfsync', 'always']

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
process.on('unhandledRejection', onUnhandled)
t.teardown(() => {
  process.off('unhandledRejection', onUnhandled)
  if (unhandled.length > 0) throw new Error(`unhandled rejections: ${unhandled.map(String).join('; ')}`)
})

const demo = await startDemoApp({ port: 0 })
t.teardown(() => demo.close())

/** `redis` is the YAML value of `store.redis` (a URL, or a flow mapping for a cluster). */
const config = (redis: string, onStoreError: 'open' | 'closed') => oneSiteYaml({
  upstream: demo.port, admin: '{ host: 127.0.0.1, port: 0, openProbes: [healthz, readyz] }', trustedProxies: ['127.0.0.1/32'],
  name: 'club', extra: `store:
  redis: ${redis}
  commandTimeout: ${COMMAND_TIMEOUT}ms
  onStoreError: ${onStoreError}
  keySecret: hostile-store-faults-key-secret
rateLimits:
  - { name: budget, match: { pathPrefix: /budget }, key: ip, limit: ${N}, per: 1h }
  - { name: open-limit, match: { pathPrefix: /open }, key: ip, limit: 1000, per: 1h, onStoreError: open }
  - { name: closed-limit, match: { pathPrefix: /closed }, key: ip, limit: 1000, per: 1h, onStoreError: closed }
lockout:
  logins: [{ site: club, path: /login }]
  failure: { bodyContains: "${INVALID_CREDENTIALS_TEXT}" }
  maxFailures: 3
  answer: { status: 200, body: '${MIMIC}' }
  deviceCookie: { enabled: false }
` })
const gateway = (redis: string, mode: 'open' | 'closed' = 'open') =>
  startGateway(t, config(redis, mode), { certs: { site: ['a.test'] } })

/** The assertions the helpers below make (a subtest's `t`). */
type Asserts = Pick<typeof t, 'equal' | 'ok'>

interface Result { status: number; body: string; headers: http.IncomingHttpHeaders; ms: number }

async function send(gw: TestGateway, path: string, ip: string, body?: string): Promise<Result> {
  const started = performance.now()
  const r = await h1(gw.port, {
    host: 'a.test', ca: gw.ca, path, method: body === undefined ? 'GET' : 'POST', body,
    headers: { 'x-forwarded-for': ip, ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
  })
  return { status: r.status, body: r.body, headers: r.headers, ms: performance.now() - started }
}

let seq = 0
const freshIp = (): string => {
  seq++
  return `10.${(seq >> 16) & 255}.${(seq >> 8) & 255}.${seq & 255}`
}
const login = (gw: TestGateway, user: string, ip = freshIp()) =>
  send(gw, '/login', ip, new URLSearchParams({ username: user, password: 'wrong' }).toString())

/** The `r=` of the `budget` item in RateLimit, or undefined when the store made no decision. */
function remaining(r: Result): number | undefined {
  const m = /"budget";r=(\d+)/.exec(String(r.headers['ratelimit'] ?? ''))
  return m ? Number(m[1]) : undefined
}

async function probe(gw: TestGateway, path: '/healthz' | '/readyz'): Promise<{ status: number; body: { failed?: string[]; checks?: { store?: { detail: { status: string } } } } }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: gw.runtime.adminPort, path, timeout: 5000 }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }))
    }).on('error', reject)
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function eventually<T>(what: string, limitMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** Bounded wait until the gateway's store answers decisions again (a closed limit that passes proves it). */
const storeBack = (gw: TestGateway, what: string, limitMs = 15_000) => eventually(what, limitMs, async () => {
  const r = await send(gw, '/closed', freshIp())
  return r.status === 404 ? r : undefined
})

/** Sends budget requests from `ip` until one is refused (at most N + 2): how many passed. */
async function spend(gw: TestGateway, ip: string): Promise<number> {
  for (let passed = 0; passed <= N + 1; passed++) {
    const r = await send(gw, '/budget', ip)
    if (r.status === 429) return passed
  }
  return N + 2
}

/** Locks `user` with three failed logins and checks the fourth gets the locked answer without reaching the app. */
async function lockAccount(t: Asserts, gw: TestGateway, user: string): Promise<void> {
  for (let i = 0; i < 3; i++) await login(gw, user)
  const before = demo.server.stats.requests
  const r = await login(gw, user)
  t.equal(r.body, MIMIC, `${user}: locked after 3 failures`)
  t.equal(demo.server.stats.requests, before, `${user}: the locked attempt did not reach the app`)
}

/** A login of `user` while the store is up: does the lock hold (locked answer, app not reached)? */
async function isLocked(gw: TestGateway, user: string): Promise<boolean> {
  const before = demo.server.stats.requests
  const r = await login(gw, user)
  return r.body === MIMIC && demo.server.stats.requests === before
}

t.test('Redis absent at startup: Rampart starts, /readyz says why, fail modes apply, enforcement starts by itself', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  await redis.kill()

  const started = performance.now()
  const gwOpen = await gateway(redis.url, 'open')
  const gwClosed = await gateway(redis.url, 'closed')
  t.ok(performance.now() - started < 10_000, 'both gateways started without a Redis')

  for (const gw of [gwOpen, gwClosed]) {
    t.equal((await probe(gw, '/healthz')).status, 200, 'alive')
    const ready = await probe(gw, '/readyz')
    t.equal(ready.status, 503, '/readyz: not ready')
    t.same(ready.body.failed, ['store'], '/readyz names the store, and only the store')
    t.not(ready.body.checks?.store?.detail.status, 'ready', `store status: ${ready.body.checks?.store?.detail.status}`)
  }

  const ip = freshIp()
  const open = await send(gwOpen, '/budget', ip)
  t.equal(open.status, 404, 'open: the request reached the app')
  t.equal(remaining(open), undefined, 'open: no RateLimit field (no decision was made)')
  t.ok(open.ms < COMMAND_TIMEOUT + MARGIN + 1000, `open: answered in ${open.ms.toFixed(0)} ms`)
  const closed = await send(gwClosed, '/budget', freshIp())
  t.equal(closed.status, 429, 'closed: refused')
  t.equal(closed.headers['retry-after'], '1', 'closed: retry in a second')

  let before = demo.server.stats.requests
  const passedLogin = await login(gwOpen, 'dora')
  t.ok(passedLogin.body !== MIMIC && passedLogin.body.includes(INVALID_CREDENTIALS_TEXT), 'lockout open: the app answered the login')
  t.equal(demo.server.stats.requests, before + 1, 'lockout open: the login reached the app')
  before = demo.server.stats.requests
  t.equal((await login(gwClosed, 'dora')).body, MIMIC, 'lockout closed: the locked answer')
  t.equal(demo.server.stats.requests, before, 'lockout closed: the login did not reach the app')

  await redis.restart()
  for (const gw of [gwOpen, gwClosed]) {
    const ready = await eventually('/readyz to turn ready', 15_000, async () => {
      const r = await probe(gw, '/readyz')
      return r.status === 200 ? r : undefined
    })
    t.equal(ready.body.checks?.store?.detail.status, 'ready', '/readyz: ready once Redis is up, without a restart')
  }
  t.equal(await spend(gwOpen, ip), N, `the address that passed uncounted has its whole budget (${N})`)
  await lockAccount(t, gwOpen, 'erin')
  t.ok(await isLocked(gwClosed, 'erin'), 'the other gateway enforces the same lock')
})

t.test('Redis flapping: no crash, answers follow onStoreError, counters exact afterwards', async (t) => {
  const redis = await startRedis({ args: PERSISTENT })
  t.teardown(() => redis.stop())
  const gw = await gateway(redis.url)
  await storeBack(gw, 'the first connection')

  // Background stream: two clients, fresh addresses, alternating a fail-open and a fail-closed limit.
  const seen: Array<{ path: string; r?: Result; error?: unknown }> = []
  let running = true
  const client = async (offset: number) => {
    for (let i = offset; running && seen.length < 3000; i++) {
      const path = i % 2 === 0 ? '/open' : '/closed'
      try {
        seen.push({ path, r: await send(gw, path, freshIp()) })
      } catch (error) {
        seen.push({ path, error })
      }
    }
  }
  const clients = [client(0), client(1)]

  // Decisions Redis made for the budget address; requests that failed open must never add to them.
  const budgetIp = freshIp()
  let counted = 0
  const CYCLES = 4
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const up = await send(gw, '/budget', budgetIp)
    counted++
    t.equal(remaining(up), N - counted, `cycle ${cycle}: Redis up, a real decision (${N - counted} left)`)
    await redis.kill()
    const down = await send(gw, '/budget', budgetIp)
    t.ok(down.status === 404 && remaining(down) === undefined, `cycle ${cycle}: Redis dead, failed open, uncounted`)
    const ready = await probe(gw, '/readyz')
    t.ok(ready.status === 503 && ready.body.failed?.includes('store'), `cycle ${cycle}: /readyz reports the store`)
    await redis.restart()
    await storeBack(gw, `the store after restart ${cycle}`)
  }
  running = false
  await Promise.all(clients)

  const errors = seen.filter((s) => s.error !== undefined)
  t.same(errors.map((s) => String(s.error)), [], `every one of ${seen.length} stream requests got an answer`)
  const wrong = seen.filter((s) => s.r && !(
    s.r.status === 404 || (s.path === '/closed' && s.r.status === 429 && s.r.headers['retry-after'] === '1')))
  t.same(wrong.map((s) => `${s.path} ${s.r?.status}`), [], 'every answer is a real decision or the limit\'s fail mode')
  const failedOpen = seen.filter((s) => s.path === '/open' && s.r?.status === 404 && s.r.headers['ratelimit'] === undefined).length
  const failedClosed = seen.filter((s) => s.r?.status === 429).length
  t.ok(failedOpen + failedClosed > 0, `the stream crossed the outages (${failedOpen} passed open, ${failedClosed} refused closed)`)
  t.ok(Math.max(...seen.map((s) => s.r?.ms ?? 0)) < 3000, 'no stream request waited long')

  // Persistence keeps the budget across restarts; the four fail-open requests must not have been replayed.
  t.equal(await spend(gw, budgetIp), N - counted, `after recovery exactly ${N - counted} of ${N} remain`)
  t.equal((await probe(gw, '/readyz')).status, 200, 'ready again')
  t.same(gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_LIFECYCLE_UNCAUGHT'), [], 'nothing uncaught was logged')
})

t.test('Redis slow (DEBUG SLEEP 0.5): decisions give up at commandTimeout and follow onStoreError', async (t) => {
  const redis = await startRedis({ args: ['--enable-debug-command', 'local'] })
  t.teardown(() => redis.stop())
  const gw = await gateway(redis.url)
  await storeBack(gw, 'the first connection')
  const budgetIp = freshIp()
  t.equal(remaining(await send(gw, '/budget', budgetIp)), N - 1, 'one decision before the stall')

  const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  t.teardown(() => admin.disconnect())
  await admin.connect()
  const stall = admin.call('DEBUG', 'SLEEP', '0.5')
  await sleep(30)
  const logsFrom = gw.logs.length
  const before = demo.server.stats.requests
  const [budget, open, closed, loggedIn] = await Promise.all([
    send(gw, '/budget', budgetIp), send(gw, '/open', freshIp()), send(gw, '/closed', freshIp()), login(gw, 'frank'),
  ])
  t.equal(await stall, 'OK', 'Redis stalled for 500 ms')

  t.ok(budget.status === 404 && remaining(budget) === undefined, 'budget (open): passed without a decision')
  t.ok(open.status === 404 && remaining(open) === undefined, 'open limit: passed without a decision')
  t.equal(closed.status, 429, 'closed limit: refused')
  t.ok(loggedIn.body.includes(INVALID_CREDENTIALS_TEXT) && loggedIn.body !== MIMIC, 'lockout (open): the login went to the app')
  t.equal(demo.server.stats.requests - before, 3, 'three of the four reached the app')
  const own = gw.logs.slice(logsFrom).filter((l) => l['type'] === 'access')
    .map((l) => Number(l['durationMs']) - (typeof l['upstreamMs'] === 'number' ? l['upstreamMs'] : 0))
  t.equal(own.length, 4, 'four access lines')
  const slowest = Math.max(...own)
  t.ok(slowest <= 2 * COMMAND_TIMEOUT + MARGIN, `time spent in Rampart, upstream excluded: max ${slowest.toFixed(0)} ms (a login makes two decisions)`)
  t.ok(Math.min(...[budget, open, closed].map((r) => r.ms)) >= COMMAND_TIMEOUT * 0.9, 'they waited for the command timeout, not longer')

  // The timed-out budget command was already on the wire: Redis ran it when it woke. The next decision shows it.
  t.equal(remaining(await send(gw, '/budget', budgetIp)), N - 3, 'the stalled decision was counted late (strict side)')
})

t.test('Redis Cluster failover: a killed primary\'s replica takes over; counters and the lock carry over', async (t) => {
  const cluster = await startRedisCluster(3, { replicas: 1 })
  t.teardown(() => cluster.stop())
  const admin = new Redis(cluster.nodes[0]!.port, '127.0.0.1', { maxRetriesPerRequest: 0 })
  t.teardown(() => admin.disconnect())

  // The primary that holds the lockout scope `{club}`, its replica, and addresses whose rate-limit keys it holds.
  const nodes = String(await admin.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '))
  const slotOf = async (tag: string) => Number(await admin.call('CLUSTER', 'KEYSLOT', tag))
  const clubSlot = await slotOf('club')
  const owns = (n: string[], slot: number) => n.slice(8).some((r) => {
    const [a, b] = r.split('-').map(Number)
    return slot >= a! && slot <= (b ?? a!)
  })
  const victim = nodes.find((n) => n[2]!.includes('master') && owns(n, clubSlot))!
  const replica = nodes.find((n) => n[3] === victim[0])
  t.ok(replica, 'the primary has a replica')
  const victimPort = Number(victim[1]!.split(':')[1]!.split('@')[0])
  const onVictim: string[] = []
  const elsewhere: string[] = []
  for (let i = 0; onVictim.length < 60 || elsewhere.length < 5; i++) {
    const ip = `10.200.${i >> 8}.${i & 255}`
    ;(owns(victim, await slotOf(ip)) ? onVictim : elsewhere).push(ip)
  }

  const gw = await gateway(`{ cluster: [{ host: 127.0.0.1, port: ${cluster.nodes[0]!.port} }] }`)
  await storeBack(gw, 'the cluster')
  const budgetIp = onVictim.pop()!
  for (let i = 1; i <= 2; i++) t.equal(remaining(await send(gw, '/budget', budgetIp)), N - i, `budget decision ${i} before the failover`)
  await lockAccount(t, gw, 'grace')

  // Every write acknowledged by the replica before the crash (replication is asynchronous).
  const primary = new Redis(victimPort, '127.0.0.1', { maxRetriesPerRequest: 0 })
  await eventually('the replica to catch up', 5000, async () => {
    const info = String(await primary.info('replication'))
    const offset = /master_repl_offset:(\d+)/.exec(info)?.[1]
    return offset !== undefined && new RegExp(`slave0:.*offset=${offset},`).test(info) ? true : undefined
  })
  primary.disconnect()

  await cluster.servers.find((s) => s.port === victimPort)!.kill()
  const killedAt = performance.now()
  const window: Result[] = []
  const otherNodes: Result[] = []
  await eventually('a real decision on the failed primary\'s slots', 30_000, async () => {
    const i = window.length
    const [mine, other] = await Promise.all([send(gw, '/closed', onVictim[i % onVictim.length]!), send(gw, '/closed', elsewhere[i % elsewhere.length]!)])
    window.push(mine)
    otherNodes.push(other)
    return mine.status === 404 ? mine : undefined
  })
  const errorWindow = performance.now() - killedAt
  t.comment(`error window after the primary died: ${errorWindow.toFixed(0)} ms, ${window.length - 1} refusals`)
  t.ok(errorWindow < 20_000, `decisions resumed ${errorWindow.toFixed(0)} ms after the crash`)
  t.ok(window.slice(0, -1).every((r) => r.status === 429 && r.headers['retry-after'] === '1'), 'meanwhile the closed limit refused (its fail mode)')
  t.ok(window.every((r) => r.ms < COMMAND_TIMEOUT + MARGIN + 1000), `no request waited long (max ${Math.max(...window.map((r) => r.ms)).toFixed(0)} ms)`)
  const decidedElsewhere = otherNodes.filter((r) => r.status === 404 && r.headers['ratelimit'] !== undefined).length
  t.comment(`keys on the other primaries meanwhile: ${decidedElsewhere} of ${otherNodes.length} decided`)
  t.ok(otherNodes.every((r) => r.status === 404 || (r.status === 429 && r.headers['retry-after'] === '1')), 'keys on the other primaries: a decision or the fail mode')
  t.ok(decidedElsewhere >= otherNodes.length / 2, 'keys on the other primaries were mostly decided throughout')

  t.equal(remaining(await send(gw, '/budget', budgetIp)), N - 3, 'the budget counted before the crash carried over')
  t.ok(await isLocked(gw, 'grace'), 'the lock carried over to the new primary')
})

/** Locks an account, SIGKILLs Redis, restarts it on the same directory: is the lock still there? */
async function lockSurvivesRestart(t: Asserts, redis: RedisHandle, user: string): Promise<boolean> {
  const gw = await gateway(redis.url)
  await storeBack(gw, 'the first connection')
  await lockAccount(t, gw, user)
  await redis.restart()
  await storeBack(gw, 'the store after the restart')
  return isLocked(gw, user)
}

t.test('Redis restarted with persistence (appendonly, fsync always): the lock is still enforced', async (t) => {
  const redis = await startRedis({ args: PERSISTENT })
  t.teardown(() => redis.stop())
  t.ok(await lockSurvivesRestart(t, redis, 'heidi'), 'locked after the crash and restart')
})

t.test('Redis restarted without persistence: the lock is gone (it relies on the operator\'s Redis persistence)', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  t.notOk(await lockSurvivesRestart(t, redis, 'ivan'), 'the login reached the app again')
})
