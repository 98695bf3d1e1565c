/**
 * The one small interface both stores implement (in-memory and Redis).
 *
 * Contract:
 * - Each method is one decision and one round trip: the Redis store runs one Lua script, which also sets every
 *   key's TTL, so no key can outlive its purpose even if the caller dies mid-way.
 * - `now` (ms since the epoch) always comes from the caller, never from the store: tests run on fake time, and all
 *   instances judge windows by their own clock. Keep instance clocks in sync (NTP); a skew of `s` ms moves a lock's
 *   end by `s` ms and shifts a rate window's weighting by `s / window`. Redis TTLs are set relative (PEXPIRE), so a
 *   skewed clock never makes a key expire early or live forever.
 * - A store error rejects with a `RampartError` coded `RAMPART_ERR_STORE_UNAVAILABLE`, within the configured
 *   command timeout. The protections turn it into their `onStoreError` choice; stores never decide that themselves.
 * - Keys and subjects: see `./keys.ts`. Callers pass subjects already hashed where they are personal data.
 */
import type { MaybePromise } from '../maybe-promise.js'
import type { LockoutLimits, Outcome, Ticket, DenyReason } from '../lockout/policy.js'

export interface RateLimitQuery {
  /** Limit name (key segment). */
  readonly name: string
  /** Subject (key segment), already hashed where personal. */
  readonly subject: string
  readonly limit: number
  readonly windowMs: number
  readonly now: number
  /** Requests' worth to reserve at once (a local allowance); default 1. As many as fit are granted. */
  readonly want?: number
}

export interface RateLimitResult {
  readonly allowed: boolean
  /** Requests granted and counted (0 when refused; up to `want`). */
  readonly granted: number
  readonly remaining: number
  /** Ms until `remaining` grows by one (the Retry-After when refused). */
  readonly resetMs: number
}

export interface LockoutSubjects {
  /** Login scope (key segment): the site name, or `all`. */
  readonly scope: string
  /** Hashed user name. */
  readonly account: string
  /** Client address subject (`ipSubject`). */
  readonly ip: string
  /** Device cookie id, when the request carried a valid device cookie for this account. */
  readonly device?: string | undefined
}

export interface LockoutCheckQuery extends LockoutSubjects {
  readonly limits: LockoutLimits
  readonly now: number
}

export interface LockoutCheckResult {
  readonly allowed: boolean
  readonly via: Ticket['via']
  readonly reason: DenyReason | undefined
  readonly retryAfterMs: number
  /** Counts after this check (for logs and metrics). */
  readonly accountFailures: number
  readonly ipFailures: number
}

export interface LockoutRecordQuery extends LockoutSubjects {
  readonly limits: LockoutLimits
  readonly ticket: Ticket
  readonly outcome: Outcome
  readonly now: number
}

export interface LockoutRecordResult {
  readonly accountFailures: number
  readonly ipFailures: number
  readonly deviceFailures: number
  /** Set when this record locked the account. */
  readonly lockedAccount: { until: number; durationMs: number; level: number } | undefined
  /** Set when this record locked the client address. */
  readonly lockedIp: { until: number; durationMs: number } | undefined
}

export type LockKind = 'account' | 'ip'

/** One account or address with a lock or with failures still counted. */
export interface LockEntry {
  readonly kind: LockKind
  readonly scope: string
  /** Hashed user name, or the address subject. */
  readonly subject: string
  readonly failures: number
  /** 0 when not locked now. */
  readonly lockedUntil: number
  /** Account lock level (lockouts so far); 0 for addresses. */
  readonly level: number
}

export interface LockoutListQuery {
  readonly now: number
  readonly scope?: string
  readonly kind?: LockKind
  readonly subject?: string
}

export interface LockoutClearQuery {
  readonly scope: string
  readonly kind: LockKind
  readonly subject: string
}

export type StoreStatus = 'ready' | 'connecting' | 'down'

/** Connection news from a Redis store, for the wiring to log (rate-limited) and expose on /readyz. */
export interface StoreEvent {
  readonly type: 'ready' | 'error' | 'reconnecting' | 'end'
  readonly code?: 'RAMPART_ERR_STORE_CONNECTION'
  readonly message?: string
  readonly delayMs?: number
}

export interface Store {
  readonly kind: 'memory' | 'redis'
  /** Rate-limit decision: count one request if allowed (sliding window, see `src/limits/sliding-window.ts`). */
  rateLimit(q: RateLimitQuery): MaybePromise<RateLimitResult>
  /** Lockout gate before a login goes upstream: may refuse, otherwise charges the attempt. */
  lockoutCheck(q: LockoutCheckQuery): Promise<LockoutCheckResult>
  /** Lockout bookkeeping after the upstream answered. */
  lockoutRecord(q: LockoutRecordQuery): Promise<LockoutRecordResult>
  /** Accounts and addresses that are locked or have failures counted. Admin use: scans keys. */
  lockoutList(q: LockoutListQuery): Promise<LockEntry[]>
  /** Forgets an account's or address's counters and lock. True when something was removed. */
  lockoutClear(q: LockoutClearQuery): Promise<boolean>
  /** Remaining TTL of a raw key in ms; -2 when absent, -1 when it has none (never, for Rampart keys). For tests and diagnostics. */
  pttl(key: string, now: number): Promise<number>
  /** The raw key a protection uses (see `./keys.ts`). */
  key(protection: 'ratelimit' | 'lockout', name: string, subject: string): string
  status(): StoreStatus
  close(): Promise<void>
}
