/**
 * Abuse signals per client address: a burst of 404s (a scanner probing for files), of 401/403s, of distinct
 * usernames tried (credential stuffing), or of requests with threat matches.
 *
 * Contract:
 * - `createAbuseMonitor(config, hooks)` builds one sliding counter per enabled signal (see `sliding-counter.ts`),
 *   each tracking at most `maxTrackedAddresses` addresses.
 * - `observeResponse(ip, status, now)`, `observeLogin(ip, username, now)` and `observeDetection(ip, now)` count one
 *   event. When a count reaches the signal's `count` within `per`, the signal fires once: `hooks.onSignal` gets it,
 *   and when `banFor` is set `hooks.onBan(ip, kind, banFor)` too (storing the ban is the caller's job). The
 *   address's counter then starts from zero, so a continuing attack fires again after another full count.
 * - Usernames are compared trimmed and case-insensitively, and only the first 128 characters count.
 * - Pure apart from the counters' state: time is passed in, hooks are called synchronously, and an exception from a
 *   hook goes to `hooks.onHookError` instead of the caller.
 */
import type { AbuseSignalKind } from '../alerts/event.js'
import { DistinctCounter, SlidingCounter } from './sliding-counter.js'

export interface AbuseSignalSettings {
  readonly enabled: boolean
  readonly count: number
  readonly per: number
  readonly banFor?: number | undefined
}

export interface AbuseSettings {
  readonly notFound: AbuseSignalSettings
  readonly authFailures: AbuseSignalSettings
  readonly distinctUsernames: AbuseSignalSettings
  readonly detections: AbuseSignalSettings
  readonly maxTrackedAddresses: number
}

export interface AbuseSignal {
  readonly kind: AbuseSignalKind
  readonly ip: string
  /** Events counted in the window when the signal fired. */
  readonly observed: number
  readonly windowMs: number
  /** Ban length, when the signal bans. */
  readonly banMs?: number
  readonly at: number
}

export interface AbuseHooks {
  onSignal?(signal: AbuseSignal): void
  onBan?(ip: string, reason: AbuseSignalKind, durationMs: number): void
  onHookError?(error: unknown): void
}

export interface AbuseMonitor {
  observeResponse(ip: string, status: number, now: number): AbuseSignal | undefined
  observeLogin(ip: string, username: string, now: number): AbuseSignal | undefined
  observeDetection(ip: string, now: number): AbuseSignal | undefined
  /** Addresses currently tracked, per signal. */
  tracked(): Record<AbuseSignalKind, number>
}

/** Upper bound on distinct usernames remembered per address. */
export const MAX_DISTINCT_USERNAMES = 1024
const MAX_USERNAME = 128

export function createAbuseMonitor(settings: AbuseSettings, hooks: AbuseHooks = {}): AbuseMonitor {
  const max = settings.maxTrackedAddresses
  const counter = (s: AbuseSignalSettings) => (s.enabled ? new SlidingCounter(s.per, max) : undefined)
  const notFound = counter(settings.notFound)
  const authFailures = counter(settings.authFailures)
  const detections = counter(settings.detections)
  const du = settings.distinctUsernames
  const usernames = du.enabled ? new DistinctCounter(du.per, max, Math.min(du.count, MAX_DISTINCT_USERNAMES)) : undefined

  const fire = (kind: AbuseSignalKind, s: AbuseSignalSettings, ip: string, observed: number, now: number): AbuseSignal => {
    const signal: AbuseSignal = {
      kind, ip, observed, windowMs: s.per, at: now,
      ...(s.banFor !== undefined ? { banMs: s.banFor } : {}),
    }
    try {
      hooks.onSignal?.(signal)
      if (s.banFor !== undefined) hooks.onBan?.(ip, kind, s.banFor)
    } catch (err) {
      try {
        hooks.onHookError?.(err)
      } catch {
        // nothing more can be done
      }
    }
    return signal
  }

  const count = (kind: AbuseSignalKind, c: SlidingCounter | undefined, s: AbuseSignalSettings, ip: string, now: number) => {
    if (!c) return undefined
    const n = c.record(ip, now)
    if (n < s.count) return undefined
    c.reset(ip)
    return fire(kind, s, ip, n, now)
  }

  return {
    observeResponse(ip, status, now) {
      if (status === 404) return count('notFound', notFound, settings.notFound, ip, now)
      if (status === 401 || status === 403) return count('authFailures', authFailures, settings.authFailures, ip, now)
      return undefined
    },
    observeLogin(ip, username, now) {
      if (!usernames) return undefined
      const name = username.trim().toLowerCase().slice(0, MAX_USERNAME)
      if (name.length === 0) return undefined
      const n = usernames.record(ip, name, now)
      if (n < du.count) return undefined
      usernames.reset(ip)
      return fire('distinctUsernames', du, ip, n, now)
    },
    observeDetection(ip, now) {
      return count('detections', detections, settings.detections, ip, now)
    },
    tracked() {
      return {
        notFound: notFound?.size ?? 0,
        authFailures: authFailures?.size ?? 0,
        distinctUsernames: usernames?.size ?? 0,
        detections: detections?.size ?? 0,
      }
    },
  }
}
