/** Config section `lockout`: defaults, rejected values, and the cross-field checks of `checkLockout`. */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { compileSchema, validateText, formatProblem } from '../../src/config/validate.js'
import { LockoutSection, checkLockout, type LockoutConfig } from '../../src/config/sections/lockout.js'

const validator = compileSchema(Type.Object({ lockout: Type.Optional(LockoutSection) }, { additionalProperties: false }))
const check = (yaml: string, env: Record<string, string> = {}) => validateText<{ lockout?: LockoutConfig }>(yaml, { file: 'r.yaml', env }, validator)

t.test('defaults', async (t) => {
  const r = check('lockout:\n  logins: [{ path: /login }]')
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.config.lockout, {
    mode: 'enforce',
    logins: [{ path: '/login', method: 'POST', username: 'body.username' }],
    failure: { status: [401, 403] },
    maxFailures: 5, window: 900_000, lockFor: 900_000, maxLockFor: 86_400_000,
    perIp: { maxFailures: 20, window: 900_000, lockFor: 900_000 },
    answer: { mode: 'mimic', headers: {}, delay: 0 },
    deviceCookie: { enabled: true, name: '__Host-rampart-device', ttl: 2_592_000_000, maxFailures: 10 },
    maxBody: 65_536,
  })
  const absent = check('{}')
  t.ok(absent.ok && absent.config.lockout === undefined, 'no section: no lockout')
})

t.test('a full section', async (t) => {
  const r = check(`
lockout:
  logins:
    - { site: club, path: /login.php, username: body.login }
    - { site: resa, pathPrefix: /api/session, username: body.user.email }
  failure: { status: [], location: "^/login\\\\?error", bodyContains: "Invalid credentials", successCookie: remember_me }
  answer: { mode: mimic, status: 302, headers: { Location: "/login?error=1" }, delay: 300ms }
  deviceCookie: { secret: "\${DEVICE_SECRET}", ttl: 90d }
  onStoreError: closed
`, { DEVICE_SECRET: 'x'.repeat(40) })
  t.ok(r.ok, r.ok ? 'valid' : r.problems.map(formatProblem).join('\n'))
  if (!r.ok) return
  const l = r.config.lockout!
  t.equal(l.failure.location, '^/login\\?error')
  t.equal(l.answer.delay, 300)
  t.equal(l.deviceCookie.ttl, 90 * 86_400_000)
  t.equal(l.deviceCookie.secret, 'x'.repeat(40))
  t.equal(l.onStoreError, 'closed')
})

t.test('rejected values name the field', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['lockout: {}', /lockout: missing required key 'logins'/],
    ['lockout: { logins: [] }', /lockout\.logins: must NOT have fewer than 1 items/],
    ['lockout: { logins: [{ path: login }] }', /lockout\.logins\[0\]\.path: must match pattern/],
    ['lockout: { logins: [{ path: /login, username: header.x }] }', /lockout\.logins\[0\]\.username: must match pattern/],
    ['lockout: { logins: [{ path: /login }], failure: { location: "(" } }', /lockout\.failure\.location: must be a valid regular expression/],
    ['lockout: { logins: [{ path: /login }], maxFailures: 0 }', /lockout\.maxFailures: must be >= 1/],
    ['lockout: { logins: [{ path: /login }], window: 15 }', /lockout\.window: must be a duration/],
    ['lockout: { logins: [{ path: /login }], answer: { mode: html } }', /lockout\.answer\.mode: must be one of: "mimic", "json", "423"/],
    ['lockout: { logins: [{ path: /login }], deviceCookie: { secret: short } }', /lockout\.deviceCookie\.secret: must NOT have fewer than 32 characters/],
    ['lockout: { logins: [{ path: /login }], perIP: {} }', /unknown key 'perIP' \(did you mean 'perIp'\?\)/],
  ]
  for (const [yaml, want] of table) {
    const r = check(yaml)
    t.equal(r.ok, false, yaml)
    if (!r.ok) t.match(r.problems.map(formatProblem).join('\n'), want, yaml)
  }
})

t.test('checkLockout', async (t) => {
  const load = (yaml: string): LockoutConfig => {
    const r = check(yaml)
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
    return r.config.lockout!
  }
  const messages = (c: LockoutConfig, sharedStore: boolean) =>
    checkLockout(c, { siteNames: ['club', 'resa'], sharedStore }).map((p) => `${p.severity} ${p.path}: ${p.message}`)

  const good = load('lockout: { logins: [{ site: club, path: /login }], deviceCookie: { secret: "0123456789abcdef0123456789abcdef" }, answer: { body: x } }')
  t.same(messages(good, true), [], 'a sound section has no problems')

  const bad = load(`
lockout:
  logins: [{ site: nowhere }, { path: /a, pathPrefix: /b }]
  failure: { status: [] }
  lockFor: 1h
  maxLockFor: 30m
`)
  t.same(messages(bad, true), [
    'error lockout.logins[0]: set path or pathPrefix',
    "error lockout.logins[0].site: no site is named 'nowhere' (known: club, resa)",
    'error lockout.logins[1]: set either path or pathPrefix, not both',
    'error lockout.maxLockFor: must not be shorter than lockFor',
    'error lockout.failure: no failure sign configured (status, location or bodyContains): no login would ever count as failed',
    'error lockout.deviceCookie.secret: required when deviceCookie is enabled with a Redis store: every instance must verify the same cookies (or set enabled: false)',
    "warning lockout.answer: mimic mode without body or headers answers an empty page; copy the application's failed-login answer here",
  ])
  const single = load('lockout: { logins: [{ path: /login }], answer: { body: x } }')
  t.same(messages(single, false), ['warning lockout.deviceCookie.secret: not set: a random key is used, so device cookies stop working at each restart'],
    'one instance without a secret: a warning, not an error')
  const off = load('lockout: { logins: [{ path: /login }], deviceCookie: { enabled: false }, answer: { body: x } }')
  t.same(messages(off, true), [], 'device cookies off: no secret needed')
})
