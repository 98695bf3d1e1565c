/**
 * `rampart unlock`: list and lift login locks.
 *
 *   rampart unlock --list                      every account and address with a lock or counted failures
 *   rampart unlock --account NAME [--list]     lift (or, with --list, only show) the account's locks
 *   rampart unlock --ip ADDR [--list]          lift (or only show) the address's locks (IPv6: its /64)
 *   --site NAME                                limit to one login scope (a site name, or `all`)
 *
 * Contract: `parseUnlockArgs(argv)` is pure; `runUnlock(store, args, options)` prints through `options.print` and
 * returns the exit code (0 done, 1 store error, 2 usage error). Accounts are shown hashed: the store never holds a
 * user name. The caller builds the store from the config and closes it afterwards.
 */
import type { Store, LockEntry } from '../store/types.js'
import { listLocks, unlock } from '../lockout/admin.js'
import type { AuditHub } from '../lockout/audit.js'

export interface UnlockArgs {
  readonly account?: string
  readonly ip?: string
  readonly site?: string
  readonly list: boolean
}

export const UNLOCK_USAGE = 'usage: rampart unlock (--account NAME | --ip ADDR) [--site NAME] [--list]\n       rampart unlock --list [--site NAME]'

export function parseUnlockArgs(argv: readonly string[]): { ok: true; args: UnlockArgs } | { ok: false; message: string } {
  const out: { account?: string; ip?: string; site?: string; list: boolean } = { list: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const eq = a.indexOf('=')
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined
    const value = (): string | undefined => inline ?? argv[++i]
    switch (flag) {
      case '--list': out.list = true; break
      case '--account': case '--ip': case '--site': {
        const v = value()
        if (v === undefined || v === '' || v.startsWith('--')) return { ok: false, message: `${flag} needs a value\n${UNLOCK_USAGE}` }
        out[flag.slice(2) as 'account' | 'ip' | 'site'] = v
        break
      }
      default: return { ok: false, message: `unknown argument '${a}'\n${UNLOCK_USAGE}` }
    }
  }
  if (out.account !== undefined && out.ip !== undefined) return { ok: false, message: `give --account or --ip, not both\n${UNLOCK_USAGE}` }
  if (out.account === undefined && out.ip === undefined && !out.list) return { ok: false, message: UNLOCK_USAGE }
  return { ok: true, args: out }
}

export function formatEntry(e: LockEntry, now: number): string {
  const who = e.kind === 'account' ? `account ${e.subject}` : `ip ${e.subject}`
  const state = e.lockedUntil > now
    ? `locked until ${new Date(e.lockedUntil).toISOString()} (${Math.ceil((e.lockedUntil - now) / 1000)}s left)`
    : 'not locked'
  const level = e.kind === 'account' ? `, level ${e.level}` : ''
  return `${who}  site=${e.scope}  ${state}, failures ${e.failures}${level}`
}

export interface RunUnlockOptions {
  readonly keySecret?: string | undefined
  readonly now: number
  readonly print: (line: string) => void
  readonly audit?: AuditHub | undefined
  /** Recorded in the audit event; default `cli`. */
  readonly by?: string
}

export async function runUnlock(store: Store, args: UnlockArgs, options: RunUnlockOptions): Promise<number> {
  const target = { account: args.account, ip: args.ip, scope: args.site }
  const admin = { keySecret: options.keySecret, now: options.now }
  try {
    if (args.list || (args.account === undefined && args.ip === undefined)) {
      const entries = await listLocks(store, target, admin)
      if (entries.length === 0) options.print('no locks or counted failures')
      for (const e of entries) options.print(formatEntry(e, options.now))
      return 0
    }
    const removed = await unlock(store, target, { ...admin, by: options.by ?? 'cli', audit: options.audit })
    if (removed.length === 0) options.print(`nothing to unlock for ${args.account !== undefined ? `account '${args.account}'` : `ip ${args.ip}`}`)
    for (const e of removed) options.print(`unlocked ${formatEntry(e, options.now)}`)
    return 0
  } catch (err) {
    options.print(`error: ${(err as Error).message}`)
    return 1
  }
}
