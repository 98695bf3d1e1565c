/** MemoryStore specifics: expiry on the caller's clock, the key cap, and the store factory. */
import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import { RedisStore, reconnectDelay } from '../../src/store/redis.js'
import { createStore, redisConnectionOf } from '../../src/store/create.js'
import { freePort } from '../helpers/redis.js'

const T0 = 1_700_000_040_000
const q = (subject: string, now: number) => ({ name: 'n', subject, limit: 1, windowMs: 60_000, now })

t.test('entries expire on the injected clock', async (t) => {
  const store = new MemoryStore()
  t.match(await store.rateLimit(q('a', T0)), { allowed: true })
  const key = store.key('ratelimit', 'n', 'a')
  t.equal(await store.pttl(key, T0), 120_000, 'TTL: until the end of the next window')
  t.equal(await store.pttl(key, T0 + 119_999), 1)
  t.equal(await store.pttl(key, T0 + 120_000), -2, 'gone at its expiry')
  t.equal(store.size, 0, 'and removed from the map')
})

t.test('expired entries are swept on writes', async (t) => {
  const store = new MemoryStore()
  await store.rateLimit({ ...q('old1', T0), windowMs: 1000 })
  await store.rateLimit({ ...q('old2', T0), windowMs: 1000 })
  t.equal(store.size, 2)
  await store.rateLimit(q('a', T0 + 5000))
  t.equal(store.size, 1, 'the next write swept both expired entries')
  await store.rateLimit(q('a', T0 + 5000)) // refused
  await store.rateLimit({ ...q('a', T0 + 200_000), limit: 5 })
  t.equal(store.size, 1, 'an update changes the entry in place')
})

t.test('at the cap: expired entries go first, then the oldest inserted, down to below 90 %', async (t) => {
  const store = new MemoryStore({ maxKeys: 10 })
  const alive = async (k: string) => (await store.pttl(store.key('ratelimit', 'n', k), T0 + 5000)) > 0
  await store.rateLimit({ ...q('short', T0), windowMs: 1000 })
  for (let i = 0; i < 9; i++) await store.rateLimit(q(`k${i}`, T0))
  t.equal(store.size, 10)
  await store.rateLimit(q('new1', T0 + 5000))
  t.equal(store.size, 9, 'full: the expired entry and the oldest inserted went, so the next inserts do not rescan')
  t.same([await alive('short'), await alive('k0'), await alive('k1')], [false, false, true])
  await store.rateLimit({ ...q('k1', T0 + 5000), limit: 5 }) // refreshed in place: still the oldest inserted
  await store.rateLimit(q('new2', T0 + 5000))
  t.equal(store.size, 10, 'below the cap: plain insert')
  await store.rateLimit(q('new3', T0 + 5000))
  t.equal(store.size, 9)
  t.same([await alive('k1'), await alive('k2'), await alive('k3')], [false, false, true], 'oldest inserted first, refreshed or not')
  for (const k of ['k8', 'new1', 'new2', 'new3']) t.ok(await alive(k), `${k} kept`)
})

t.test('reconnect backoff doubles up to the cap and never gives up', async (t) => {
  const table: Array<[number, number]> = [[1, 50], [2, 100], [3, 200], [4, 400], [6, 1600], [7, 2000], [1000, 2000]]
  for (const [attempt, want] of table) t.equal(reconnectDelay(attempt, 2000), want, `attempt ${attempt}`)
})

t.test('createStore picks the backend from the config', async (t) => {
  t.equal(redisConnectionOf({}), undefined)
  t.equal(redisConnectionOf({ redis: '' }), undefined, 'an empty URL (from ${REDIS_URL:-}) means no Redis')
  const base = { prefix: 'rampart', commandTimeout: 100, connectTimeout: 500, autoPipelining: true, onStoreError: 'open' as const, maxKeys: 1000 }
  const mem = createStore(base)
  t.equal(mem.kind, 'memory')
  t.equal(mem.status(), 'ready')
  const port = await freePort()
  const events: string[] = []
  const redis = createStore({ ...base, redis: `redis://127.0.0.1:${port}` }, { onEvent: (e) => events.push(e.type) })
  t.teardown(() => redis.close())
  t.ok(redis instanceof RedisStore, 'a URL gives a Redis store')
  t.equal(redis.key('ratelimit', 'a', 'b'), 'rampart:ratelimit:a:b', 'no hash tags outside Cluster')
  t.not(redis.status(), 'ready', 'nothing listens there')
  await t.rejects(Promise.resolve(redis.rateLimit(q('x', T0))), { code: 'RAMPART_ERR_STORE_UNAVAILABLE' }, 'decisions fail fast instead of queueing')
})
