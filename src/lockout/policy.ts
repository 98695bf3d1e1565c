/**
 * The login-lockout state machine: what one `check` (before the login goes upstream) and one `record` (after the
 * upstream answered) do to the counters of an account, a client address and a trusted device.
 *
 * Contract. All times are ms on the caller's clock. States are plain numbers so a backend can keep them in a Redis
 * hash; the Redis backend runs the same rules in Lua (`src/store/lua.ts`) and one behaviour table tests both.
 *
 * Rules.
 * - Account: failures are counted in a window that opens at the first failure (`ws`) and lasts `windowMs`. At
 *   `maxFailures` the account is locked until `lu`; the duration doubles with each lockout (`lv` = lockouts so far)
 *   up to `maxLockMs`. The level is remembered until `maxLockMs` after the last lock ended. A success resets the
 *   failure count (not the level, which only decays: an attacker gets ever fewer guesses per hour).
 * - Client address: the same count across every account of the scope, with its own threshold, window and fixed lock.
 *   `ipMaxFailures` 0 turns it off.
 * - Trusted device (OWASP device cookie): a browser holding a valid device cookie for this account logs in even while
 *   the account or its address is locked, within its own budget of `deviceMaxFailures` failures per window. When the
 *   budget is spent it is treated like any unknown client.
 * - Attempts are counted when they start, not when they end (`check` increments, `record` keeps, refunds or
 *   resets). Otherwise 100 parallel guesses would all pass `check` before the first failure is recorded. A success
 *   refunds the address's count; an unknown outcome (upstream error) refunds both.
 * - While locked, attempts change nothing: the lock is not extended, so an attacker cannot keep a victim locked
 *   longer than by failing again after each lock ends, which the doubling already answers.
 *
 * Pure.
 */

export interface LockoutLimits {
  readonly maxFailures: number
  readonly windowMs: number
  readonly lockMs: number
  readonly maxLockMs: number
  /** 0: no per-address counting. */
  readonly ipMaxFailures: number
  readonly ipWindowMs: number
  readonly ipLockMs: number
  /** 0: device cookies off. The device window is `windowMs`. */
  readonly deviceMaxFailures: number
}

/** f: failures in the window; ws: window start (0 = none); lu: locked until (0 = never locked); lv: lockouts so far. */
export interface AccountState { f: number; ws: number; lu: number; lv: number }
export interface IpState { f: number; ws: number; lu: number }
export interface DeviceState { f: number; ws: number }

export const emptyAccount = (): AccountState => ({ f: 0, ws: 0, lu: 0, lv: 0 })
export const emptyIp = (): IpState => ({ f: 0, ws: 0, lu: 0 })
export const emptyDevice = (): DeviceState => ({ f: 0, ws: 0 })

/** Which counters an allowed attempt was charged to; `record` needs it. `counted` is false when `check` never ran. */
export interface Ticket {
  readonly via: 'device' | 'account'
  readonly counted: boolean
}

export type DenyReason = 'account' | 'ip'

export interface CheckResult {
  readonly allowed: boolean
  readonly via: 'device' | 'account'
  readonly reason: DenyReason | undefined
  /** When refused: ms until an attempt may pass again (lock end, or window end for a busy account or address). */
  readonly retryAfterMs: number
  readonly account: AccountState
  readonly ip: IpState
  readonly device: DeviceState | undefined
  /** Which states changed and must be written. */
  readonly write: { account: boolean; ip: boolean; device: boolean }
}

export type Outcome = 'success' | 'failure' | 'unknown'

export interface RecordResult {
  readonly account: AccountState
  readonly ip: IpState
  readonly device: DeviceState | undefined
  /** Set when this record locked the account: lock end, duration and the new level. */
  readonly lockedAccount: { until: number; durationMs: number; level: number } | undefined
  /** Set when this record locked the client address. */
  readonly lockedIp: { until: number; durationMs: number } | undefined
  readonly write: { account: boolean; ip: boolean; device: boolean }
}

/** Levels above this cannot make the lock longer than any sane `maxLockMs`; capping keeps `2 ** lv` finite. */
const MAX_LEVEL = 40

export function lockDuration(limits: LockoutLimits, level: number): number {
  const ms = limits.lockMs * 2 ** Math.min(level, MAX_LEVEL)
  return ms < limits.maxLockMs ? ms : limits.maxLockMs
}

function rollAccount(s: AccountState, now: number, limits: LockoutLimits): AccountState {
  if (s.ws > 0 && now - s.ws >= limits.windowMs) return { f: 0, ws: 0, lu: s.lu, lv: s.lv }
  return { ...s }
}

function rollIp(s: IpState, now: number, limits: LockoutLimits): IpState {
  if (s.ws > 0 && now - s.ws >= limits.ipWindowMs) return { f: 0, ws: 0, lu: s.lu }
  return { ...s }
}

function rollDevice(s: DeviceState, now: number, limits: LockoutLimits): DeviceState {
  if (s.ws > 0 && now - s.ws >= limits.windowMs) return { f: 0, ws: 0 }
  return { ...s }
}

export function checkAttempt(
  now: number,
  limits: LockoutLimits,
  account: AccountState,
  ip: IpState,
  device: DeviceState | undefined,
): CheckResult {
  const a = rollAccount(account, now, limits)
  const i = rollIp(ip, now, limits)
  if (device !== undefined && limits.deviceMaxFailures > 0) {
    const d = rollDevice(device, now, limits)
    if (d.f < limits.deviceMaxFailures) {
      d.f += 1
      if (d.ws === 0) d.ws = now
      return { allowed: true, via: 'device', reason: undefined, retryAfterMs: 0, account: a, ip: i, device: d, write: { account: false, ip: false, device: true } }
    }
  }
  const deny = (reason: DenyReason, until: number): CheckResult => ({
    allowed: false, via: 'account', reason, retryAfterMs: until - now > 1 ? until - now : 1,
    account: a, ip: i, device, write: { account: false, ip: false, device: false },
  })
  if (a.lu > now) return deny('account', a.lu)
  if (limits.ipMaxFailures > 0 && i.lu > now) return deny('ip', i.lu)
  if (a.f >= limits.maxFailures) return deny('account', a.ws + limits.windowMs)
  if (limits.ipMaxFailures > 0 && i.f >= limits.ipMaxFailures) return deny('ip', i.ws + limits.ipWindowMs)
  a.f += 1
  if (a.ws === 0) a.ws = now
  if (limits.ipMaxFailures > 0) {
    i.f += 1
    if (i.ws === 0) i.ws = now
  }
  return { allowed: true, via: 'account', reason: undefined, retryAfterMs: 0, account: a, ip: i, device, write: { account: true, ip: limits.ipMaxFailures > 0, device: false } }
}

export function recordOutcome(
  now: number,
  limits: LockoutLimits,
  ticket: Ticket,
  outcome: Outcome,
  account: AccountState,
  ip: IpState,
  device: DeviceState | undefined,
): RecordResult {
  const a = rollAccount(account, now, limits)
  const i = rollIp(ip, now, limits)
  const write = { account: false, ip: false, device: false }
  let lockedAccount: RecordResult['lockedAccount']
  let lockedIp: RecordResult['lockedIp']

  if (ticket.via === 'device' && device !== undefined) {
    const d = rollDevice(device, now, limits)
    if (outcome === 'success') {
      d.f = 0
      d.ws = 0
      if (!(a.lu > now) && a.f > 0) {
        a.f = 0
        a.ws = 0
        write.account = true
      }
    } else if (outcome === 'failure') {
      if (!ticket.counted) {
        d.f += 1
        if (d.ws === 0) d.ws = now
      }
    } else if (ticket.counted && d.f > 0) {
      d.f -= 1
    }
    write.device = true
    return { account: a, ip: i, device: d, lockedAccount, lockedIp, write }
  }

  const perIp = limits.ipMaxFailures > 0
  if (outcome === 'success') {
    a.f = 0
    a.ws = 0
    write.account = true
    if (ticket.counted && perIp && i.f > 0) {
      i.f -= 1
      write.ip = true
    }
  } else if (outcome === 'unknown') {
    if (ticket.counted) {
      if (a.f > 0) a.f -= 1
      write.account = true
      if (perIp && i.f > 0) {
        i.f -= 1
        write.ip = true
      }
    }
  } else {
    if (!ticket.counted) {
      if (!(a.lu > now)) {
        a.f += 1
        if (a.ws === 0) a.ws = now
        write.account = true
      }
      if (perIp && !(i.lu > now)) {
        i.f += 1
        if (i.ws === 0) i.ws = now
        write.ip = true
      }
    }
    if (!(a.lu > now) && a.f >= limits.maxFailures) {
      const durationMs = lockDuration(limits, a.lv)
      a.lu = now + durationMs
      a.lv = a.lv < MAX_LEVEL ? a.lv + 1 : MAX_LEVEL
      a.f = 0
      a.ws = 0
      write.account = true
      lockedAccount = { until: a.lu, durationMs, level: a.lv }
    }
    if (perIp && !(i.lu > now) && i.f >= limits.ipMaxFailures) {
      i.lu = now + limits.ipLockMs
      i.f = 0
      i.ws = 0
      write.ip = true
      lockedIp = { until: i.lu, durationMs: limits.ipLockMs }
    }
  }
  return { account: a, ip: i, device, lockedAccount, lockedIp, write }
}

/** Absolute expiry of an account state (0: nothing worth keeping). The level outlives the lock by `maxLockMs`. */
export function accountExpiresAt(s: AccountState, limits: LockoutLimits): number {
  const w = s.ws > 0 && s.f > 0 ? s.ws + limits.windowMs : 0
  const l = s.lu > 0 ? s.lu + limits.maxLockMs : 0
  return w > l ? w : l
}

export function ipExpiresAt(s: IpState, limits: LockoutLimits): number {
  const w = s.ws > 0 && s.f > 0 ? s.ws + limits.ipWindowMs : 0
  return w > s.lu ? w : s.lu
}

export function deviceExpiresAt(s: DeviceState, limits: LockoutLimits): number {
  return s.ws > 0 && s.f > 0 ? s.ws + limits.windowMs : 0
}
