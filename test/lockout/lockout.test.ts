/**
 * The lockout protection end to end, minus HTTP: route matching, user-name extraction, check → detect → record, the
 * locked answer, device cookies, per-address locks, shadow mode and audit events. Memory store, fake time.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { compileSchema, validateText, formatProblem } from '../../src/config/validate.js'
import { LockoutSection, type LockoutConfig } from '../../src/config/sections/lockout.js'
import { compileLockout, type Lockout, type LockoutGate } from '../../src/lockout/lockout.js'
import { createAuditHub, type LockoutAuditEvent } from '../../src/lockout/audit.js'
import { MemoryStore } from '../../src/store/memory.js'
import { normalizePath } from '../../src/limits/match.js'
import { extractFields } from '../../src/body/fields.js'
import { hashSubject } from '../../src/store/keys.js'

const T0 = 1_700_000_000_000
const KEY_SECRET = 'store-key-secret-123'
const validator = compileSchema(Type.Object({ lockout: LockoutSection }, { additionalProperties: false }))

const MIMIC = 'answer: { status: 200, body: "<p>Invalid credentials</p>" }'

function config(extra = '', answer = MIMIC): LockoutConfig {
  const r = validateText<{ lockout: LockoutConfig }>(`
lockout:
  logins:
    - { site: club, method: POST, path: /login, username: body.username }
    - { site: club, method: POST, path: /api/login, username: body.user.name }
  failure: { status: [401], bodyContains: "Invalid credentials" }
  maxFailures: 3
  window: 15m
  lockFor: 1m
  maxLockFor: 8m
  perIp: { maxFailures: 5, window: 15m, lockFor: 10m }
  ${answer}
  deviceCookie: { secret: "device-secret-device-secret-device-secret", maxFailures: 2 }
${extra}`, { file: 't.yaml', env: {} }, validator)
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  return r.config.lockout
}

function setup(extra = '', answer = MIMIC) {
  const store = new MemoryStore()
  const audit = createAuditHub()
  const events: LockoutAuditEvent[] = []
  audit.on((e) => events.push(e))
  const lockout = compileLockout(config(extra, answer), { store, keySecret: KEY_SECRET, defaultOnStoreError: 'open', audit })
  return { store, lockout, events }
}

const form = (lockout: Lockout, body: string) => extractFields(lockout.bodyFields, Buffer.from(body), 'application/x-www-form-urlencoded')

/** One login through the protection: check, then (when allowed) the application's answer, detect and record. */
async function attempt(lockout: Lockout, opts: { user?: string; body?: string; ip?: string; cookie?: string; now: number; answer?: { status: number; body?: string; setCookie?: string[] } }) {
  const login = lockout.matchLogin('club', 'POST', normalizePath('/login'))!
  const body = opts.body ?? `username=${encodeURIComponent(opts.user ?? 'bob')}&password=hunter2`
  const gate = await lockout.check(login, { fields: form(lockout, body), ip: opts.ip ?? '192.0.2.1', cookieHeader: opts.cookie, now: opts.now })
  if (gate.action === 'refuse') return { gate, outcome: undefined, setCookie: undefined }
  const res = opts.answer ?? { status: 401 }
  const outcome = lockout.detect({ status: res.status, setCookie: res.setCookie, body: res.body !== undefined ? Buffer.from(res.body) : undefined, now: opts.now })
  const { setCookie } = await lockout.record(gate, outcome, opts.now)
  return { gate, outcome, setCookie }
}

const cookieFrom = (setCookie: string | undefined) => setCookie!.split(';')[0]!

t.test('login routes: matched by site, method and normalised path; reset forms are not logins', async (t) => {
  const { lockout } = setup()
  const table: Array<[string | undefined, string, string, number | undefined]> = [
    ['club', 'POST', '/login', 0],
    ['club', 'POST', '/Login/', 0],
    ['club', 'POST', '//login?next=/x', 0],
    ['club', 'POST', '/api/login', 1],
    ['club', 'GET', '/login', undefined],
    ['resa', 'POST', '/login', undefined],
    ['club', 'POST', '/password-reset', undefined],
    ['club', 'POST', '/login/extra', undefined],
  ]
  for (const [site, method, path, want] of table) t.equal(lockout.matchLogin(site, method, normalizePath(path))?.index, want, `${site} ${method} ${path}`)
  t.same([...lockout.bodyFields.names].sort(), ['user.name', 'username'])
  t.equal(lockout.maxBody, 65_536)
  t.equal(lockout.outcome.needsBody, true)
})

t.test('three failures lock the account; the lock answers like the app, without the upstream', async (t) => {
  const { lockout, events } = setup()
  for (let i = 0; i < 3; i++) {
    const r = await attempt(lockout, { now: T0 + i * 1000, answer: { status: 200, body: '<p>Invalid credentials</p>' } })
    t.equal(r.outcome, 'failure', `attempt ${i + 1} detected as a failure from the body marker`)
  }
  const bob = hashSubject(KEY_SECRET, 'bob')
  t.match(events.filter((e) => e.type === 'login.failure').map((e) => (e as { accountFailures: number }).accountFailures), [1, 2, 0])
  t.match(events.find((e) => e.type === 'login.lockout'), { kind: 'account', account: bob, ip: '192.0.2.1', until: T0 + 2000 + 60_000, durationMs: 60_000, level: 1, scope: 'club', enforced: true })

  const locked = await attempt(lockout, { now: T0 + 10_000 })
  t.equal(locked.gate.action, 'refuse')
  t.equal(locked.gate.reason, 'account')
  t.same({ status: locked.gate.answer!.status, body: locked.gate.answer!.body.toString() }, { status: 200, body: '<p>Invalid credentials</p>' }, 'the mimic answer')
  t.notOk('retry-after' in locked.gate.answer!.headers, 'nothing reveals the lock')
  t.match(events.at(-1), { type: 'login.locked-attempt', code: 'RAMPART_ERR_LOCKOUT_LOCKED', reason: 'account', account: bob, retryAfterMs: 52_000 })

  const spelled = await attempt(lockout, { user: '  BOB ', now: T0 + 11_000 })
  t.equal(spelled.gate.action, 'refuse', 'the same account under another spelling is locked too')

  const later = await attempt(lockout, { now: T0 + 62_000, answer: { status: 302 } })
  t.equal(later.gate.action, 'proceed', 'the lock ends on time')
  t.equal(later.outcome, 'success')
  t.ok(later.setCookie, 'a success gets a device cookie')

  const serialized = JSON.stringify(events)
  t.notMatch(serialized, /bob|hunter2/i, 'audit events carry neither the user name nor the password')
})

t.test('a device cookie from an earlier success lets its owner in while attackers keep the account locked', async (t) => {
  const { lockout, events } = setup()
  const ok = await attempt(lockout, { now: T0, answer: { status: 302 } })
  const cookie = cookieFrom(ok.setCookie)
  t.match(ok.setCookie, /^__Host-rampart-device=v1\.[^;]+; Path=\/; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict$/)

  for (let i = 0; i < 3; i++) await attempt(lockout, { ip: '203.0.113.66', now: T0 + 1000 + i })
  t.equal((await attempt(lockout, { ip: '203.0.113.66', now: T0 + 2000 })).gate.action, 'refuse', 'locked for the attacker')

  const owner = await attempt(lockout, { cookie: `other=1; ${cookie}`, now: T0 + 3000, answer: { status: 302 } })
  t.equal(owner.gate.action, 'proceed', 'the owner with the device cookie gets through')
  t.equal(owner.gate.ticket.via, 'device')
  t.equal(owner.setCookie!.split('.')[1], cookie.split('.')[1], 'the renewed cookie keeps the device id')
  t.equal((await attempt(lockout, { ip: '203.0.113.66', now: T0 + 4000 })).gate.action, 'refuse', 'the owner\'s success did not unlock it for the attacker')

  const stolenForEve = await attempt(lockout, { user: 'eve', cookie, now: T0 + 5000 })
  t.equal(stolenForEve.gate.ticket.via, 'account', 'a cookie for bob is worth nothing for eve')

  // The device's own budget: 2 failures, then it is an unknown client again (and the account is locked).
  t.equal((await attempt(lockout, { cookie, now: T0 + 6000 })).gate.action, 'proceed')
  t.equal((await attempt(lockout, { cookie, now: T0 + 7000 })).gate.action, 'proceed')
  const spent = await attempt(lockout, { cookie, now: T0 + 8000 })
  t.equal(spent.gate.action, 'refuse', 'budget spent')
  t.match(events.filter((e) => e.type === 'login.failure' && e.via === 'device').map((e) => (e as { deviceFailures: number }).deviceFailures), [1, 2])

  const forged = await attempt(lockout, { cookie: `${cookie.slice(0, -2)}xx`, now: T0 + 9000 })
  t.equal(forged.gate.action, 'refuse', 'a forged cookie is an unknown client')
})

t.test('one address trying many accounts is locked', async (t) => {
  const { lockout, events } = setup()
  for (let i = 0; i < 5; i++) await attempt(lockout, { user: `user${i}`, now: T0 + i })
  t.match(events.find((e) => e.type === 'login.lockout'), { kind: 'ip', ip: '192.0.2.1', account: undefined, durationMs: 600_000 })
  const next = await attempt(lockout, { user: 'user9', now: T0 + 10 })
  t.equal(next.gate.reason, 'ip')
  t.equal((await attempt(lockout, { user: 'user9', ip: '198.51.100.2', now: T0 + 11 })).gate.action, 'proceed', 'other addresses are not affected')
  const v6a = await attempt(lockout, { user: 'x', ip: '2001:db8:1:2::1', now: T0 + 12 })
  t.equal(v6a.gate.ip, '2001:db8:1:2::/64', 'IPv6 clients are counted by /64')
})

t.test('ambiguous and missing user names', async (t) => {
  const { lockout, events } = setup()
  const both = await attempt(lockout, { body: 'username=decoy&username=bob&password=x', now: T0 })
  t.match(both.gate, { action: 'refuse', reason: 'ambiguous', tracked: false }, 'two different user names in one login are refused')
  t.match(events.at(-1), { type: 'login.locked-attempt', reason: 'ambiguous' })
  const same = await attempt(lockout, { body: 'username=bob&username=BOB', now: T0 })
  t.equal(same.gate.action, 'proceed', 'the same name twice is not ambiguous')
  const none = await attempt(lockout, { body: 'password=x', now: T0 })
  t.match(none.gate, { action: 'proceed', tracked: false }, 'no user name: passed on, not counted (the app rejects it)')
  const before = events.length
  t.same(await lockout.record(none.gate, 'failure', T0), {})
  t.equal(events.length, before, 'recording an untracked attempt does nothing')
})

t.test('JSON login with a dotted user-name path', async (t) => {
  const { lockout } = setup()
  const login = lockout.matchLogin('club', 'POST', '/api/login')!
  const fields = extractFields(lockout.bodyFields, Buffer.from('{"user":{"name":"Bob"},"password":"x"}'), 'application/json')
  const gate = await lockout.check(login, { fields, ip: '192.0.2.1', now: T0 })
  t.equal(gate.account, hashSubject(KEY_SECRET, 'bob'))
  t.equal(gate.scope, 'club', 'both club logins share one scope: the same counters')
})

t.test('shadow mode counts and reports but never refuses', async (t) => {
  const { lockout, events } = setup('  mode: shadow\n')
  for (let i = 0; i < 6; i++) {
    const r = await attempt(lockout, { now: T0 + i })
    t.equal(r.gate.action, 'proceed', `attempt ${i + 1} passes`)
  }
  t.ok(events.some((e) => e.type === 'login.lockout' && !e.enforced), 'the lockout is reported, not enforced')
  t.ok(events.some((e) => e.type === 'login.locked-attempt' && !e.enforced), 'so are the attempts it would refuse')
  t.ok(events.every((e) => e.enforced === false))
})

t.test('423 and json answers', async (t) => {
  for (const [mode, status] of [['423', 423], ['json', 429]] as const) {
    const { lockout } = setup('', `answer: { mode: "${mode}" }`)
    for (let i = 0; i < 3; i++) await attempt(lockout, { now: T0 + i })
    const r = await attempt(lockout, { now: T0 + 10_000 })
    t.equal(r.gate.answer?.status, status, mode)
    t.equal(r.gate.answer?.headers['retry-after'], '51', `${mode}: Retry-After (lock until T0 + 60.002 s)`)
  }
})

t.test('a throwing audit listener does not break logins', async (t) => {
  const store = new MemoryStore()
  const audit = createAuditHub()
  audit.on(() => {
    throw new Error('metrics exporter down')
  })
  const seen: string[] = []
  audit.on((e) => seen.push(e.type))
  const lockout = compileLockout(config(), { store, defaultOnStoreError: 'open', audit })
  const r = await attempt(lockout, { now: T0 })
  t.equal(r.outcome, 'failure')
  t.same(seen, ['login.failure'], 'later listeners still run')
  t.equal(audit.listenerErrors, 1)
})

t.test('gates carry what the wiring logs', async (t) => {
  const { lockout } = setup()
  const r = await attempt(lockout, { now: T0 })
  const g: LockoutGate = r.gate
  t.match(g, { action: 'proceed', tracked: true, scope: 'club', ip: '192.0.2.1', delayMs: 0, answer: undefined, ticket: { via: 'account', counted: true } })
})
