/**
 * The login-lockout protection: compiles `lockout` once, then for each login attempt decides before the
 * application sees it (`check`) and books the result after it answered (`record`). The Fastify wiring calls it;
 * it talks to the store only through the `Store` interface.
 *
 * Request flow for the wiring:
 *   1. onRequest: `login = lockout.matchLogin(site, method, normalizePath(url))`; when set, buffer up to
 *      `lockout.maxBody` bytes of the body (preHandler).
 *   2. `fields = extractFields(lockout.bodyFields, body, contentType, { truncated })`, then
 *      `gate = await lockout.check(login, { fields, ip, cookieHeader, now })`.
 *   3. `gate.action === 'refuse'`: wait `gate.delayMs`, send `gate.answer`, do not contact the upstream.
 *   4. Otherwise proxy. Keep the answer's status, Location, Set-Cookie and (when `lockout.outcome.needsBody`) the
 *      first 64 KB of the decoded body before sending headers on; then
 *      `outcome = lockout.detect({ status, location, setCookie, body, now })` and
 *      `{ setCookie } = await lockout.record(gate, outcome, now)`; append `setCookie` (the device cookie) when set.
 * `check` and `record` never throw. A store error is handled per `onStoreError` and reported as an audit event
 * (`login.store-error`) that carries the choice made. In shadow mode nothing is ever refused; events say
 * `enforced: false`. Reset and other non-login requests never reach this module, so they never lock an account.
 */
import { randomBytes } from 'node:crypto'
import { RampartError } from '../errors.js'
import type { LockoutConfig } from '../config/sections/lockout.js'
import { compileFieldSpec, normalizeIdentifier, type ExtractedFields, type FieldSpec } from '../body/fields.js'
import { compileMatch, type Matcher } from '../limits/match.js'
import type { HttpAnswer } from '../limits/answer.js'
import { hashSubject, ipSubject } from '../store/keys.js'
import type { Store } from '../store/types.js'
import type { LockoutLimits, Ticket, DenyReason, Outcome } from './policy.js'
import { compileOutcomeMatchers, detectLoginOutcome, type LoginResponse, type OutcomeMatchers, type LoginOutcome } from './outcome.js'
import { compileLockedAnswer, buildLockedAnswer, type CompiledLockedAnswer } from './answer.js'
import { deviceBinding, issueDeviceCookie, verifyDeviceCookie, readCookie, serializeDeviceCookie } from './device-cookie.js'
import { createAuditHub, type AuditHub } from './audit.js'

export interface CompiledLogin {
  readonly index: number
  /** Key segment shared by the logins of one site (`all` without a site). */
  readonly scope: string
  readonly matches: Matcher
  /** Body field holding the user name. */
  readonly usernameField: string
}

export interface AttemptInput {
  readonly fields: ExtractedFields
  /** Client address (after trusted proxies). */
  readonly ip: string
  /** The request's `Cookie` header, to find the device cookie. */
  readonly cookieHeader?: string | undefined
  readonly now: number
}

/** The decision of `check`, passed back to `record`. Opaque apart from the documented fields. */
export interface LockoutGate {
  readonly action: 'proceed' | 'refuse'
  /** Why a refusal (or, in shadow mode, a would-be refusal). */
  readonly reason: DenyReason | 'ambiguous' | 'store-error' | undefined
  /** Set when `action` is `refuse`. */
  readonly answer: HttpAnswer | undefined
  readonly delayMs: number
  readonly retryAfterMs: number
  /** False when the attempt is not tracked (no user name in the body): `record` does nothing. */
  readonly tracked: boolean
  readonly scope: string
  /** Hashed user name (for logs). */
  readonly account: string
  readonly ip: string
  readonly device: string | undefined
  readonly ticket: Ticket
}

export interface RecordResult {
  /** A Set-Cookie value for the device cookie, after a success. */
  readonly setCookie?: string
}

export interface Lockout {
  readonly mode: 'enforce' | 'shadow'
  readonly logins: readonly CompiledLogin[]
  /** User-name fields of every login, for `extractFields`. */
  readonly bodyFields: FieldSpec
  readonly maxBody: number
  readonly outcome: OutcomeMatchers
  readonly audit: AuditHub
  readonly onStoreError: 'open' | 'closed'
  readonly limits: LockoutLimits
  matchLogin(site: string | undefined, method: string, normalizedPath: string): CompiledLogin | undefined
  check(login: CompiledLogin, input: AttemptInput): Promise<LockoutGate>
  detect(response: LoginResponse): LoginOutcome
  record(gate: LockoutGate, outcome: Outcome, now: number): Promise<RecordResult>
}

export interface CompileLockoutOptions {
  readonly store: Store
  readonly keySecret?: string | undefined
  readonly defaultOnStoreError: 'open' | 'closed'
  readonly audit?: AuditHub
}

/** Retry-After of a refusal while the store is down: soon, the store may be back. */
const STORE_DOWN_RETRY_MS = 1000

export function compileLockout(config: LockoutConfig, options: CompileLockoutOptions): Lockout {
  const logins: CompiledLogin[] = config.logins.map((l, index) => {
    if (l.path === undefined && l.pathPrefix === undefined) {
      throw new RampartError('RAMPART_ERR_CONFIG_CONFLICT', `lockout.logins[${index}]: set path or pathPrefix`)
    }
    return Object.freeze({
      index,
      scope: l.site ?? 'all',
      matches: compileMatch({ site: l.site, method: l.method, path: l.path, pathPrefix: l.pathPrefix }),
      usernameField: l.username.slice('body.'.length),
    })
  })
  const limits: LockoutLimits = Object.freeze({
    maxFailures: config.maxFailures,
    windowMs: config.window,
    lockMs: config.lockFor,
    maxLockMs: config.maxLockFor,
    ipMaxFailures: config.perIp.maxFailures,
    ipWindowMs: config.perIp.window,
    ipLockMs: config.perIp.lockFor,
    deviceMaxFailures: config.deviceCookie.enabled ? config.deviceCookie.maxFailures : 0,
  })
  const dc = config.deviceCookie
  // Without a configured secret (single instance only, see checkLockout) cookies last until the next restart.
  const deviceSecret = dc.enabled ? dc.secret ?? randomBytes(32).toString('base64url') : undefined
  const outcome = compileOutcomeMatchers(config.failure)
  const lockedAnswer: CompiledLockedAnswer = compileLockedAnswer(config.answer, config.failure.status)
  const store = options.store
  const audit = options.audit ?? createAuditHub()
  const onStoreError = config.onStoreError ?? options.defaultOnStoreError
  const enforced = config.mode === 'enforce'
  const keySecret = options.keySecret

  function gate(
    action: 'proceed' | 'refuse', reason: LockoutGate['reason'], retryAfterMs: number,
    base: Pick<LockoutGate, 'scope' | 'account' | 'ip' | 'device' | 'ticket' | 'tracked'>,
  ): LockoutGate {
    const refuse = action === 'refuse' && enforced
    return {
      action: refuse ? 'refuse' : 'proceed',
      reason,
      answer: refuse ? buildLockedAnswer(lockedAnswer, retryAfterMs) : undefined,
      delayMs: refuse ? lockedAnswer.delayMs : 0,
      retryAfterMs,
      ...base,
    }
  }

  async function check(login: CompiledLogin, input: AttemptInput): Promise<LockoutGate> {
    const ip = ipSubject(input.ip)
    const values = input.fields.get(login.usernameField)
    const names = new Set<string>()
    for (const v of values ?? []) {
      const n = normalizeIdentifier(v)
      if (n !== '') names.add(n)
    }
    const untracked = { scope: login.scope, account: '', ip, device: undefined, ticket: { via: 'account', counted: false }, tracked: false } as const
    if (names.size === 0) return gate('proceed', undefined, 0, untracked)
    if (names.size > 1) {
      // The application reads one of them (PHP: the last) and we cannot know which: refuse rather than count a decoy.
      audit.emit({ type: 'login.locked-attempt', code: 'RAMPART_ERR_LOCKOUT_LOCKED', time: input.now, scope: login.scope, enforced, account: '', ip, reason: 'ambiguous', retryAfterMs: 0 })
      return gate('refuse', 'ambiguous', 0, untracked)
    }
    const username = names.values().next().value as string
    const account = hashSubject(keySecret, username)
    const device = deviceSecret
      ? verifyDeviceCookie(deviceSecret, readCookie(input.cookieHeader, dc.name), deviceBinding(login.scope, account), input.now)
      : undefined
    const base = { scope: login.scope, account, ip, device, tracked: true }
    try {
      const r = await store.lockoutCheck({ scope: login.scope, account, ip, device, limits, now: input.now })
      if (r.allowed) return gate('proceed', undefined, 0, { ...base, ticket: { via: r.via, counted: true } })
      audit.emit({
        type: 'login.locked-attempt', code: 'RAMPART_ERR_LOCKOUT_LOCKED', time: input.now, scope: login.scope, enforced,
        account, ip, reason: r.reason ?? 'account', retryAfterMs: r.retryAfterMs,
      })
      // The store charged nothing. In shadow mode the attempt goes on and `record` counts its real outcome.
      return gate('refuse', r.reason ?? 'account', r.retryAfterMs, { ...base, ticket: { via: r.via, counted: false } })
    } catch (err) {
      const closed = onStoreError === 'closed'
      audit.emit({
        type: 'login.store-error', code: 'RAMPART_ERR_STORE_UNAVAILABLE', time: input.now, scope: login.scope, enforced,
        op: 'check', account, ip, failMode: onStoreError, applied: closed && enforced ? 'refuse' : 'proceed', message: messageOf(err),
      })
      const ticket: Ticket = { via: device ? 'device' : 'account', counted: false }
      return gate(closed ? 'refuse' : 'proceed', 'store-error', closed ? STORE_DOWN_RETRY_MS : 0, { ...base, ticket })
    }
  }

  async function record(g: LockoutGate, result: Outcome, now: number): Promise<RecordResult> {
    if (!g.tracked || g.action === 'refuse') return {}
    let setCookie: string | undefined
    if (result === 'success' && deviceSecret) {
      const cookie = issueDeviceCookie(deviceSecret, deviceBinding(g.scope, g.account), now, dc.ttl, g.device)
      setCookie = serializeDeviceCookie(dc.name, cookie, now)
    }
    try {
      const r = await store.lockoutRecord({ scope: g.scope, account: g.account, ip: g.ip, device: g.device, limits, ticket: g.ticket, outcome: result, now })
      const common = { time: now, scope: g.scope, enforced }
      if (result === 'success') audit.emit({ type: 'login.success', ...common, account: g.account, ip: g.ip, via: g.ticket.via })
      if (result === 'failure') {
        audit.emit({
          type: 'login.failure', ...common, account: g.account, ip: g.ip, via: g.ticket.via,
          accountFailures: r.accountFailures, ipFailures: r.ipFailures, deviceFailures: r.deviceFailures,
        })
      }
      if (r.lockedAccount) {
        audit.emit({ type: 'login.lockout', ...common, kind: 'account', account: g.account, ip: g.ip, until: r.lockedAccount.until, durationMs: r.lockedAccount.durationMs, level: r.lockedAccount.level })
      }
      if (r.lockedIp) {
        audit.emit({ type: 'login.lockout', ...common, kind: 'ip', account: undefined, ip: g.ip, until: r.lockedIp.until, durationMs: r.lockedIp.durationMs, level: 0 })
      }
    } catch (err) {
      audit.emit({
        type: 'login.store-error', code: 'RAMPART_ERR_STORE_UNAVAILABLE', time: now, scope: g.scope, enforced, op: 'record',
        account: g.account, ip: g.ip, failMode: onStoreError, applied: 'not-counted', message: messageOf(err),
      })
    }
    return setCookie ? { setCookie } : {}
  }

  return {
    mode: config.mode,
    logins,
    bodyFields: compileFieldSpec(logins.map((l) => l.usernameField)),
    maxBody: config.maxBody,
    outcome,
    audit,
    onStoreError,
    limits,
    matchLogin(site, method, path) {
      for (const l of logins) if (l.matches(site, method, path)) return l
      return undefined
    },
    check,
    detect: (response) => detectLoginOutcome(outcome, response),
    record,
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
