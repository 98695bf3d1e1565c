/**
 * Listing and lifting login locks, for `rampart unlock` and the admin listener.
 *
 * Contract: an account is named in clear text by the operator and hashed here with the same `keySecret` the
 * gateway uses (the store only knows hashes); an address is grouped like the gateway groups it (IPv6 by /64).
 * Unlocking forgets the account's or address's failures, lock and lock level in every login scope, or in one scope
 * when given, and yields one `login.unlock` audit event per entry removed.
 */
import { hashSubject, ipSubject } from '../store/keys.js'
import { normalizeIdentifier } from '../body/fields.js'
import type { Store, LockEntry, LockKind } from '../store/types.js'
import type { AuditHub } from './audit.js'

export interface LockTarget {
  /** User name as typed at login (normalised here). */
  readonly account?: string | undefined
  readonly ip?: string | undefined
  readonly scope?: string | undefined
}

export interface AdminOptions {
  readonly keySecret?: string | undefined
  readonly now: number
}

/** The store's subject for a target, or undefined for "everything". */
export function targetSubject(target: LockTarget, keySecret: string | undefined): { kind: LockKind; subject: string } | undefined {
  if (target.account !== undefined) return { kind: 'account', subject: hashSubject(keySecret, normalizeIdentifier(target.account)) }
  if (target.ip !== undefined) return { kind: 'ip', subject: ipSubject(target.ip) }
  return undefined
}

export async function listLocks(store: Store, target: LockTarget, options: AdminOptions): Promise<LockEntry[]> {
  const t = targetSubject(target, options.keySecret)
  const entries = await store.lockoutList({
    now: options.now,
    ...(target.scope !== undefined ? { scope: target.scope } : {}),
    ...(t ? { kind: t.kind, subject: t.subject } : {}),
  })
  return entries.sort((a, b) => b.lockedUntil - a.lockedUntil || a.scope.localeCompare(b.scope) || a.subject.localeCompare(b.subject))
}

export async function unlock(
  store: Store,
  target: LockTarget,
  options: AdminOptions & { readonly by: string; readonly audit?: AuditHub | undefined },
): Promise<LockEntry[]> {
  if (target.account === undefined && target.ip === undefined) throw new Error('unlock needs an account or an address')
  const entries = await listLocks(store, target, options)
  const removed: LockEntry[] = []
  for (const e of entries) {
    if (await store.lockoutClear({ scope: e.scope, kind: e.kind, subject: e.subject })) {
      removed.push(e)
      options.audit?.emit({ type: 'login.unlock', time: options.now, scope: e.scope, enforced: true, kind: e.kind, subject: e.subject, by: options.by })
    }
  }
  return removed
}
