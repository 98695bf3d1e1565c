/**
 * The connection caps' counter (pure): the per-address and total caps refuse exactly the connection past them,
 * a released slot is reusable, releasing twice frees one slot, exempt peers count towards the total only, and the
 * per-address map holds only addresses with a connection open (no leak after churn).
 */
import t from 'tap'
import { ConnectionLimiter, type Admission } from '../../src/server/connection-limits.js'

function admitted(a: Admission): () => void {
  if (!a.ok) throw new Error(`refused by the ${a.cap} cap`)
  return a.release
}

t.test('the per-address cap refuses the (N+1)th connection of one address, not of another', async (t) => {
  const limiter = new ConnectionLimiter({ total: 100, perKey: 3 })
  const held = [1, 2, 3].map(() => admitted(limiter.admit('203.0.113.7')))
  t.same(limiter.admit('203.0.113.7'), { ok: false, cap: 'per-ip' })
  t.equal(limiter.countOf('203.0.113.7'), 3, 'a refusal takes no slot')
  t.ok(limiter.admit('203.0.113.8').ok, 'another address is admitted')
  held[0]!()
  t.ok(limiter.admit('203.0.113.7').ok, 'after one closes, the address is admitted again')
  t.same(limiter.admit('203.0.113.7'), { ok: false, cap: 'per-ip' })
})

t.test('the total cap refuses any address once full, and frees with any release', async (t) => {
  const limiter = new ConnectionLimiter({ total: 4, perKey: 3 })
  const a = [1, 2].map(() => admitted(limiter.admit('a')))
  const b = [1, 2].map(() => admitted(limiter.admit('b')))
  t.equal(limiter.total, 4)
  t.same(limiter.admit('c'), { ok: false, cap: 'total' }, 'a new address is refused by the total')
  t.same(limiter.admit('a'), { ok: false, cap: 'total' }, 'the total is checked before the per-address cap')
  b[1]!()
  t.ok(limiter.admit('c').ok, 'one slot freed, one connection admitted')
  t.same(limiter.admit('c'), { ok: false, cap: 'total' })
  t.equal(a.length, 2)
})

t.test('release is idempotent: a socket closing twice frees one slot', async (t) => {
  const limiter = new ConnectionLimiter({ total: 10, perKey: 2 })
  const first = admitted(limiter.admit('k'))
  admitted(limiter.admit('k'))
  first()
  first()
  t.equal(limiter.countOf('k'), 1)
  t.equal(limiter.total, 1)
  t.ok(limiter.admit('k').ok)
  t.same(limiter.admit('k'), { ok: false, cap: 'per-ip' }, 'the double release did not open a third slot')
})

t.test('exempt peers (trusted proxies) are not capped per address but count in the total', async (t) => {
  const limiter = new ConnectionLimiter({ total: 5, perKey: 1 })
  const lb = [1, 2, 3, 4].map(() => admitted(limiter.admit('10.0.0.1', true)))
  t.equal(limiter.countOf('10.0.0.1'), 0, 'not counted per address')
  t.equal(limiter.trackedKeys, 0)
  t.ok(limiter.admit('198.51.100.1').ok)
  t.same(limiter.admit('10.0.0.1', true), { ok: false, cap: 'total' }, 'the total still applies to them')
  for (const release of lb) release()
  t.equal(limiter.total, 1)
})

t.test('no leak: after many addresses come and go, the map is empty and the counts are zero', async (t) => {
  const limiter = new ConnectionLimiter({ total: 10_000, perKey: 4 })
  const open: Array<() => void> = []
  for (let i = 0; i < 5_000; i++) open.push(admitted(limiter.admit(`198.51.${i >> 8}.${i & 255}`)))
  for (let i = 0; i < 2_000; i++) open.push(admitted(limiter.admit(`198.51.${i >> 8}.${i & 255}`)))
  t.equal(limiter.trackedKeys, 5_000)
  t.equal(limiter.countOf('198.51.0.0'), 2)
  for (const release of open) release()
  t.equal(limiter.total, 0)
  t.equal(limiter.trackedKeys, 0, 'every entry was deleted at zero')
  t.equal(limiter.countOf('198.51.0.0'), 0)
})
