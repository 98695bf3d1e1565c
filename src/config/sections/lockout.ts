/**
 * Config section `lockout`: login routes, how a failed login is recognised in the application's answer, the
 * lockout thresholds, the answer Rampart gives while a login is locked, and the OWASP device cookie.
 *
 * Absent section: no lockout. `checkLockout` checks what spans fields or sections (known sites, one of
 * `path`/`pathPrefix`, a device-cookie secret when several instances share a Redis store) in the cross-check shape.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Strict, Duration, Enum, FailMode, Regex, Size } from '../types.js'
import type { PathSegment } from '../validate.js'
import { HeaderMap, formatAt, type SectionProblem } from './rate-limits.js'

export const LoginRoute = Strict({
  site: Type.Optional(Type.String({
    minLength: 1,
    description: 'Site name. Accounts are counted per site; logins without a site share one scope across sites.',
  })),
  method: Type.String({ pattern: '^[A-Za-z]{1,16}$', default: 'POST', description: 'Method of the login request.' }),
  path: Type.Optional(Type.String({ pattern: '^/', description: 'Exact login path (normalised like rate-limit paths).' })),
  pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Login path prefix, for `/login.php/anything`.' })),
  username: Type.String({
    pattern: '^body\\.[^\\s]+$', default: 'body.username',
    description: 'Where the user name is: `body.<field>` (form field name, or JSON dotted path). Trimmed and lower-cased.',
  }),
})

export const FailureMatchers = Strict({
  status: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
    default: [401, 403], description: 'Statuses that mean a failed login.',
  }),
  location: Type.Optional(Regex({ description: 'A `Location` matching this regex means failure (apps that redirect to `/login?error`).' })),
  bodyContains: Type.Optional(Type.String({ minLength: 1, description: 'Text in the first 64 KB of the body that means failure ("Invalid credentials").' })),
  successCookie: Type.Optional(Type.String({
    minLength: 1, description: 'A cookie whose appearance means success. With it set, an answer without it and without a failure sign is "unknown" (not counted).',
  })),
}, { default: {} })

export const PerIp = Strict({
  maxFailures: Type.Integer({ minimum: 0, default: 20, description: 'Failures from one address (any account) before it is locked. 0: off.' }),
  window: Duration({ default: '15m', description: 'Observation window for the address.' }),
  lockFor: Duration({ default: '15m', description: 'Lock duration for the address.' }),
}, { default: {} })

export const LockedAnswer = Strict({
  mode: Enum(['mimic', 'json', '423'] as const, {
    default: 'mimic',
    description: '`mimic`: answer like the application\'s own failed login (status, headers and body below), so the lock is invisible. `json`: 429 with a JSON body and Retry-After. `423`: 423 Locked with Retry-After.',
  }),
  status: Type.Optional(Type.Integer({ minimum: 200, maximum: 599, description: 'Status. Default: mimic → the first `failure.status` (or 200); json → 429; 423 → 423.' })),
  headers: { ...HeaderMap, description: 'Extra response headers, name → value. Mimic: the application\'s own, in its order; list `Date` (any value) where the application sends it, otherwise the current date follows these.' },
  body: Type.Optional(Type.String({ description: 'Body sent as is. Mimic: paste the application\'s failed-login page; json: a JSON text.' })),
  contentType: Type.Optional(Type.String({ minLength: 1, description: 'Content-Type. Default: text/html (mimic), application/json (json), text/plain (423).' })),
  delay: Duration({ default: '0ms', description: 'Wait this long before answering, to resemble the application\'s response time.' }),
}, { default: {} })

export const DeviceCookie = Strict({
  enabled: Type.Boolean({ default: true, description: 'Issue a device cookie on success; its browser can log in while the account is locked for others.' }),
  name: Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', default: '__Host-rampart-device', description: 'Cookie name (`__Host-` keeps it host-only, Secure, Path=/).' }),
  secret: Type.Optional(Type.String({ minLength: 32, description: 'HMAC key signing device cookies, shared by all instances. Use `${ENV_VAR}`.' })),
  ttl: Duration({ default: '30d', description: 'Device cookie lifetime.' }),
  maxFailures: Type.Integer({ minimum: 1, default: 10, description: 'Failures allowed per device cookie per window before it counts as an unknown device.' }),
}, { default: {} })

export const LockoutSection = Strict({
  mode: Enum(['enforce', 'shadow'] as const, {
    default: 'enforce', description: '`shadow`: count, log and audit, but never refuse a login.',
  }),
  logins: Type.Array(LoginRoute, { minItems: 1, description: 'Login routes.' }),
  failure: FailureMatchers,
  maxFailures: Type.Integer({ minimum: 1, default: 5, description: 'Failures per account within `window` before it is locked.' }),
  window: Duration({ default: '15m', description: 'Observation window, from the first failure.' }),
  lockFor: Duration({ default: '15m', description: 'First lock duration; doubles with each repeated lockout.' }),
  maxLockFor: Duration({ default: '24h', description: 'Longest lock. Lock levels are forgotten once an account stayed unlocked this long.' }),
  perIp: PerIp,
  answer: LockedAnswer,
  deviceCookie: DeviceCookie,
  onStoreError: Type.Optional(FailMode({ description: 'When the store fails: `open` lets the login through uncounted, `closed` refuses it. Default: `store.onStoreError`.' })),
  maxBody: Size({ default: '64kb', description: 'Largest login body buffered to read the user name; a larger body is read up to this size.' }),
}, { description: 'Login lockout. Absent: no lockout.' })

export type LockoutConfig = Static<typeof LockoutSection>

export interface LockoutCheckContext {
  readonly siteNames: readonly string[]
  /** True when counters are shared by several instances (a Redis store). */
  readonly sharedStore: boolean
}

export function checkLockout(config: LockoutConfig, ctx: LockoutCheckContext): SectionProblem[] {
  const out: SectionProblem[] = []
  const add = (at: PathSegment[], message: string, severity: 'error' | 'warning' = 'error'): void => {
    out.push({ at, path: formatAt(at), message, code: 'RAMPART_ERR_CONFIG_CONFLICT', severity })
  }
  config.logins.forEach((l, i) => {
    if (l.path === undefined && l.pathPrefix === undefined) add(['lockout', 'logins', i], 'set path or pathPrefix')
    if (l.path !== undefined && l.pathPrefix !== undefined) add(['lockout', 'logins', i], 'set either path or pathPrefix, not both')
    if (l.site !== undefined && !ctx.siteNames.includes(l.site)) {
      add(['lockout', 'logins', i, 'site'], `no site is named '${l.site}' (known: ${ctx.siteNames.join(', ') || 'none'})`)
    }
  })
  if (config.maxLockFor < config.lockFor) add(['lockout', 'maxLockFor'], 'must not be shorter than lockFor')
  const f = config.failure
  if (f.status.length === 0 && f.location === undefined && f.bodyContains === undefined) {
    add(['lockout', 'failure'], 'no failure sign configured (status, location or bodyContains): no login would ever count as failed')
  }
  const dc = config.deviceCookie
  if (dc.enabled && dc.secret === undefined) {
    if (ctx.sharedStore) {
      add(['lockout', 'deviceCookie', 'secret'], 'required when deviceCookie is enabled with a Redis store: every instance must verify the same cookies (or set enabled: false)')
    } else {
      add(['lockout', 'deviceCookie', 'secret'], 'not set: a random key is used, so device cookies stop working at each restart', 'warning')
    }
  }
  if (config.answer.mode === 'mimic' && config.answer.body === undefined && Object.keys(config.answer.headers).length === 0) {
    add(['lockout', 'answer'], 'mimic mode without body or headers answers an empty page; copy the application\'s failed-login answer here', 'warning')
  }
  return out
}
