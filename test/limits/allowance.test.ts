/**
 * Local allowances over a real (in-memory) store: reservations are counted by the store before anything passes,
 * so the limit is never exceeded; requests inside a lease never reach the store; concurrent requests share one
 * reservation; leases end; store errors surface; the table stays bounded. Time is a plain number passed in.
 */
import t from 'tap'
import { LocalAllowance, leaseMsFor } from '../../src/limits/allowance.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { RateLimitQuery, RateLimitResult } from '../../src/store/types.js'

const T0 = 1_700_000_040_000
const W = 60_000

function counted(store: MemoryStore): { reserve: (q: RateLimitQuery) => RateLimitResult; calls: RateLimitQuery[] } {
  const calls: RateLimitQuery[] = []
  return { calls, reserve: (q) => { calls.push(q); return store.rateLimit(q) } }
}

const q = (now: number, limit = 1000, subject = '192.0.2.1'): RateLimitQuery => ({ name: 'per-ip', subject, limit, windowMs: W, now })

t.test('requests inside a reservation do not reach the store', async (t) => {
  const store = new MemoryStore()
  const { reserve, calls } = counted(store)
  const a = new LocalAllowance(reserve, { batch: 10 })
  const results: RateLimitResult[] = []
  for (let i = 0; i < 25; i++) results.push(await a.take(q(T0 + i)))
  t.ok(results.every((r) => r.allowed), 'all 25 pass')
  t.equal(calls.length, 3, 'three reservations of 10 serve 25 requests')
  t.ok(calls.every((c) => c.want === 10), 'each asks for the batch')
  t.same(results.slice(0, 3).map((r) => r.remaining), [999, 998, 997], 'remaining counts down as if each request asked the store')
  // The store counted 30: a plain request now sees 1000 - 30 - 1 left.
  const direct = await store.rateLimit(q(T0 + 30))
  t.equal(direct.remaining, 969, 'the store counted every reserved request')
})

t.test('the limit is never exceeded: near it a reservation gets what fits, then requests are refused', async (t) => {
  const store = new MemoryStore()
  const a = new LocalAllowance((x) => store.rateLimit(x), { batch: 10 })
  let allowed = 0
  for (let i = 0; i < 40; i++) if ((await a.take(q(T0 + i, 25))).allowed) allowed++
  t.equal(allowed, 25, 'exactly the limit passes')
  const refused = await a.take(q(T0 + 100, 25))
  t.equal(refused.allowed, false)
  t.ok(refused.resetMs > 0, 'a refusal carries the wait')
})

t.test('a lease ends: what is left of it is dropped and the next request reserves again', async (t) => {
  const store = new MemoryStore()
  const { reserve, calls } = counted(store)
  const a = new LocalAllowance(reserve, { batch: 10 })
  t.equal(leaseMsFor(W), 1000, 'a minute window leases for one second')
  t.equal(leaseMsFor(2000), 200, 'a short window leases for a tenth of it')
  await a.take(q(T0))
  await a.take(q(T0 + 999))
  t.equal(calls.length, 1, 'still inside the lease')
  await a.take(q(T0 + 1000))
  t.equal(calls.length, 2, 'lease over: a new reservation')
  const direct = await store.rateLimit(q(T0 + 1001))
  t.equal(direct.remaining, 1000 - 20 - 1, 'the dropped rest stays counted (stricter, never looser)')
})

t.test('concurrent requests for one key share one reservation', async (t) => {
  const store = new MemoryStore()
  const { reserve, calls } = counted(store)
  const a = new LocalAllowance(reserve, { batch: 10 })
  const results = await Promise.all(Array.from({ length: 10 }, () => a.take(q(T0))))
  t.ok(results.every((r) => r.allowed))
  t.equal(calls.length, 1, 'one store decision for ten concurrent requests')
  await a.take(q(T0 + 1))
  t.equal(calls.length, 2, 'the eleventh needs a new one')
})

t.test('inside a reservation the answer is synchronous: no promise, no store', async (t) => {
  const store = new MemoryStore()
  const a = new LocalAllowance((x) => store.rateLimit(x), { batch: 10 })
  const first = a.take(q(T0))
  t.ok(first instanceof Promise, 'the first request waits for the reservation')
  await first
  const next = a.take(q(T0 + 1))
  t.notOk(next instanceof Promise, 'the next one is decided on the spot')
  t.match(next, { allowed: true })
})

t.test('a store error is the caller\'s to handle, and the next request tries the store again', async (t) => {
  const store = new MemoryStore()
  let down = true
  const a = new LocalAllowance((x) => (down ? Promise.reject(new Error('store down')) : store.rateLimit(x)), { batch: 10 })
  await t.rejects(Promise.resolve(a.take(q(T0))), /store down/)
  down = false
  t.equal((await a.take(q(T0 + 1))).allowed, true, 'recovers without help')
})

t.test('the reservation table is bounded', async (t) => {
  const store = new MemoryStore()
  const a = new LocalAllowance((x) => store.rateLimit(x), { batch: 10, maxKeys: 3 })
  for (let i = 0; i < 8; i++) await a.take(q(T0, 1000, `192.0.2.${i}`))
  t.ok(a.size <= 3, `size ${a.size} ≤ 3`)
})
