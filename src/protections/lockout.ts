/**
 * Login lockout, wired: the `lockout` core (`src/lockout/lockout.ts`) applied to live login requests.
 *
 * Per login request (a route of `lockout.logins`, matched by site, method and normalised path):
 * - `onRequest`: marks the request as a login and removes `Accept-Encoding` before it is forwarded, so that the
 *   application answers uncompressed and the failure marker can be read. Other requests cost one Set lookup.
 * - body stage: up to `lockout.maxBody` bytes are buffered (login routes only; the exact bytes are forwarded) and
 *   the user name is read through the plan's shared body-field step; then `check` decides before the application
 *   is contacted. A refused attempt waits `answer.delay` and gets the locked answer: by default the configured
 *   copy of the application's own failed-login answer, exactly as configured (Rampart's default
 *   `Cache-Control: no-store` comes off again when the copy names no Cache-Control). A body cut at `maxBody`
 *   before a user name could be read is refused with 413 in enforce mode: padding must not buy uncounted guesses.
 * - outcome: decided in `onUpstreamHeaders` when the headers settle it (a failure status or Location, a 5xx, a
 *   redirect, an empty body, or no `bodyContains` configured); otherwise from the first 64 KB of the body as it
 *   streams past (`onUpstreamBody`), decompressed if the application compressed it anyway. A redirect's body is
 *   not searched: browsers never show it, so no application signals a failure there. `record` books the outcome.
 * - device cookie (OWASP): issued on success by appending a Set-Cookie line in `onUpstreamHeaders`. Headers are
 *   sent before the body streams, so a cookie can only be issued when the headers decide success. With
 *   `bodyContains` set, that is a redirect or an empty answer after a login, which is what login forms send on
 *   success. An application answering success with a 200 page gets no device cookies (`describe()` says which
 *   way outcomes are read; such successes are counted in `deviceCookieMissed`).
 * - an attempt that never got an upstream answer (upstream error) is booked as `unknown`, which refunds it.
 *
 * Audit: every event of the core's audit hub (failure, success, lockout, locked attempt, store error) becomes one
 * pino line whose `type` is the event type (`login.failure` …), with `audit: true`; user names appear only hashed.
 * Counters for metrics are on `counters` and in `describe()`.
 *
 * Fails: `lockout.onStoreError` (default `store.onStoreError`): `open` lets the login through uncounted, `closed`
 * answers it with the locked answer. Logged per attempt as `RAMPART_ERR_STORE_UNAVAILABLE` with `failMode` and
 * `action` (login traffic is small, so these lines are not throttled). No attempt waits on the store longer than
 * `store.commandTimeout` (plus `answer.delay` when refused).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import { brotliDecompressSync, gunzipSync, inflateSync, constants as zlib } from 'node:zlib'
import type { FastifyRequest } from 'fastify'
import type { RampartConfig } from '../config/schema.js'
import type { Answer, Protection } from '../server/protection.js'
import type { UpstreamHeaders } from '../proxy/forwarder.js'
import type { HttpAnswer } from '../limits/answer.js'
import { normalizePath } from '../limits/match.js'
import { compileLockout, type CompiledLogin, type Lockout, type LockoutGate } from '../lockout/lockout.js'
import { BODY_SCAN_LIMIT, type LoginOutcome } from '../lockout/outcome.js'
import { createAuditHub, type LockoutAuditEvent } from '../lockout/audit.js'
import { deviceBinding, issueDeviceCookie, serializeDeviceCookie } from '../lockout/device-cookie.js'
import { bodyFieldStep } from './body-fields.js'
import type { StoreProtectionContext } from './rate-limits.js'

export interface LockoutCounters {
  /** Login attempts checked (with or without a user name). */
  attempts: number
  /** Attempts answered by Rampart: locked account or address, ambiguous user name, store down (closed). */
  refused: number
  refusedAccount: number
  refusedIp: number
  refusedAmbiguous: number
  refusedStoreDown: number
  /** Body cut at `maxBody` before a user name could be read (413). */
  tooLarge: number
  /** Outcomes booked. */
  failures: number
  successes: number
  unknown: number
  lockoutsAccount: number
  lockoutsIp: number
  storeErrors: number
  deviceCookiesIssued: number
  /** Successes decided from the body, too late to issue a device cookie. */
  deviceCookieMissed: number
}

export interface LockoutProtection extends Protection {
  readonly lockout: Lockout
  readonly counters: Readonly<LockoutCounters>
}

type Phase = 'login' | 'checked' | 'awaiting-body' | 'booked' | 'answered'

interface LoginState {
  readonly login: CompiledLogin
  phase: Phase
  gate: LockoutGate | undefined
  location: string | undefined
  setCookie: string | string[] | undefined
}

const TOO_LARGE: Answer = Object.freeze({ status: 413, body: '', page: true, code: 'RAMPART_ERR_HTTP_BODY_TOO_LARGE' })
/** Largest decoded prefix produced from a compressed login answer (only the first 64 KB is searched). */
const MAX_DECODED = 1024 * 1024

const AUDIT_MESSAGES: Record<LockoutAuditEvent['type'], string> = {
  'login.success': 'login succeeded',
  'login.failure': 'login failed',
  'login.lockout': 'locked after failed logins',
  'login.locked-attempt': 'login refused: locked',
  'login.unlock': 'lock lifted',
  'login.store-error': 'the store did not answer; the lockout applied its onStoreError choice',
}

export function compileLockoutProtection(config: RampartConfig, ctx: StoreProtectionContext): LockoutProtection | undefined {
  const section = config.lockout
  if (section === undefined) return undefined
  const { logger, store } = ctx
  const event = (outcome: string): void => ctx.metrics?.protectionEvent('lockout', outcome)
  const now = ctx.now ?? (() => Date.now())
  const dc = section.deviceCookie
  // The wiring issues device cookies itself (synchronously, while the headers are still open), so it must know
  // the signing key: without a configured one (single instance only; `rampart check` warns) it draws the random
  // key the core would otherwise draw, and hands it to the core.
  const deviceSecret = dc.enabled ? dc.secret ?? randomBytes(32).toString('base64url') : undefined
  const audit = createAuditHub()
  const lockout = compileLockout(
    dc.enabled && dc.secret === undefined ? { ...section, deviceCookie: { ...dc, secret: deviceSecret } } : section,
    { store, keySecret: config.store.keySecret, defaultOnStoreError: config.store.onStoreError, audit },
  )
  const step = bodyFieldStep(config)
  const loginMethods = new Set(section.logins.map((l) => l.method.toUpperCase()))
  const readsBody = lockout.outcome.needsBody
  const states = new WeakMap<FastifyRequest, LoginState>()
  const pending = new Set<Promise<unknown>>()
  const answers = new WeakMap<HttpAnswer, Answer>()
  // A mimic answer is sent like a proxied one (Answer.asUpstream): headers in the application's order, then the same
  // response policy, so neither Rampart's own-answer headers nor their order give the lock away.
  const mimic = section.answer.mode === 'mimic'

  const counters: LockoutCounters = {
    attempts: 0, refused: 0, refusedAccount: 0, refusedIp: 0, refusedAmbiguous: 0, refusedStoreDown: 0, tooLarge: 0,
    failures: 0, successes: 0, unknown: 0, lockoutsAccount: 0, lockoutsIp: 0, storeErrors: 0,
    deviceCookiesIssued: 0, deviceCookieMissed: 0,
  }

  audit.on((e) => {
    const { time, ...fields } = e
    const extra = e.type === 'login.store-error' ? { protection: 'lockout', action: e.applied } : {}
    const level = e.type === 'login.lockout' || e.type === 'login.store-error' ? 'warn' : 'info'
    // `at`: the event's clock (pino's own `time` is the write time).
    logger[level]({ ...fields, ...extra, audit: true, at: time }, AUDIT_MESSAGES[e.type])
    if (e.type === 'login.lockout') {
      if (e.kind === 'account') counters.lockoutsAccount++
      else counters.lockoutsIp++
      event(`lockout-${e.kind}`)
    } else if (e.type === 'login.store-error') {
      counters.storeErrors++
      event('store-error')
    }
  })

  /** The gateway's answer for a locked answer; mimic answers are one frozen object, converted once. */
  function answerOf(a: HttpAnswer): Answer {
    let out = answers.get(a)
    if (out === undefined) {
      out = { status: a.status, headers: Object.entries(a.headers), body: a.body, code: 'RAMPART_ERR_LOCKOUT_LOCKED', asUpstream: mimic }
      if (Object.isFrozen(a)) answers.set(a, out)
    }
    return out
  }

  function book(s: LoginState, outcome: LoginOutcome, at: number): void {
    s.phase = 'booked'
    if (outcome === 'failure') counters.failures++
    else if (outcome === 'success') counters.successes++
    else counters.unknown++
    event(outcome)
    const p = lockout.record(s.gate!, outcome, at).catch((err: unknown) => {
      logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', protection: 'lockout', err }, 'recording a login outcome failed')
    })
    pending.add(p)
    void p.finally(() => pending.delete(p))
  }

  /** True when the answer's headers settle the outcome (see the module header). */
  function decidedByHeaders(request: FastifyRequest, status: number, headers: UpstreamHeaders, location: string | undefined, setCookie: string | string[] | undefined): boolean {
    if (!readsBody) return true
    if (status >= 500 || (status >= 300 && status < 400) || status === 204) return true
    if (request.raw.method === 'HEAD' || headers['content-length'] === '0') return true
    return lockout.detect({ status, location, setCookie, now: now() }) === 'failure'
  }

  function onUpstreamHeaders(headers: UpstreamHeaders, request: FastifyRequest, status: number): UpstreamHeaders {
    const s = states.get(request)
    if (s === undefined || s.phase !== 'checked') return headers
    const location = typeof headers['location'] === 'string' ? headers['location'] : undefined
    const setCookie = headers['set-cookie']
    if (!decidedByHeaders(request, status, headers, location, setCookie)) {
      s.phase = 'awaiting-body'
      s.location = location
      s.setCookie = setCookie
      return headers
    }
    const at = now()
    const outcome = lockout.detect({ status, location, setCookie, now: at })
    if (outcome === 'success' && deviceSecret !== undefined) {
      const g = s.gate!
      const cookie = serializeDeviceCookie(dc.name, issueDeviceCookie(deviceSecret, deviceBinding(g.scope, g.account), at, dc.ttl, g.device), at)
      headers['set-cookie'] = setCookie === undefined ? [cookie] : Array.isArray(setCookie) ? [...setCookie, cookie] : [setCookie, cookie]
      counters.deviceCookiesIssued++
    }
    book(s, outcome, at)
    return headers
  }

  function onUpstreamBody(request: FastifyRequest, status: number, headers: UpstreamHeaders, head: Buffer): void {
    const s = states.get(request)
    if (s === undefined || s.phase !== 'awaiting-body') return
    const at = now()
    const body = decoded(head, headers['content-encoding'])
    let outcome: LoginOutcome
    if (body === undefined) {
      outcome = 'unknown'
      logger.warn({ protection: 'lockout', reqId: request.id, site: request.rampart.site.name, encoding: headers['content-encoding'] },
        'a compressed login answer could not be decoded; the attempt is not counted')
    } else {
      outcome = lockout.detect({ status, location: s.location, setCookie: s.setCookie, body, now: at })
    }
    if (outcome === 'success' && deviceSecret !== undefined) counters.deviceCookieMissed++
    book(s, outcome, at)
  }

  return {
    name: 'lockout',
    lockout,
    counters,
    onRequest(request) {
      const method = request.raw.method ?? 'GET'
      if (!loginMethods.has(method)) return undefined
      const st = request.rampart
      const login = lockout.matchLogin(st.site.name, method, normalizePath(st.path))
      if (login === undefined) return undefined
      states.set(request, { login, phase: 'login', gate: undefined, location: undefined, setCookie: undefined })
      // The forwarder copies request.raw.headers after this hook: ask for an answer whose marker can be read.
      if (readsBody) delete request.raw.headers['accept-encoding']
      return undefined
    },
    bodyLimit: (request) => (states.get(request)?.phase === 'login' ? section.maxBody : 0),
    async onBody(request, head, truncated) {
      const s = states.get(request)
      if (s === undefined || s.phase !== 'login') return undefined
      const st = request.rampart
      const fields = step.read(request, head, truncated)
      const cookie = request.raw.headers.cookie
      counters.attempts++
      const gate = await lockout.check(s.login, {
        fields, ip: st.clientIp, cookieHeader: Array.isArray(cookie) ? cookie.join('; ') : cookie, now: now(),
      })
      s.gate = gate
      if (gate.action === 'refuse') {
        s.phase = 'answered'
        counters.refused++
        if (gate.reason === 'account') counters.refusedAccount++
        else if (gate.reason === 'ip') counters.refusedIp++
        else if (gate.reason === 'ambiguous') counters.refusedAmbiguous++
        else if (gate.reason === 'store-error') counters.refusedStoreDown++
        event('refused')
        if (gate.delayMs > 0) await sleep(gate.delayMs)
        return answerOf(gate.answer!)
      }
      if (!gate.tracked) {
        s.phase = 'booked'
        if (truncated) {
          counters.tooLarge++
          event('too-large')
          logger.info({
            code: 'RAMPART_ERR_HTTP_BODY_TOO_LARGE', protection: 'lockout', mode: lockout.mode, reqId: request.id,
            site: st.site.name, clientIp: st.clientIp, capBytes: section.maxBody,
          }, 'login body cut at maxBody before the user name')
          if (lockout.mode === 'enforce') return TOO_LARGE
        }
        return undefined
      }
      s.phase = 'checked'
      return undefined
    },
    onUpstreamHeaders,
    responseBodyBytes: (request) => (states.get(request)?.phase === 'awaiting-body' ? BODY_SCAN_LIMIT : 0),
    onUpstreamBody,
    onComplete(request) {
      // Checked and charged, but no upstream answer came (upstream error, Rampart error page): refund the attempt.
      const s = states.get(request)
      if (s !== undefined && s.phase === 'checked') book(s, 'unknown', now())
    },
    describe: () => ({
      mode: lockout.mode,
      store: store.kind,
      onStoreError: lockout.onStoreError,
      logins: section.logins.map((l) => `${l.site ?? '*'} ${l.method} ${l.path ?? `${l.pathPrefix}*`}`),
      answer: section.answer.mode,
      outcomeFrom: readsBody ? 'headers or first 64 KB of the body' : 'headers',
      deviceCookie: dc.enabled ? (dc.secret === undefined ? 'on (random key: cookies end at restart)' : 'on') : 'off',
      counters,
    }),
    async close() {
      // Outcomes still being written when a reload retires this plan or the process stops.
      await Promise.allSettled([...pending])
    },
  }
}

/**
 * The start of a login answer as the application meant it: as is without a content coding; decoded (what can be
 * decoded of the prefix) for gzip, deflate and br; undefined for anything else or a broken stream.
 */
export function decoded(head: Buffer, encoding: string | string[] | undefined): Buffer | undefined {
  if (encoding === undefined) return head
  const coding = (Array.isArray(encoding) ? encoding.join(',') : encoding).trim().toLowerCase()
  if (coding === '' || coding === 'identity') return head
  if (head.length === 0) return head
  try {
    // Z_SYNC_FLUSH: a prefix of a compressed stream decodes as far as it goes instead of failing as truncated.
    if (coding === 'gzip' || coding === 'x-gzip') return gunzipSync(head, { finishFlush: zlib.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED })
    if (coding === 'deflate') return inflateSync(head, { finishFlush: zlib.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED })
    if (coding === 'br') return brotliDecompressSync(head, { finishFlush: zlib.BROTLI_OPERATION_FLUSH, maxOutputLength: MAX_DECODED })
  } catch {
    return undefined
  }
  return undefined
}
