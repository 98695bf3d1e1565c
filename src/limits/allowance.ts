/**
 * Local allowances: a rate limit counted in a shared store without one round trip per request.
 *
 * With `localBatch: N` (N > 1) an instance reserves up to N requests' worth for a key in one store decision (the
 * sliding window grants as many as fit and counts them at once), then lets the next requests for that key through
 * from the reservation without asking the store. A reservation lives at most `leaseMs` (a tenth of the window, and
 * never more than one second); what is left of it then is dropped. While a reservation is being made, other requests
 * for the same key wait for it instead of making their own.
 *
 * Accuracy, stated: nothing passes that the store did not count first, so the limit is never exceeded. The cost is
 * the other way: requests reserved but not used before their lease ends stay counted. An instance can therefore
 * count up to N − 1 unused requests per key per lease, and a client may be refused up to that much early (times
 * the number of instances). Near the limit a reservation simply gets fewer than N. Use it for high-volume limits
 * (hundreds per minute and up) where a round trip per request costs more than the slack; leave 1 (exact, the
 * default) for small budgets like "3 password-reset mails per hour".
 *
 * The table of reservations is bounded (`maxKeys`): when full, expired entries are swept, and if none are, the
 * oldest entry is dropped (its unused reservation is then lost, which only makes the limit stricter).
 */
import type { RateLimitQuery, RateLimitResult } from '../store/types.js'
import type { MaybePromise } from '../maybe-promise.js'

export interface AllowanceOptions {
  /** Requests' worth to reserve per store decision (> 1). */
  readonly batch: number
  readonly maxKeys?: number
}

interface Reservation {
  /** Requests still available locally. */
  left: number
  /** Lease end (ms, the caller's clock). */
  until: number
  /** Store's remaining count when reserved, for the RateLimit fields. */
  remainingThen: number
  resetMs: number
  /** The reservation being made, when one is in flight. */
  pending: Promise<void> | undefined
}

export type Reserve = (q: RateLimitQuery) => MaybePromise<RateLimitResult>

const DEFAULT_MAX_KEYS = 10_000
const MAX_LEASE_MS = 1000

export function leaseMsFor(windowMs: number): number {
  return Math.max(1, Math.min(MAX_LEASE_MS, Math.floor(windowMs / 10)))
}

export class LocalAllowance {
  private readonly table = new Map<string, Reservation>()
  private readonly batch: number
  private readonly maxKeys: number

  constructor(private readonly reserve: Reserve, options: AllowanceOptions) {
    this.batch = options.batch
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS
  }

  /** Keys holding a reservation (for tests and metrics). */
  get size(): number {
    return this.table.size
  }

  /**
   * Decides one request for `q` (its `want` is ignored): from the local reservation, synchronously, or by making a
   * new one (a promise).
   */
  take(q: RateLimitQuery): MaybePromise<RateLimitResult> {
    const key = `${q.name}\u0000${q.subject}`
    const r = this.table.get(key)
    if (r !== undefined) {
      const local = this.fromReservation(r, q.now)
      if (local !== undefined) return local
      if (r.pending !== undefined) return r.pending.then(() => this.take(q))
    }
    return this.renew(key, q)
  }

  private fromReservation(r: Reservation, now: number): RateLimitResult | undefined {
    if (r.left <= 0 || now >= r.until) return undefined
    r.left--
    return { allowed: true, granted: 1, remaining: r.remainingThen + r.left, resetMs: r.resetMs }
  }

  private renew(key: string, q: RateLimitQuery): Promise<RateLimitResult> {
    let entry = this.table.get(key)
    if (entry === undefined) {
      this.makeRoom(q.now)
      entry = { left: 0, until: 0, remainingThen: 0, resetMs: 0, pending: undefined }
      this.table.set(key, entry)
    }
    const target = entry
    let made: Promise<RateLimitResult>
    try {
      made = Promise.resolve(this.reserve({ ...q, want: this.batch }))
    } catch (err) {
      made = Promise.reject(err)
    }
    target.pending = made.then(() => undefined, () => undefined)
    return made.then((result) => {
      target.pending = undefined
      if (result.allowed) {
        target.left = result.granted - 1
        target.until = q.now + leaseMsFor(q.windowMs)
        target.remainingThen = result.remaining
        target.resetMs = result.resetMs
        return { ...result, granted: 1, remaining: result.remaining + target.left }
      }
      target.left = 0
      return result
    }, (err: unknown) => {
      target.pending = undefined
      throw err
    })
  }

  private makeRoom(now: number): void {
    if (this.table.size < this.maxKeys) return
    for (const [k, r] of this.table) if (r.pending === undefined && (r.left <= 0 || now >= r.until)) this.table.delete(k)
    if (this.table.size < this.maxKeys) return
    const oldest = this.table.keys().next()
    if (!oldest.done) this.table.delete(oldest.value)
  }
}
