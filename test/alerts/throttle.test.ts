import t from 'tap'
import { AlertThrottle } from '../../src/alerts/throttle.js'

t.test('a burst becomes one immediate alert and one summary per window', async (t) => {
  const th = new AlertThrottle<string>(60_000)
  t.same(th.offer('a', 'e1', 0), { send: true }, 'first event goes out at once')
  for (let i = 2; i <= 10; i++) t.same(th.offer('a', `e${i}`, i * 1000), { send: false }, `e${i} is counted`)
  t.same(th.offer('b', 'other', 5000), { send: true }, 'another source is independent')
  t.equal(th.nextDue(), 60_000)
  t.same(th.due(59_999), [], 'nothing before the window ends')
  t.same(th.due(60_000), [{ key: 'a', latest: 'e10', count: 9, windowStart: 0, windowEnd: 60_000 }], 'one summary with the count')
  t.same(th.offer('a', 'e11', 61_000), { send: false }, 'a continuing burst stays throttled in the next window')
  t.same(th.due(65_000), [], 'b ended empty and is forgotten')
  t.equal(th.size, 1)
  t.same(th.due(120_000), [{ key: 'a', latest: 'e11', count: 1, windowStart: 60_000, windowEnd: 120_000 }])
  t.same(th.due(180_000), [], 'a quiet window closes the key')
  t.equal(th.size, 0)
  t.same(th.offer('a', 'e12', 200_000), { send: true }, 'after a quiet window, the next event goes out at once')
})

t.test('an expired window not yet collected hands its summary to the next offer', async (t) => {
  const th = new AlertThrottle<string>(1000)
  th.offer('k', 'a', 0)
  th.offer('k', 'b', 10)
  const r = th.offer('k', 'c', 5000)
  t.same(r, { send: true, summary: { key: 'k', latest: 'b', count: 1, windowStart: 0, windowEnd: 1000 } })
})

t.test('zero interval disables throttling', async (t) => {
  const th = new AlertThrottle<string>(0)
  for (let i = 0; i < 5; i++) t.same(th.offer('k', 'x', 0), { send: true })
  t.equal(th.size, 0)
})

t.test('keys are bounded', async (t) => {
  const th = new AlertThrottle<number>(1000, 3)
  th.offer('a', 1, 0)
  th.offer('a', 2, 1) // a has a pending count
  th.offer('b', 1, 2)
  th.offer('c', 1, 3)
  th.offer('d', 1, 4) // evicts a, the oldest
  t.equal(th.size, 3)
  t.equal(th.evicted, 1, 'a pending count lost to eviction is reported')
  t.same(th.flushAll(), [], 'remaining windows had nothing counted')
  t.equal(th.size, 0)
})

t.test('flushAll returns every pending count', async (t) => {
  const th = new AlertThrottle<string>(60_000)
  th.offer('a', 'x', 0)
  th.offer('a', 'y', 1)
  th.offer('b', 'z', 2)
  t.same(th.flushAll(), [{ key: 'a', latest: 'y', count: 1, windowStart: 0, windowEnd: 60_000 }])
  t.equal(th.nextDue(), undefined)
})
