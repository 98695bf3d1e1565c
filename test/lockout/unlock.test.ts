/**
 * Listing and lifting locks (`src/lockout/admin.ts`) and the `rampart unlock` command logic (`src/cli/unlock.ts`),
 * on the memory store with fake time.
 */
import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import { hashSubject, ipSubject } from '../../src/store/keys.js'
import { listLocks, unlock } from '../../src/lockout/admin.js'
import { createAuditHub, type LockoutAuditEvent } from '../../src/lockout/audit.js'
import { parseUnlockArgs, runUnlock, formatEntry, UNLOCK_USAGE } from '../../src/cli/unlock.js'
import type { LockoutLimits } from '../../src/lockout/policy.js'
import type { Store } from '../../src/store/types.js'

const T0 = 1_700_000_000_000
const SECRET = 'store-key-secret-123'
const L: LockoutLimits = { maxFailures: 2, windowMs: 60_000, lockMs: 60_000, maxLockMs: 600_000, ipMaxFailures: 3, ipWindowMs: 60_000, ipLockMs: 120_000, deviceMaxFailures: 0 }

async function fail(store: Store, scope: string, user: string, ip: string, now: number) {
  const q = { scope, account: hashSubject(SECRET, user.toLowerCase()), ip: ipSubject(ip), limits: L, now }
  const c = await store.lockoutCheck(q)
  if (c.allowed) await store.lockoutRecord({ ...q, ticket: { via: c.via, counted: true }, outcome: 'failure' })
}

/** bob locked in two scopes, eve with one failure, 192.0.2.1 locked in club. */
async function seeded(): Promise<MemoryStore> {
  const store = new MemoryStore()
  await fail(store, 'club', 'bob', '192.0.2.1', T0)
  await fail(store, 'club', 'bob', '192.0.2.1', T0 + 1)
  await fail(store, 'club', 'eve', '192.0.2.1', T0 + 2)
  await fail(store, 'resa', 'Bob', '2001:db8:1:2::5', T0 + 3)
  await fail(store, 'resa', 'bob', '2001:db8:1:2::6', T0 + 4)
  return store
}

t.test('listLocks and unlock', async (t) => {
  const store = await seeded()
  const bob = hashSubject(SECRET, 'bob')
  const all = await listLocks(store, {}, { keySecret: SECRET, now: T0 + 10 })
  t.same(all.map((e) => `${e.kind} ${e.scope} ${e.subject === bob ? 'bob' : e.subject} ${e.lockedUntil ? 'locked' : 'open'} ${e.failures}`), [
    'ip club 192.0.2.1 locked 0',
    'account resa bob locked 0',
    'account club bob locked 0',
    'account club ' + hashSubject(SECRET, 'eve') + ' open 1',
    'ip resa 2001:db8:1:2::/64 open 2',
  ], 'every lock and counted failure, latest lock end first')

  t.equal((await listLocks(store, { account: ' BOB ' }, { keySecret: SECRET, now: T0 + 10 })).length, 2, 'the account name is normalised and hashed like at login')
  t.equal((await listLocks(store, { account: 'bob' }, { keySecret: 'wrong-secret-xxxxxx', now: T0 + 10 })).length, 0, 'the same key secret is needed')
  t.equal((await listLocks(store, { account: 'bob', scope: 'club' }, { keySecret: SECRET, now: T0 + 10 })).length, 1)

  const audit = createAuditHub()
  const events: LockoutAuditEvent[] = []
  audit.on((e) => events.push(e))
  const removed = await unlock(store, { account: 'Bob' }, { keySecret: SECRET, now: T0 + 20, by: 'cli', audit })
  t.same(removed.map((e) => e.scope).sort(), ['club', 'resa'], 'lifted in every scope')
  t.same(events.map((e) => [e.type, e.scope, (e as { subject: string }).subject, (e as { by: string }).by]).sort(), [['login.unlock', 'club', bob, 'cli'], ['login.unlock', 'resa', bob, 'cli']])
  const q = { scope: 'club', account: bob, ip: '198.51.100.1', limits: L, now: T0 + 30 }
  t.match(await store.lockoutCheck(q), { allowed: true, accountFailures: 1 }, 'bob can log in again, with a fresh count')
  t.equal((await unlock(store, { account: 'bob' }, { keySecret: SECRET, now: T0 + 40, by: 'cli' })).length, 1, 'only the new failure is left to clear')

  const byIp = await unlock(store, { ip: '2001:db8:1:2::ffff' }, { keySecret: SECRET, now: T0 + 50, by: 'admin' })
  t.same(byIp.map((e) => e.subject), ['2001:db8:1:2::/64'], 'an IPv6 address unlocks its /64')
  await t.rejects(unlock(store, {}, { now: T0, by: 'cli' }), /needs an account or an address/)
})

t.test('parseUnlockArgs', async (t) => {
  const table: Array<[string[], unknown]> = [
    [['--list'], { ok: true, args: { list: true } }],
    [['--account', 'bob'], { ok: true, args: { list: false, account: 'bob' } }],
    [['--account=bob', '--list'], { ok: true, args: { list: true, account: 'bob' } }],
    [['--ip', '192.0.2.1', '--site', 'club'], { ok: true, args: { list: false, ip: '192.0.2.1', site: 'club' } }],
    [[], { ok: false, message: UNLOCK_USAGE }],
    [['--account'], { ok: false, message: /--account needs a value/ }],
    [['--account', '--list'], { ok: false, message: /--account needs a value/ }],
    [['--account', 'a', '--ip', '1.2.3.4'], { ok: false, message: /not both/ }],
    [['--user', 'bob'], { ok: false, message: /unknown argument '--user'/ }],
  ]
  for (const [argv, want] of table) t.match(parseUnlockArgs(argv), want, argv.join(' ') || '(none)')
})

t.test('runUnlock prints and returns an exit code', async (t) => {
  const store = await seeded()
  const out: string[] = []
  const run = (argv: string[], now = T0 + 10) => {
    const p = parseUnlockArgs(argv)
    if (!p.ok) throw new Error(p.message)
    return runUnlock(store, p.args, { keySecret: SECRET, now, print: (l) => out.push(l) })
  }
  t.equal(await run(['--list', '--site', 'club']), 0)
  t.match(out, [/^ip 192\.0\.2\.1 {2}site=club {2}locked until 2023-11-14T22:15:20\.002Z \(120s left\), failures 0$/, /^account \S{22} {2}site=club {2}locked until .*, failures 0, level 1$/, /^account \S{22} {2}site=club {2}not locked, failures 1, level 0$/])
  out.length = 0
  t.equal(await run(['--account', 'bob', '--list']), 0)
  t.equal(out.length, 2, '--list with an account only shows')
  out.length = 0
  t.equal(await run(['--account', 'bob']), 0)
  t.match(out, [/^unlocked account /, /^unlocked account /])
  out.length = 0
  t.equal(await run(['--account', 'nobody']), 0)
  t.same(out, ["nothing to unlock for account 'nobody'"])
  out.length = 0
  t.equal(await run(['--list'], T0 + 3_600_000), 0)
  t.same(out, ['no locks or counted failures'], 'everything has expired an hour later')

  const broken = new Proxy(store, { get: (target, prop, r) => (prop === 'lockoutList' ? () => Promise.reject(new Error('store down')) : Reflect.get(target, prop, r)) }) as Store
  out.length = 0
  t.equal(await runUnlock(broken, { list: true }, { now: T0, print: (l) => out.push(l) }), 1)
  t.same(out, ['error: store down'])
  t.equal(formatEntry({ kind: 'ip', scope: 'all', subject: '10.0.0.1', failures: 2, lockedUntil: 0, level: 0 }, T0), 'ip 10.0.0.1  site=all  not locked, failures 2')
})
