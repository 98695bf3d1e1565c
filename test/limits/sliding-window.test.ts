/** The sliding-window arithmetic: a table of hand-computed decisions, and properties over random traffic. */
import t from 'tap'
import fc from 'fast-check'
import { slidingWindowDecide, waitUntilAtMost, type WindowState } from '../../src/limits/sliding-window.js'

const W = 60_000
const T0 = 1_700_000_040_000 // window index 28333334
const I = T0 / W

t.test('decisions computed by hand', async (t) => {
  const table: Array<{ name: string; state?: WindowState; limit: number; at: number; want: Partial<ReturnType<typeof slidingWindowDecide>> }> = [
    { name: 'empty: allowed', limit: 3, at: 0, want: { allowed: true, remaining: 2, next: { w: I, c: 1, p: 0 }, expiresAt: T0 + 2 * W } },
    { name: 'current window full', state: { w: I, c: 3, p: 0 }, limit: 3, at: 10_000, want: { allowed: false, remaining: 0, next: undefined, resetMs: 50_000 + 20_000 } },
    { name: 'previous window weighs by overlap (3 × 0.5 + 1 = 2.5 → allowed)', state: { w: I - 1, c: 3, p: 9 }, limit: 4, at: 30_000, want: { allowed: true, remaining: 1, next: { w: I, c: 1, p: 3 } } },
    { name: 'previous window weighs by overlap (3 × 0.5 + 2 + 1 > 4 → refused)', state: { w: I, c: 2, p: 3 }, limit: 4, at: 30_000, want: { allowed: false, remaining: 0 } },
    { name: 'state two windows old is ignored', state: { w: I - 2, c: 100, p: 100 }, limit: 1, at: 0, want: { allowed: true, next: { w: I, c: 1, p: 0 } } },
    { name: 'state from a later window (clock ahead) is kept, as just begun', state: { w: I + 1, c: 1, p: 2 }, limit: 4, at: 59_000, want: { allowed: true, remaining: 0, next: { w: I + 1, c: 2, p: 2 }, expiresAt: T0 + 3 * W } },
    { name: 'limit 1 at the exact boundary: previous still weighs fully', state: { w: I - 1, c: 1, p: 0 }, limit: 1, at: 0, want: { allowed: false, resetMs: 60_000 } },
  ]
  for (const c of table) t.match(slidingWindowDecide(c.state, c.limit, W, T0 + c.at), c.want, c.name)
})

t.test('waitUntilAtMost', async (t) => {
  const table: Array<[number, number, number, number, number]> = [
    // p, c, elapsed, target, want
    [0, 0, 0, 0, 0],
    [0, 2, 0, 2, 0],
    [3, 0, 0, 2, 20_000], // 3 × (W − e)/W ≤ 2 → e ≥ 20 s
    [3, 0, 30_000, 2, 0], // already below
    [3, 1, 0, 2, 40_000], // 3 × (W − e)/W + 1 ≤ 2 → e ≥ 40 s
    [0, 3, 10_000, 2, 70_000], // next window: 3 × (W − e')/W ≤ 2 → e' = 20 s; 50 s + 20 s
    [5, 3, 0, 0, 120_000], // must wait for the current count to age out entirely
  ]
  for (const [p, c, e, target, want] of table) t.equal(waitUntilAtMost(p, c, e, W, target), want, `p=${p} c=${c} e=${e} target=${target}`)
})

/** Replays arrival times (ms offsets, sorted) and returns the offsets that were allowed. */
function replay(arrivals: number[], limit: number): number[] {
  let state: WindowState | undefined
  const allowed: number[] = []
  for (const at of arrivals) {
    const d = slidingWindowDecide(state, limit, W, T0 + at)
    if (d.next) state = d.next
    if (d.allowed) allowed.push(at)
  }
  return allowed
}

const traffic = fc.record({
  limit: fc.integer({ min: 1, max: 20 }),
  arrivals: fc.array(fc.integer({ min: 0, max: 5 * W }), { minLength: 1, maxLength: 300 }).map((a) => a.sort((x, y) => x - y)),
})

t.test('property: no burst beyond the limit plus the rate (no fixed-window double burst)', async (t) => {
  fc.assert(fc.property(traffic, ({ limit, arrivals }) => {
    const allowed = replay(arrivals, limit)
    // In any span of d ms at most limit + limit·d/W requests pass (+1 for rounding): a fixed window lets 2·limit
    // through in a span of a few ms around its boundary.
    for (let i = 0; i < allowed.length; i++) {
      for (let j = i; j < allowed.length; j++) {
        const d = allowed[j]! - allowed[i]!
        if (d > W) break
        if (j - i + 1 > limit + (limit * d) / W + 1) return false
      }
    }
    return true
  }), { numRuns: 300 })
  t.pass('holds for 300 random traffic patterns')
})

t.test('property: a steady client at half the rate is never refused; one far above it is', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: W }), (limit, offset) => {
    // At half the rate or slower: never refused, wherever the windows fall (`offset`). (Close to the full rate the
    // estimate, which assumes the previous window's requests were spread evenly, can refuse one now and then.)
    const gap = Math.ceil((2 * W) / limit) + 1
    const steady = Array.from({ length: limit * 4 }, (_, i) => offset + i * gap)
    if (replay(steady, limit).length !== steady.length) return false
    const gap1 = Math.ceil(W / limit)
    const flood = Array.from({ length: limit * 10 }, (_, i) => offset + i * Math.floor(gap1 / 10))
    return replay(flood, limit).length < flood.length
  }), { numRuns: 200 })
  t.pass('holds')
})

t.test('the fixed window\'s double burst is refused', async (t) => {
  const limit = 10
  const edge = [...Array.from({ length: limit }, () => W - 1), ...Array.from({ length: limit }, () => W + 1)]
  t.equal(replay(edge, limit).length, limit, `${limit} of ${edge.length} requests straddling the boundary pass, not ${2 * limit}`)
})
