/**
 * A dead or hung Redis must never hang a request or crash the process: every decision settles within the command
 * timeout (plus a small margin), store errors become each protection's `onStoreError` choice, and the same store
 * object recovers by itself when Redis is back.
 *
 * Real redis-server processes: SIGKILL for a crash, SIGSTOP for a server that keeps the connection but answers
 * nothing. Time windows use the injected `now`; the only real waiting is for processes to die and come back.
 */
import t from 'tap'
import { RedisStore } from '../../src/store/redis.js'
import { isRampartError } from '../../src/errors.js'
import { compileRateLimits } from '../../src/limits/limiter.js'
import { compileLockout } from '../../src/lockout/lockout.js'
import { createAuditHub, type LockoutAuditEvent } from '../../src/lockout/audit.js'
import type { RateLimitsConfig } from '../../src/config/sections/rate-limits.js'
import type { LockoutConfig } from '../../src/config/sections/lockout.js'
import type { RateLimitResult, Store } from '../../src/store/types.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'

const COMMAND_TIMEOUT = 100
/** Event-loop and scheduling jitter on a busy 2-core test machine running suites in parallel; a hang would take seconds. */
const MARGIN = 400
const BOUND = COMMAND_TIMEOUT + MARGIN

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => unhandled.push(reason))
t.teardown(() => {
  if (unhandled.length > 0) throw new Error(`unhandled rejections: ${unhandled.map(String).join('; ')}`)
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Timed<T> { ms: number; value?: T; error?: unknown }
async function timed<T>(fn: () => Promise<T>): Promise<Timed<T>> {
  const start = performance.now()
  try {
    const value = await fn()
    return { ms: performance.now() - start, value }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}

/** Retries `fn` until it resolves; fails the test after `limitMs`. */
async function eventually<T>(limitMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + limitMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(20)
    }
  }
}

const limitsConfig = (onStoreError: 'open' | 'closed'): RateLimitsConfig => [{
  name: 'per-ip', match: {}, key: 'ip', limit: 1000, per: 60_000, localBatch: 1, mode: 'enforce', allow: [], onStoreError,
  answer: { status: 429 }, headers: true,
}]

const lockoutConfig = (onStoreError: 'open' | 'closed'): LockoutConfig => ({
  mode: 'enforce',
  logins: [{ method: 'POST', path: '/login', username: 'body.username' }],
  failure: { status: [401] },
  maxFailures: 5, window: 900_000, lockFor: 900_000, maxLockFor: 86_400_000,
  perIp: { maxFailures: 20, window: 900_000, lockFor: 900_000 },
  answer: { mode: 'mimic', headers: {}, body: 'Invalid credentials', delay: 0 },
  deviceCookie: { enabled: false, name: '__Host-rampart-device', ttl: 2_592_000_000, maxFailures: 10 },
  onStoreError,
  maxBody: 65_536,
})

const rl = async (store: Store, i: number): Promise<RateLimitResult> =>
  store.rateLimit({ name: 'stream', subject: `198.51.100.${i % 250}`, limit: 1_000_000, windowMs: 60_000, now: Date.now() })

t.test('standalone: killed during a stream of decisions, then restarted', async (t) => {
  const redis = await startRedis()
  const store = new RedisStore({ connection: redis.url, commandTimeoutMs: COMMAND_TIMEOUT, maxReconnectDelayMs: 200 })
  t.teardown(async () => {
    await store.close()
    await redis.stop()
  })
  await store.waitReady(5000)

  // A steady stream: one decision every 5 ms, not awaited one by one, so some are in flight when Redis dies.
  const results: Array<Promise<Timed<unknown>>> = []
  let i = 0
  const stream = setInterval(() => results.push(timed(() => rl(store, i++))), 5)
  await sleep(200)
  await redis.kill()
  await sleep(400)
  clearInterval(stream)
  const settled = await Promise.all(results)

  const slow = settled.filter((r) => r.ms > BOUND)
  t.equal(slow.length, 0, `every decision settled within ${BOUND} ms (slowest ${Math.max(...settled.map((r) => r.ms)).toFixed(1)} ms)`)
  const failed = settled.filter((r) => r.error !== undefined)
  t.ok(settled.some((r) => r.error === undefined), 'decisions before the kill succeeded')
  t.ok(failed.length > 10, `decisions after the kill failed (${failed.length} of ${settled.length})`)
  t.ok(failed.every((r) => isRampartError(r.error) && r.error.code === 'RAMPART_ERR_STORE_UNAVAILABLE'),
    'every failure is a RampartError RAMPART_ERR_STORE_UNAVAILABLE')
  t.equal(store.status(), 'down', 'status reports the store down')

  // Protections turn the error into their onStoreError choice, fast.
  for (const mode of ['open', 'closed'] as const) {
    const limiter = compileRateLimits(limitsConfig(mode), { store, defaultOnStoreError: 'open' })
    const d = await timed(async () => limiter.decide(limiter.limits[0]!, { ip: '192.0.2.1', headers: {}, now: Date.now() }))
    t.ok(d.ms <= BOUND, `rate limit (${mode}) decided in ${d.ms.toFixed(1)} ms`)
    t.match(d.value, { action: mode === 'open' ? 'pass' : 'block', reason: 'store-error', failMode: mode }, `rate limit fails ${mode}`)
    t.equal((d.value as { error?: { code: string } }).error?.code, 'RAMPART_ERR_STORE_UNAVAILABLE', 'the decision carries the store error for the log')

    const audit = createAuditHub()
    const events: LockoutAuditEvent[] = []
    audit.on((e) => events.push(e))
    const lockout = compileLockout(lockoutConfig(mode), { store, defaultOnStoreError: 'open', audit })
    const fields = new Map([['username', ['bob']]])
    const g = await timed(() => lockout.check(lockout.logins[0]!, { fields, ip: '192.0.2.1', now: Date.now() }))
    t.ok(g.ms <= BOUND, `lockout check (${mode}) decided in ${g.ms.toFixed(1)} ms`)
    t.match(g.value, { action: mode === 'open' ? 'proceed' : 'refuse', reason: 'store-error' }, `lockout fails ${mode}`)
    t.match(events, [{ type: 'login.store-error', op: 'check', failMode: mode, applied: mode === 'open' ? 'proceed' : 'refuse', code: 'RAMPART_ERR_STORE_UNAVAILABLE' }],
      'the choice made is reported as an audit event')
    if (mode === 'open') {
      const rec = await timed(() => lockout.record(g.value!, 'failure', Date.now()))
      t.ok(rec.ms <= BOUND && rec.error === undefined, 'record never throws while the store is down')
      t.match(events[1], { type: 'login.store-error', op: 'record', applied: 'not-counted' })
    }
  }

  await redis.restart()
  const back = await eventually(5000, () => rl(store, 0))
  t.match(back, { allowed: true }, 'the same store object works again after the restart')
  t.equal(store.status(), 'ready')
  // The script cache of the new server is empty: EVALSHA falls back to EVAL by itself.
  t.match(await store.lockoutCheck({
    scope: 'all', account: 'x', ip: '192.0.2.1', now: Date.now(),
    limits: { maxFailures: 3, windowMs: 60_000, lockMs: 1000, maxLockMs: 8000, ipMaxFailures: 5, ipWindowMs: 60_000, ipLockMs: 1000, deviceMaxFailures: 0 },
  }), { allowed: true })
})

t.test('standalone: a hung server (SIGSTOP) times out at commandTimeout, then recovers', async (t) => {
  const redis = await startRedis()
  const store = new RedisStore({ connection: redis.url, commandTimeoutMs: COMMAND_TIMEOUT, maxReconnectDelayMs: 200 })
  t.teardown(async () => {
    redis.resume()
    await store.close()
    await redis.stop()
  })
  await store.waitReady(5000)
  t.match(await rl(store, 1), { allowed: true })

  redis.pause()
  const calls = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(() => rl(store, i))))
  for (const c of calls) {
    if (!(isRampartError(c.error) && c.error.code === 'RAMPART_ERR_STORE_UNAVAILABLE')) t.fail(`expected a store error, got ${String(c.error ?? 'success')}`)
  }
  const slowest = Math.max(...calls.map((c) => c.ms))
  const fastest = Math.min(...calls.map((c) => c.ms))
  t.ok(slowest <= BOUND, `all 20 calls settled within ${BOUND} ms (slowest ${slowest.toFixed(1)} ms)`)
  t.ok(fastest >= COMMAND_TIMEOUT - 5, `they waited for the command timeout (fastest ${fastest.toFixed(1)} ms)`)
  t.match(String((calls[0]!.error as Error).message), /timed out/i, 'the message says why')

  redis.resume()
  t.match(await eventually(3000, () => rl(store, 2)), { allowed: true }, 'answers again once the server resumes')
})

t.test('nothing listening at startup: fails fast, then connects when Redis appears', async (t) => {
  const redis = await startRedis()
  await redis.kill()
  const store = new RedisStore({ connection: redis.url, commandTimeoutMs: COMMAND_TIMEOUT, maxReconnectDelayMs: 200 })
  t.teardown(async () => {
    await store.close()
    await redis.stop()
  })
  const first = await timed(() => rl(store, 1))
  t.ok(first.ms <= BOUND, `a decision with no server settles in ${first.ms.toFixed(1)} ms`)
  t.ok(isRampartError(first.error), 'as a store error')
  await redis.restart()
  t.match(await eventually(5000, () => rl(store, 1)), { allowed: true }, 'the store connects by itself')
})

t.test('cluster: a dead node fails its slots fast; the others keep working; it comes back', async (t) => {
  const cluster = await startRedisCluster(3)
  const store = new RedisStore({ connection: { cluster: cluster.nodes }, commandTimeoutMs: COMMAND_TIMEOUT, maxReconnectDelayMs: 200 })
  t.teardown(async () => {
    await store.close()
    await cluster.stop()
  })
  await store.waitReady(10_000)
  const subjects = Array.from({ length: 60 }, (_, i) => `203.0.113.${i}`)
  const decide = (s: string) => store.rateLimit({ name: 'c', subject: s, limit: 1000, windowMs: 60_000, now: Date.now() })
  for (const s of subjects) await decide(s)

  await cluster.servers[1]!.kill()
  await sleep(50)
  const calls = await Promise.all(subjects.map((s) => timed(() => decide(s))))
  const slowest = Math.max(...calls.map((c) => c.ms))
  t.ok(slowest <= BOUND, `every decision settled within ${BOUND} ms (slowest ${slowest.toFixed(1)} ms)`)
  const ok = calls.filter((c) => c.error === undefined).length
  t.ok(ok > 0 && ok < subjects.length, `keys on live nodes still work (${ok} of ${subjects.length}), keys on the dead node fail`)
  t.ok(calls.every((c) => c.error === undefined || (isRampartError(c.error) && c.error.code === 'RAMPART_ERR_STORE_UNAVAILABLE')), 'failures are store errors')

  await cluster.servers[1]!.restart()
  await eventually(15_000, async () => {
    for (const s of subjects) await decide(s)
  })
  t.pass('every key works again without recreating the store')
})
