/**
 * Address bans and abuse signals.
 *
 * - The ban store: one behaviour table run against the memory store and a real Redis (and a Redis Cluster): TTL set
 *   with the ban, a longer ban never shortened, IPv6 grouped by /64, the `rampart:ban:<ip>` key; the Redis lookup
 *   cache (another instance's ban arrives within `cacheMs`), shared round trips, and a dead Redis.
 * - Through running gateways over real sockets: a 404 burst on instance A bans the address in the shared Redis,
 *   instance B refuses it too, and the ban ends on time; `store.onStoreError` open and closed with Redis down;
 *   distinct user names on the lockout's login route; repeated detections; 401 bursts that only alert; the
 *   WebSocket gate; the Prometheus counts.
 * Client addresses come from X-Forwarded-For (the loopback peer is a trusted proxy), so each case has its own.
 * Time: the memory store and the cache run on an injected `now`; Redis TTLs run on the server's clock, so the one
 * end-to-end expiry waits for a 2 s ban to end (polling, bounded).
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startGateway, h1, type Response, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, echoHandler } from '../helpers/upstream.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'
import { RedisStore } from '../../src/store/redis.js'
import { MemoryStore } from '../../src/store/memory.js'
import { banStoreFor, MemoryBanStore, RedisBanStore, type BanStore } from '../../src/store/bans.js'
import { isRampartError } from '../../src/errors.js'
import { upgradeGate } from '../../src/protections/access.js'
import type { BanProtection } from '../../src/protections/bans.js'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const STORE_CONFIG = { prefix: 'rampart', commandTimeout: 1000, maxKeys: 1000 }
const T0 = Date.UTC(2025, 0, 15, 12, 0)

const redis = await startRedis()
t.teardown(() => redis.stop())

async function redisStore(url: string, commandTimeoutMs = 1000): Promise<RedisStore> {
  const store = new RedisStore({ connection: url, commandTimeoutMs, maxReconnectDelayMs: 200 })
  await store.waitReady(5000)
  return store
}

/** Polls until `fn` is true; fails after `limitMs` (real time, for effects across sockets and processes). */
async function until(what: string, fn: () => boolean | Promise<boolean>, limitMs = 5000): Promise<void> {
  const deadline = performance.now() + limitMs
  while (!(await fn())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function behaviour(t: Tap, bans: BanStore, pttl: (key: string) => Promise<number>): Promise<void> {
  const ip = '198.51.100.7'
  t.equal(await bans.lookup(ip, T0), undefined, 'no ban yet')
  t.equal(bans.key(ip), 'rampart:ban:198.51.100.7', 'key namespace')
  t.match(await bans.ban(ip, 'notFound', 60_000, T0), { reason: 'notFound', remainingMs: 60_000 })
  const r = await bans.lookup(ip, T0 + 10)
  t.equal(r?.reason, 'notFound', 'banned, with its reason')
  t.ok(r !== undefined && r.remainingMs > 50_000 && r.remainingMs <= 60_000, 'time left')
  const ttl = await pttl(bans.key(ip))
  t.ok(ttl > 50_000 && ttl <= 60_000, `the key carries a TTL (${ttl} ms)`)
  const shorter = await bans.ban(ip, 'authFailures', 10_000, T0 + 20)
  t.equal(shorter.reason, 'notFound', 'a shorter ban does not replace a longer one')
  t.ok(shorter.remainingMs > 50_000, 'nor shorten it')
  t.match(await bans.ban(ip, 'detections', 120_000, T0 + 30), { reason: 'detections', remainingMs: 120_000 }, 'a longer one does')
  t.equal(await bans.lookup('198.51.100.8', T0 + 40), undefined, 'a neighbour is not banned')

  await bans.ban('2001:db8:1:2::5', 'notFound', 60_000, T0)
  t.ok(await bans.lookup('2001:db8:1:2::99', T0 + 1), 'IPv6: the whole /64 is banned')
  t.equal(await bans.lookup('2001:db8:1:3::5', T0 + 1), undefined, 'IPv6: not the next /64')
  t.equal(bans.key('2001:db8:1:2::5'), 'rampart:ban:2001:db8:1:2::/64')
  t.equal(bans.key('::ffff:192.0.2.1'), 'rampart:ban:192.0.2.1', 'IPv4-mapped IPv6 is the IPv4 address')

  t.equal((await bans.ban('192.0.2.9', 'a b:c\r\n', 60_000, T0)).reason, 'a_b_c__', 'the reason cannot inject anything')
  t.equal(await bans.lift('192.0.2.9', T0 + 1), true, 'lifted')
  t.equal(await bans.lookup('192.0.2.9', T0 + 2_000), undefined, 'gone after lifting')
}

t.test('memory ban store', async (t) => {
  const bans = new MemoryBanStore({ prefix: 'rampart' })
  await behaviour(t, bans, async (key) => {
    const ip = key.slice('rampart:ban:'.length).replace('::/64', '::1')
    const b = bans.peek(ip, T0 + 50)
    return b ? b.remainingMs : -2
  })
  t.ok(bans.peek('198.51.100.7', T0 + 119_000), 'still banned just before the end')
  t.equal(bans.lookup('198.51.100.7', T0 + 120_030), undefined, 'ends on time')
  t.equal(bans.lookup('198.51.100.7', T0 + 100), undefined, 'and is forgotten (no resurrection on a clock step back)')
  const bounded = new MemoryBanStore({ maxKeys: 3 })
  for (let i = 1; i <= 5; i++) await bounded.ban(`10.0.0.${i}`, 'notFound', 60_000, T0)
  t.equal(bounded.size, 3, 'bounded')
  t.ok(bounded.peek('10.0.0.5', T0), 'the newest bans stay')
  t.equal(banStoreFor(new MemoryStore(), STORE_CONFIG).kind, 'memory', 'a memory store gets memory bans')
})

t.test('Redis ban store (standalone)', async (t) => {
  const store = await redisStore(redis.url)
  t.teardown(() => store.close())
  const bans = banStoreFor(store, STORE_CONFIG)
  t.equal(bans.kind, 'redis')
  t.equal(banStoreFor(store, STORE_CONFIG), bans, 'one ban store per store (kept across reloads)')
  await behaviour(t, bans, (key) => store.pttl(key))
  const raw = new Redis(redis.url)
  t.teardown(() => raw.disconnect())
  t.equal(await raw.get('rampart:ban:198.51.100.7'), 'detections', 'plain value under the namespaced key')
})

t.test('Redis ban store (Cluster)', async (t) => {
  const cluster = await startRedisCluster(3)
  t.teardown(() => cluster.stop())
  const store = new RedisStore({ connection: { cluster: cluster.nodes }, commandTimeoutMs: 1000 })
  t.teardown(() => store.close())
  await store.waitReady(10_000)
  const bans = banStoreFor(store, STORE_CONFIG)
  for (let i = 1; i <= 20; i++) await bans.ban(`203.0.113.${i}`, 'notFound', 60_000, T0)
  const other = banStoreFor(await (async () => {
    const s = new RedisStore({ connection: { cluster: cluster.nodes }, commandTimeoutMs: 1000 })
    t.teardown(() => s.close())
    await s.waitReady(10_000)
    return s
  })(), STORE_CONFIG)
  for (let i = 1; i <= 20; i++) t.equal((await other.lookup(`203.0.113.${i}`, T0))?.reason, 'notFound', `203.0.113.${i} (keys on every node)`)
  t.equal(await other.lookup('203.0.113.99', T0), undefined)
})

t.test('the Redis lookup cache: another instance\'s ban arrives within cacheMs; one round trip per address', async (t) => {
  const s1 = await redisStore(redis.url)
  const s2 = await redisStore(redis.url)
  t.teardown(() => Promise.all([s1.close(), s2.close()]))
  const a = new RedisBanStore({ client: s1.client, cacheMs: 1000 })
  const b = new RedisBanStore({ client: s2.client, cacheMs: 1000 })
  const ip = '198.51.100.77'
  const first = b.lookup(ip, T0)
  t.ok(first instanceof Promise, 'a miss asks Redis')
  t.equal(b.lookup(ip, T0), first, 'a concurrent lookup shares the same round trip')
  t.equal(await first, undefined)
  await a.ban(ip, 'notFound', 60_000, T0 + 100)
  t.ok(a.peek(ip, T0 + 100), 'the banning instance knows at once')
  t.equal(b.lookup(ip, T0 + 500), undefined, 'the other still answers from its cache, synchronously')
  t.equal(b.peek(ip, T0 + 500), undefined)
  const later = b.lookup(ip, T0 + 1001)
  t.ok(later instanceof Promise, 'the cached answer expired')
  t.equal((await later)?.reason, 'notFound', 'the ban has arrived')
  t.match(b.lookup(ip, T0 + 1500), { reason: 'notFound' }, 'and is cached in turn')
  t.ok(b.peek(ip, T0 + 1500), 'peek sees it now')
})

t.test('a dead Redis: lookups reject with RAMPART_ERR_STORE_UNAVAILABLE; known bans still hold', async (t) => {
  const dying = await startRedis()
  t.teardown(() => dying.stop())
  const store = await redisStore(dying.url, 100)
  t.teardown(() => store.close())
  const bans = banStoreFor(store, { ...STORE_CONFIG, commandTimeout: 100 })
  await bans.ban('198.51.100.1', 'notFound', 60_000, T0)
  await dying.kill()
  const started = performance.now()
  const err = await Promise.resolve(bans.lookup('198.51.100.2', T0 + 5000)).catch((e: unknown) => e)
  t.ok(isRampartError(err) && err.code === 'RAMPART_ERR_STORE_UNAVAILABLE', 'rejects with the catalogued code')
  t.ok(performance.now() - started < 1000, 'at once, not after a long wait')
  t.match(await bans.lookup('198.51.100.1', T0 + 5000), { reason: 'notFound' }, 'a ban this instance knows still holds (stale-if-error)')
  const failedBan = await bans.ban('198.51.100.3', 'notFound', 60_000, T0 + 5000).catch((e: unknown) => e)
  t.ok(isRampartError(failedBan), 'storing a ban fails')
  t.ok(bans.peek('198.51.100.3', T0 + 5001), 'but this instance enforces it anyway')
})

// --- through running gateways -------------------------------------------------------------------------------

const up = await startUpstream(t, (req, res) => {
  const url = req.url ?? '/'
  if (url.startsWith('/missing')) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
  if (url.startsWith('/private') || url.startsWith('/login')) {
    req.resume()
    return void req.on('end', () => res.writeHead(401, { 'content-type': 'text/plain' }).end('Invalid credentials'))
  }
  echoHandler(req, res)
})

function config(store: string, abuse: string, extra = ''): string {
  return `listen:
  https: { host: 127.0.0.1, port: 0, http2: true }
  http: { enabled: false }
trustedProxies: [127.0.0.0/8]
tls:
  certificates:
    - { hosts: [localhost], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [localhost]
    upstream: ${up.url}
${store}
abuse:
${abuse}
${extra}`
}

const as = (ip: string, path = '/', o: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
  ({ path, method: o.method ?? 'GET', body: o.body, headers: { 'x-forwarded-for': ip, ...o.headers } })

function abuseLines(gw: TestGateway, ip: string): Array<Record<string, unknown>> {
  return gw.logs.filter((l) => l['type'] === 'abuse' && l['clientIp'] === ip)
}

async function events(gw: TestGateway): Promise<Record<string, number>> {
  const text = await gw.runtime.metrics.registry.getSingleMetricAsString('rampart_protection_events_total')
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^rampart_protection_events_total\{protection="([^"]+)",outcome="([^"]+)"\} (\d+)$/gm)) {
    out[`${m[1]}/${m[2]}`] = Number(m[3])
  }
  return out
}

function bansOf(gw: TestGateway): BanProtection {
  return gw.runtime.state.plan.protections.all.find((p) => p.name === 'bans') as BanProtection
}

t.test('a 404 burst on instance A bans the address on instance B too, until the ban ends', async (t) => {
  const shared = config(`store: { redis: ${redis.url} }`, `  notFound: { count: 5, per: 1m, banFor: 2s }
  detections: { enabled: false }`, 'threats: { mode: off }')
  const a = await startGateway(t, shared)
  const b = await startGateway(t, shared)
  // Addresses of their own: the store tests above left real bans in this Redis.
  const scanner = '192.0.2.77'
  const neighbour = '192.0.2.78'
  t.equal((await h1(b.port, as(neighbour))).status, 200, 'B serves the neighbour')
  for (let i = 1; i <= 4; i++) t.equal((await h1(a.port, as(scanner, `/missing/${i}.php`))).status, 404, `404 #${i}`)
  t.equal(abuseLines(a, scanner).length, 0, 'no signal before the count')
  t.equal((await h1(a.port, as(scanner, '/missing/5.php'))).status, 404, '404 #5')
  await until('the ban to be stored', () => a.logs.some((l) => l['msg'] === 'ban stored' && l['clientIp'] === scanner))
  const bannedAt = performance.now()
  t.match(abuseLines(a, scanner), [{
    level: 'warn', code: 'RAMPART_ERR_ABUSE_BANNED', audit: true, signal: 'notFound', observed: 5, windowMs: 60_000,
    bannedForMs: 2000, site: 'club',
  }], 'the signal is an audit line')
  const ttl = await a.runtime.store().pttl('rampart:ban:192.0.2.77', Date.now())
  t.ok(ttl > 0 && ttl <= 2000, `rampart:ban:192.0.2.77 carries its TTL (${ttl} ms)`)

  const before = up.requests.length
  const onB = await h1(b.port, as(scanner, '/'))
  t.equal(onB.status, 403, 'B refuses the banned address')
  t.match(onB.body, onB.headers['x-request-id'] as string, 'with the request id on the page')
  t.match(onB.body, 'banned for abusive behaviour')
  t.equal((await h1(a.port, as(scanner, '/'))).status, 403, 'A refuses it too')
  t.equal(up.requests.length, before, 'neither proxied it')
  t.equal((await h1(b.port, as(neighbour))).status, 200, 'the neighbour still gets in')
  t.equal(upgradeGate(b.runtime.state).check!({ siteIndex: 0, path: '/ws', clientIp: scanner }), 'RAMPART_ERR_ABUSE_BANNED', 'WebSocket upgrades too')
  t.equal(upgradeGate(b.runtime.state).check!({ siteIndex: 0, path: '/ws', clientIp: neighbour }), undefined)

  t.match(await events(a), { 'abuse/notFound': 1, 'bans/banned': 1, 'bans/refused': 1 })
  t.ok((await events(b))['bans/refused']! >= 1, 'B counts its refusals')
  const accessLine = b.logs.find((l) => l['type'] === 'access' && l['reqId'] === onB.headers['x-request-id'])
  t.match(accessLine, { status: 403, error: 'RAMPART_ERR_ABUSE_BANNED' })

  await until('the ban to end on B', async () => (await h1(b.port, as(scanner))).status === 200, 6000)
  t.ok(performance.now() - bannedAt > 1200, 'not before its time')
  t.equal((await h1(a.port, as(scanner))).status, 200, 'A lets it in again')
  t.equal(await a.runtime.store().pttl('rampart:ban:192.0.2.77', Date.now()), -2, 'the key is gone')
  t.match(bansOf(a).describe!(), { bans: 'redis', failMode: 'open', signals: { notFound: '5 per 60000 ms, ban 2000 ms', detections: 'off' } })
})

t.test('store.onStoreError decides when Redis is down: open lets through, closed refuses; logged once', async (t) => {
  const dying = await startRedis()
  t.teardown(() => dying.stop())
  const abuse = '  notFound: { count: 5, per: 1m, banFor: 1m }'
  const open = await startGateway(t, config(`store: { redis: ${dying.url}, onStoreError: open }`, abuse))
  const closed = await startGateway(t, config(`store: { redis: ${dying.url}, onStoreError: closed }`, abuse))
  await until('both stores ready', () => open.runtime.store().status() === 'ready' && closed.runtime.store().status() === 'ready')
  t.equal((await h1(closed.port, as('192.0.2.1'))).status, 200, 'closed mode serves while Redis is up')
  await dying.kill()
  for (let i = 0; i < 3; i++) {
    t.equal((await h1(open.port, as(`192.0.2.${10 + i}`))).status, 200, `open: request ${i + 1} goes through`)
    const res = await h1(closed.port, as(`192.0.2.${10 + i}`))
    t.equal(res.status, 403, `closed: request ${i + 1} refused`)
  }
  for (const [gw, failMode, action] of [[open, 'open', 'pass'], [closed, 'closed', 'refuse']] as const) {
    const lines = gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_STORE_UNAVAILABLE' && l['protection'] === 'bans')
    t.equal(lines.length, 1, `${failMode}: one log line for three failures`)
    t.match(lines[0], { level: 'warn', failMode, action })
    t.equal((await events(gw))['bans/store-error'], 3, `${failMode}: every failure counted`)
  }
})

t.test('distinct user names on the lockout\'s login route: signal and ban', async (t) => {
  const gw = await startGateway(t, config('', `  distinctUsernames: { count: 3, per: 10m, banFor: 1m }
  notFound: { enabled: false }
  authFailures: { enabled: false }`, `lockout:
  logins: [{ method: POST, path: /login, username: body.username }]
  deviceCookie: { enabled: false }
  answer: { mode: json }`))
  const login = (ip: string, username: string): Promise<Response> =>
    h1(gw.port, as(ip, '/login', { method: 'POST', body: `username=${username}&password=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
  for (let i = 0; i < 4; i++) t.equal((await login('198.51.100.20', 'bob')).status, 401, `the same name again (${i + 1})`)
  t.equal(abuseLines(gw, '198.51.100.20').length, 0, 'one name tried several times is no signal')
  t.equal((await login('198.51.100.21', 'alice')).status, 401)
  t.equal((await login('198.51.100.21', 'Bob')).status, 401)
  t.equal((await h1(gw.port, as('198.51.100.21', '/login/help'))).status, 401, 'another route does not count')
  t.equal(abuseLines(gw, '198.51.100.21').length, 0)
  t.equal((await login('198.51.100.21', 'carol')).status, 401, 'the third name')
  t.match(abuseLines(gw, '198.51.100.21'), [{ signal: 'distinctUsernames', observed: 3, bannedForMs: 60_000 }])
  await until('the ban', () => bansOf(gw).counters.banned === 1)
  t.equal((await h1(gw.port, as('198.51.100.21', '/'))).status, 403, 'banned')
  t.equal((await login('198.51.100.20', 'dave')).status, 401, 'the other address is not')
  t.notMatch(JSON.stringify(abuseLines(gw, '198.51.100.21')), /carol|alice/, 'user names are not logged')
  bansOf(gw).observeLogin('198.51.100.30', 'x', 'club')
  bansOf(gw).observeLogin('198.51.100.30', 'y', 'club')
  bansOf(gw).observeLogin('198.51.100.30', 'z', 'club')
  t.match(abuseLines(gw, '198.51.100.30'), [{ signal: 'distinctUsernames' }], 'observeLogin() for other callers')
})

t.test('repeated detections ban; 401 bursts alert only; Rampart\'s own refusals are not counted', async (t) => {
  const gw = await startGateway(t, config('', `  detections: { count: 2, per: 10m, banFor: 1m }
  authFailures: { count: 2, per: 1m }
  notFound: { count: 2, per: 1m }`, 'threats: { mode: block }'))
  const attack = `/search?q=${encodeURIComponent("1' OR '1'='1")}`
  t.equal((await h1(gw.port, as('203.0.113.50', attack))).status, 403, 'blocked once')
  t.equal((await h1(gw.port, as('203.0.113.50', attack))).status, 403, 'blocked twice')
  t.match(abuseLines(gw, '203.0.113.50'), [{ signal: 'detections', observed: 2, bannedForMs: 60_000 }])
  t.notOk(abuseLines(gw, '203.0.113.50').some((l) => l['signal'] === 'authFailures'), 'threat refusals are not auth failures')
  await until('the ban', () => bansOf(gw).counters.banned === 1)
  const res = await h1(gw.port, as('203.0.113.50', '/'))
  t.equal(res.status, 403, 'a harmless request from that address is refused now')
  t.equal(res.headers['x-request-id'] !== undefined && gw.logs.some((l) => l['type'] === 'access' && l['error'] === 'RAMPART_ERR_ABUSE_BANNED'), true)
  await h1(gw.port, as('203.0.113.50', '/'))
  t.notOk(abuseLines(gw, '203.0.113.50').some((l) => l['signal'] === 'authFailures'), 'nor are ban refusals')

  t.equal((await h1(gw.port, as('203.0.113.60', '/private/a'))).status, 401)
  t.equal((await h1(gw.port, as('203.0.113.60', '/private/b'))).status, 401)
  const [signal] = abuseLines(gw, '203.0.113.60')
  t.match(signal, { level: 'warn', signal: 'authFailures', observed: 2, windowMs: 60_000 })
  t.notOk('code' in signal! || 'bannedForMs' in signal!, 'alert only: no ban')
  t.equal((await h1(gw.port, as('203.0.113.60', '/'))).status, 200, 'not banned')
  t.match(await events(gw), { 'abuse/detections': 1, 'abuse/authFailures': 1, 'bans/banned': 1 })
})

t.test('without any ban configured there is no ban lookup; with every signal off, no protection', async (t) => {
  const alertOnly = await startGateway(t, config('', '  notFound: { count: 5, per: 1m }'))
  const p = bansOf(alertOnly)
  t.ok(p, 'signals are watched')
  t.notOk(p.onRequest, 'no ban lookup on the request path')
  t.match(p.describe!(), { bans: 'off' })
  const off = await startGateway(t, config('', `  notFound: { enabled: false }
  authFailures: { enabled: false }
  distinctUsernames: { enabled: false }
  detections: { enabled: false }`))
  t.notOk(bansOf(off), 'every signal off: nothing compiled')
})
