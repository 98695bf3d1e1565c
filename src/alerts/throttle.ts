/**
 * Per-source alert throttling: a burst becomes one immediate alert, then at most one summary per window.
 *
 * The first event of a key is let through at once and opens a window of `intervalMs`. Events of that key inside
 * the window are counted, not sent. When the window ends with a non-zero count, `due(now)` returns one summary
 * (the latest event and the count it stands for) and a new window opens, so a continuing burst yields one summary
 * per window. A window that ends with nothing counted is forgotten: the next event goes out at once again.
 *
 * Contract: pure apart from its own state; time comes in as arguments. At most `maxKeys` keys are tracked; beyond,
 * the oldest key is dropped and its pending count lost (reported by `evicted`).
 */

export interface ThrottleSummary<T> {
  readonly key: string
  /** The latest event counted in the window. */
  readonly latest: T
  /** Events counted (suppressed) in the window. */
  readonly count: number
  readonly windowStart: number
  readonly windowEnd: number
}

interface Window<T> {
  start: number
  count: number
  latest: T | undefined
}

const SEND = Object.freeze({ send: true })
const SUPPRESS = Object.freeze({ send: false })

export class AlertThrottle<T> {
  private readonly windows = new Map<string, Window<T>>()
  private evictedCount = 0

  constructor(private readonly intervalMs: number, private readonly maxKeys = 10_000) {}

  /**
   * `send` is true when the event should go out now, false when it was counted into the current window. When the
   * key's previous window has ended with events counted and `due` has not collected them yet, `summary` carries
   * them, to be sent before this event.
   */
  offer(key: string, event: T, now: number): { send: boolean; summary?: ThrottleSummary<T> } {
    if (this.intervalMs <= 0) return SEND
    const w = this.windows.get(key)
    if (w && now < w.start + this.intervalMs) {
      w.count++
      w.latest = event
      return SUPPRESS
    }
    let summary: ThrottleSummary<T> | undefined
    if (w) {
      if (w.count > 0) summary = { key, latest: w.latest!, count: w.count, windowStart: w.start, windowEnd: w.start + this.intervalMs }
      this.windows.delete(key) // start over, at the young end of the map
    }
    if (this.windows.size >= this.maxKeys) {
      const oldest = this.windows.keys().next().value!
      if ((this.windows.get(oldest)?.count ?? 0) > 0) this.evictedCount++
      this.windows.delete(oldest)
    }
    this.windows.set(key, { start: now, count: 0, latest: undefined })
    return summary ? { send: true, summary } : SEND
  }

  /** Summaries of the windows that have ended by `now`. */
  due(now: number): Array<ThrottleSummary<T>> {
    const out: Array<ThrottleSummary<T>> = []
    for (const [key, w] of this.windows) {
      const end = w.start + this.intervalMs
      if (now < end) continue
      if (w.count > 0) {
        out.push({ key, latest: w.latest!, count: w.count, windowStart: w.start, windowEnd: end })
        w.start = end
        w.count = 0
        w.latest = undefined
      } else {
        this.windows.delete(key)
      }
    }
    return out
  }

  /** Every pending summary, whatever the time (shutdown). */
  flushAll(): Array<ThrottleSummary<T>> {
    const out: Array<ThrottleSummary<T>> = []
    for (const [key, w] of this.windows) {
      if (w.count > 0) out.push({ key, latest: w.latest!, count: w.count, windowStart: w.start, windowEnd: w.start + this.intervalMs })
    }
    this.windows.clear()
    return out
  }

  /** When the next window ends, or undefined when none is open. */
  nextDue(): number | undefined {
    let next: number | undefined
    for (const w of this.windows.values()) {
      const end = w.start + this.intervalMs
      if (next === undefined || end < next) next = end
    }
    return next
  }

  get size(): number {
    return this.windows.size
  }

  get evicted(): number {
    return this.evictedCount
  }
}
