/**
 * Listing helpers shared by both stores: turn a stored lockout hash into a `LockEntry` and filter entries.
 *
 * Pure.
 */
import type { LockEntry, LockoutListQuery } from './types.js'

/** Turns a stored lockout hash into a listing entry; undefined for devices and for states with nothing to show. */
export function toLockEntry(scope: string, subject: string, h: Record<string, number | string | undefined>, now: number): LockEntry | undefined {
  const num = (v: number | string | undefined): number => (v === undefined ? 0 : Number(v) || 0)
  let kind: LockEntry['kind']
  let id: string
  if (subject.startsWith('acct:')) { kind = 'account'; id = subject.slice(5) }
  else if (subject.startsWith('ip:')) { kind = 'ip'; id = subject.slice(3) }
  else return undefined
  const lu = num(h.lu)
  const lockedUntil = lu > now ? lu : 0
  const failures = num(h.f)
  if (lockedUntil === 0 && failures === 0) return undefined
  return { kind, scope, subject: id, failures, lockedUntil, level: kind === 'account' ? num(h.lv) : 0 }
}

export function matchesList(e: LockEntry, q: LockoutListQuery): boolean {
  return (q.scope === undefined || e.scope === q.scope)
    && (q.kind === undefined || e.kind === q.kind)
    && (q.subject === undefined || e.subject === q.subject)
}
