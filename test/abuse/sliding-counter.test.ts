import t from 'tap'
import { BUCKETS, DistinctCounter, SlidingCounter } from '../../src/abuse/sliding-counter.js'

const MIN = 60_000

t.test('counts events in the sliding window', async (t) => {
  const c = new SlidingCounter(MIN, 100)
  const table: Array<[number, number]> = [
    // [time, count returned]
    [0, 1], [1000, 2], [30_000, 3], [59_000, 4],
    [61_000, 3], // the events of the first step (t=0, 1000) have left the window
    [90_000, 3], // t=30000 left too
    [200_000, 1], // long gap: everything expired
  ]
  for (const [now, want] of table) t.equal(c.record('ip', now), want, `t=${now}`)
})

t.test('keys are independent and reset forgets one', async (t) => {
  const c = new SlidingCounter(MIN, 100)
  c.record('a', 0)
  c.record('a', 1)
  t.equal(c.record('b', 2), 1)
  c.reset('a')
  t.equal(c.record('a', 3), 1)
})

t.test('memory is bounded: least recently used keys go first', async (t) => {
  const c = new SlidingCounter(MIN, 3)
  c.record('a', 0)
  c.record('b', 0)
  c.record('c', 0)
  c.record('a', 1) // a is now the most recent
  c.record('d', 2) // evicts b
  t.equal(c.size, 3)
  t.equal(c.record('a', 3), 3, 'a kept its count')
  t.equal(c.record('b', 4), 1, 'b was forgotten')
  for (let i = 0; i < 10_000; i++) c.record(`ip${i}`, i)
  t.equal(c.size, 3)
})

t.test('step granularity and odd clocks', async (t) => {
  const c = new SlidingCounter(1600, 10) // 100 ms steps
  t.equal(BUCKETS, 16)
  for (let i = 0; i < 16; i++) c.record('k', i * 100)
  t.equal(c.record('k', 1599), 17)
  t.equal(c.record('k', 1600), 17, 'one step later the first step has left')
  t.equal(c.record('k', 1500), 18, 'a clock step back counts in the newest step')
  t.throws(() => new SlidingCounter(0, 1))
  t.throws(() => new SlidingCounter(1000, 0))
})

t.test('distinct members in a window', async (t) => {
  const d = new DistinctCounter(MIN, 100, 5)
  t.equal(d.record('ip', 'anne', 0), 1)
  t.equal(d.record('ip', 'anne', 1000), 1, 'the same member counts once')
  t.equal(d.record('ip', 'luc', 2000), 2)
  t.equal(d.record('ip', 'marc', 30_000), 3)
  t.equal(d.record('ip', 'zoe', 61_500), 3, 'members last seen over a window ago are dropped (anne, luc)')
  t.equal(d.record('other', 'anne', 61_500), 1, 'keys are independent')
  for (let i = 0; i < 20; i++) d.record('ip', `u${i}`, 62_000)
  t.equal(d.record('ip', 'last', 62_000), 5, 'members per key are capped')
  d.reset('ip')
  t.equal(d.record('ip', 'anne', 62_000), 1)
  const bounded = new DistinctCounter(MIN, 2, 5)
  bounded.record('a', 'x', 0)
  bounded.record('b', 'x', 0)
  bounded.record('c', 'x', 0)
  t.equal(bounded.size, 2)
})
