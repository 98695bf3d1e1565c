/** RedisStore through Sentinel: the client asks the Sentinel for the primary and runs the same scripts there. */
import t from 'tap'
import { RedisStore } from '../../src/store/redis.js'
import { startRedisSentinel } from '../helpers/redis.js'

t.test('decisions through a Sentinel-discovered primary', async (t) => {
  const sentinel = await startRedisSentinel()
  const store = new RedisStore({ connection: { sentinels: sentinel.sentinels, name: sentinel.name }, commandTimeoutMs: 500 })
  t.teardown(async () => {
    await store.close()
    await sentinel.stop()
  })
  await store.waitReady(10_000)
  const now = 1_700_000_040_000
  t.match(await store.rateLimit({ name: 'per-ip', subject: '192.0.2.1', limit: 1, windowMs: 60_000, now }), { allowed: true, remaining: 0 })
  t.match(await store.rateLimit({ name: 'per-ip', subject: '192.0.2.1', limit: 1, windowMs: 60_000, now }), { allowed: false })
  t.equal(store.key('ratelimit', 'per-ip', '192.0.2.1'), 'rampart:ratelimit:per-ip:192.0.2.1', 'no hash tags outside Cluster')
  const pttl = await store.pttl(store.key('ratelimit', 'per-ip', '192.0.2.1'))
  t.ok(pttl > 119_000 && pttl <= 120_000, `the key has its TTL on the primary (${pttl} ms)`)
})
