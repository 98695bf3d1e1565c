/**
 * Per-key event counts over a sliding window, in bounded memory.
 *
 * Each key keeps `BUCKETS` sub-window counters (a ring), so memory per key is constant whatever the count, and the
 * window slides in steps of `windowMs / BUCKETS`: `record` returns the events of the last `windowMs` (give or take
 * one step at the old end). At most `maxKeys` keys are kept; the least recently used is forgotten first.
 * Pure apart from its own state; time is passed in.
 */

export const BUCKETS = 16

interface Entry {
  readonly counts: Uint32Array
  /** Absolute index (time / bucketMs) of the newest bucket written. */
  last: number
}

export class SlidingCounter {
  private readonly entries = new Map<string, Entry>()
  private readonly bucketMs: number

  constructor(windowMs: number, private readonly maxKeys: number) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive')
    if (!(maxKeys >= 1)) throw new RangeError('maxKeys must be at least 1')
    this.bucketMs = windowMs / BUCKETS
  }

  /** Counts one event for `key` at `now`; returns the events in the window ending at `now`. */
  record(key: string, now: number): number {
    const b = Math.floor(now / this.bucketMs)
    let e = this.entries.get(key)
    if (e) {
      this.entries.delete(key) // re-inserted below: the map's order is least recently used first
    } else {
      if (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value!)
      e = { counts: new Uint32Array(BUCKETS), last: b }
    }
    this.advance(e, b)
    e.counts[((b % BUCKETS) + BUCKETS) % BUCKETS]!++
    this.entries.set(key, e)
    let total = 0
    for (let i = 0; i < BUCKETS; i++) total += e.counts[i]!
    return total
  }

  /** Forgets a key (after its signal fired, so the next signal needs a full count again). */
  reset(key: string): void {
    this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }

  private advance(e: Entry, b: number): void {
    if (b <= e.last) return // same bucket (or a clock step back: count it in the newest bucket)
    if (b - e.last >= BUCKETS) {
      e.counts.fill(0)
    } else {
      for (let i = e.last + 1; i <= b; i++) e.counts[((i % BUCKETS) + BUCKETS) % BUCKETS] = 0
    }
    e.last = b
  }
}

/**
 * Distinct members (usernames) per key within a sliding window: each key keeps the members it saw and when, at most
 * `maxMembers` of them; keys are bounded like `SlidingCounter`'s.
 */
export class DistinctCounter {
  private readonly entries = new Map<string, Map<string, number>>()

  constructor(private readonly windowMs: number, private readonly maxKeys: number, private readonly maxMembers: number) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive')
  }

  /** Records `member` for `key` at `now`; returns the number of distinct members seen in the window. */
  record(key: string, member: string, now: number): number {
    let members = this.entries.get(key)
    if (members) {
      this.entries.delete(key)
    } else {
      if (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value!)
      members = new Map()
    }
    this.entries.set(key, members)
    members.delete(member)
    members.set(member, now)
    // Members are in order of last sight: drop the expired ones from the old end, then cap the size.
    const oldest = now - this.windowMs
    for (const [m, at] of members) {
      if (at > oldest && members.size <= this.maxMembers) break
      members.delete(m)
    }
    return members.size
  }

  reset(key: string): void {
    this.entries.delete(key)
  }

  get size(): number {
    return this.entries.size
  }
}
