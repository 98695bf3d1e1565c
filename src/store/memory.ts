/**
 * In-memory store: the default when no Redis is configured. Valid for one process only; with several workers each
 * has its own counts, so limits are per worker (configure Redis to share them).
 *
 * Contract: same behaviour as the Redis store (one behaviour table tests both), including TTLs: every entry carries
 * an absolute expiry on the caller's clock and is invisible once `now` reaches it. Expired entries are swept a few at
 * a time on each write, and the map is capped at `maxKeys`: when full, expired entries go first, then the oldest
 * inserted (down to 90 % of the cap). Evicting forgets a count, which lets a request through, so size `maxKeys`
 * well above the number of active clients. Methods never throw a store error; they are async only to share the interface.
 */
import { slidingWindowDecide, type WindowState } from '../limits/sliding-window.js'
import {
  checkAttempt, recordOutcome, accountExpiresAt, ipExpiresAt, deviceExpiresAt,
  emptyAccount, emptyIp, emptyDevice,
  type AccountState, type IpState, type DeviceState, type LockoutLimits,
} from '../lockout/policy.js'
import { makeKey, parseKey, type KeyLayout } from './keys.js'
import { toLockEntry, matchesList } from './lock-entries.js'
import type {
  Store, RateLimitQuery, RateLimitResult, LockoutCheckQuery, LockoutCheckResult, LockoutRecordQuery,
  LockoutRecordResult, LockEntry, LockoutListQuery, LockoutClearQuery, StoreStatus,
} from './types.js'

interface Entry {
  value: WindowState | AccountState | IpState | DeviceState
  expiresAt: number
}

export interface MemoryStoreOptions {
  readonly prefix?: string
  /** Most keys held; default 100000. */
  readonly maxKeys?: number
}

const SWEEP_PER_WRITE = 2

export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  private readonly map = new Map<string, Entry>()
  private cursor: MapIterator<[string, Entry]> = this.map.entries()
  private readonly layout: KeyLayout
  private readonly maxKeys: number

  constructor(options: MemoryStoreOptions = {}) {
    this.layout = { prefix: options.prefix ?? 'rampart', hashTags: false }
    this.maxKeys = options.maxKeys ?? 100_000
  }

  get size(): number {
    return this.map.size
  }

  key(protection: 'ratelimit' | 'lockout', name: string, subject: string): string {
    return makeKey(this.layout, protection, name, subject)
  }

  status(): StoreStatus {
    return 'ready'
  }

  async close(): Promise<void> {
    this.map.clear()
  }

  async pttl(key: string, now: number): Promise<number> {
    const e = this.read(key, now)
    return e ? e.expiresAt - now : -2
  }

  /** Synchronous: the memory store has nothing to wait for, so a limit on it makes no promise per request. */
  rateLimit(q: RateLimitQuery): RateLimitResult {
    const key = this.key('ratelimit', q.name, q.subject)
    const d = slidingWindowDecide(this.read(key, q.now)?.value as WindowState | undefined, q.limit, q.windowMs, q.now, q.want)
    if (d.next) this.write(key, d.next, d.expiresAt, q.now)
    return { allowed: d.allowed, granted: d.granted, remaining: d.remaining, resetMs: d.resetMs }
  }

  async lockoutCheck(q: LockoutCheckQuery): Promise<LockoutCheckResult> {
    const keys = this.lockoutKeys(q.scope, q.account, q.ip, q.device)
    const r = checkAttempt(
      q.now, q.limits,
      this.state(keys.account, q.now, emptyAccount),
      this.state(keys.ip, q.now, emptyIp),
      keys.device ? this.state(keys.device, q.now, emptyDevice) : undefined,
    )
    this.persist(keys, r, q.limits, q.now)
    return {
      allowed: r.allowed, via: r.via, reason: r.reason, retryAfterMs: r.retryAfterMs,
      accountFailures: r.account.f, ipFailures: r.ip.f,
    }
  }

  async lockoutRecord(q: LockoutRecordQuery): Promise<LockoutRecordResult> {
    const keys = this.lockoutKeys(q.scope, q.account, q.ip, q.device)
    const r = recordOutcome(
      q.now, q.limits, q.ticket, q.outcome,
      this.state(keys.account, q.now, emptyAccount),
      this.state(keys.ip, q.now, emptyIp),
      keys.device ? this.state(keys.device, q.now, emptyDevice) : undefined,
    )
    this.persist(keys, r, q.limits, q.now)
    return {
      accountFailures: r.account.f, ipFailures: r.ip.f,
      deviceFailures: q.ticket.via === 'device' && r.device ? r.device.f : 0,
      lockedAccount: r.lockedAccount, lockedIp: r.lockedIp,
    }
  }

  async lockoutList(q: LockoutListQuery): Promise<LockEntry[]> {
    const out: LockEntry[] = []
    for (const [key, entry] of this.map) {
      if (entry.expiresAt <= q.now) continue
      const parsed = parseKey(this.layout, key)
      if (!parsed || parsed.protection !== 'lockout') continue
      const item = toLockEntry(parsed.name, parsed.subject, entry.value as unknown as Record<string, number>, q.now)
      if (item && matchesList(item, q)) out.push(item)
    }
    return out
  }

  async lockoutClear(q: LockoutClearQuery): Promise<boolean> {
    const subject = q.kind === 'account' ? `acct:${q.subject}` : `ip:${q.subject}`
    return this.map.delete(this.key('lockout', q.scope, subject))
  }

  private lockoutKeys(scope: string, account: string, ip: string, device: string | undefined) {
    return {
      account: this.key('lockout', scope, `acct:${account}`),
      ip: this.key('lockout', scope, `ip:${ip}`),
      device: device ? this.key('lockout', scope, `dev:${device}`) : undefined,
    }
  }

  private persist(
    keys: { account: string; ip: string; device: string | undefined },
    r: { account: AccountState; ip: IpState; device: DeviceState | undefined; write: { account: boolean; ip: boolean; device: boolean } },
    limits: LockoutLimits,
    now: number,
  ): void {
    if (r.write.account) this.writeOrDelete(keys.account, r.account, accountExpiresAt(r.account, limits), now)
    if (r.write.ip) this.writeOrDelete(keys.ip, r.ip, ipExpiresAt(r.ip, limits), now)
    if (r.write.device && keys.device && r.device) this.writeOrDelete(keys.device, r.device, deviceExpiresAt(r.device, limits), now)
  }

  private state<T extends object>(key: string, now: number, empty: () => T): T {
    const e = this.read(key, now)
    return e ? { ...(e.value as T) } : empty()
  }

  private read(key: string, now: number): Entry | undefined {
    const e = this.map.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now) {
      this.map.delete(key)
      return undefined
    }
    return e
  }

  private writeOrDelete(key: string, value: Entry['value'], expiresAt: number, now: number): void {
    if (expiresAt <= now) this.map.delete(key)
    else this.write(key, value, expiresAt, now)
  }

  private write(key: string, value: Entry['value'], expiresAt: number, now: number): void {
    this.sweep(now)
    const e = this.map.get(key)
    // Updated in place: deleting and re-inserting would leave holes at the front of the map's table that every
    // iteration from the start would have to skip.
    if (e !== undefined) {
      e.value = value
      e.expiresAt = expiresAt
      return
    }
    if (this.map.size >= this.maxKeys) this.makeRoom(now)
    this.map.set(key, { value, expiresAt })
  }

  /** Checks a few entries per write for expiry, resuming where the last write stopped (a live Map iterator). */
  private sweep(now: number): void {
    for (let n = 0; n < SWEEP_PER_WRITE; n++) {
      let step = this.cursor.next()
      if (step.done) {
        this.cursor = this.map.entries()
        step = this.cursor.next()
        if (step.done) return
      }
      const [k, e] = step.value
      if (e.expiresAt <= now) this.map.delete(k)
    }
  }

  /**
   * At the cap: drop every expired entry, then, if that freed too little, the oldest inserted down to 90 % of the
   * cap, so that the full scan runs at most once per `maxKeys / 10` new keys.
   */
  private makeRoom(now: number): void {
    for (const [k, e] of this.map) if (e.expiresAt <= now) this.map.delete(k)
    const target = Math.floor(this.maxKeys * 0.9)
    if (this.map.size < target) return
    for (const k of this.map.keys()) {
      if (this.map.size < target) break
      this.map.delete(k)
    }
  }
}
