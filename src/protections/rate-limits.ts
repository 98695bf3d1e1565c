/**
 * Rate limits, wired: the `rateLimits` core (`src/limits/limiter.ts`) applied to live requests.
 *
 * Per request:
 * - `onRequest`: the limits matching site, method and normalised path are looked up (no allocation when none
 *   match). Limits keyed only by address or header are decided here, before any body is read.
 * - body stage: only when a matching limit is keyed by a body field (`body.email`). The gateway buffers up to
 *   `BODY_CAP` bytes for those requests only; every other route keeps streaming. Fields come from the plan's shared
 *   body-field step (`./body-fields.ts`); the exact original bytes are still forwarded.
 * - a refusal ends the request with the limit's answer: 429 (or the configured status) with `Retry-After` and the
 *   RateLimit fields, or the configured "pretend success" answer, sent like a proxied answer (`Answer.asUpstream`:
 *   its headers in their order, then the same response policy, no Rampart own-answer header), so it reads as the
 *   application's.
 * - `onUpstreamHeaders`: `RateLimit` and `RateLimit-Policy` on allowed responses for limits with `headers: true`.
 *
 * A body cut at `BODY_CAP` before a key field could be read is refused with 413 by an enforced limit: otherwise
 * padding a form past the cap would dodge the limit. Browsers send form fields in page order, so put the key field
 * before any file input of a large multipart form.
 *
 * Fails: per limit, `onStoreError` (default `store.onStoreError`): `open` lets the request through uncounted,
 * `closed` refuses it (Retry-After 1 s). No request waits on the store longer than `store.commandTimeout`. Each
 * choice is logged as `RAMPART_ERR_STORE_UNAVAILABLE` with `failMode` and `action`, at most once per limit every
 * `STORE_ERROR_LOG_MS` with the number of lines suppressed, so a dead Redis cannot flood the log. Shadow limits log
 * what they would have refused and let everything through.
 */
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import type { Answer, Protection } from '../server/protection.js'
import type { UpstreamHeaders } from '../proxy/forwarder.js'
import type { Store } from '../store/types.js'
import type { ExtractedFields } from '../body/fields.js'
import { compileRateLimits, type CompiledLimit, type RateLimitDecision, type RateLimiter } from '../limits/limiter.js'
import { rateLimitHeaders } from '../limits/headers.js'
import { normalizePath } from '../limits/match.js'
import type { HttpAnswer } from '../limits/answer.js'
import { bodyFieldStep } from './body-fields.js'
import { ERRORS } from '../errors.js'
import { isPromise, type MaybePromise } from '../maybe-promise.js'

/** Bytes of body buffered for a body-keyed limit. A reset or contact form is a few hundred bytes. */
export const BODY_CAP = 64 * 1024
/** Shortest interval between two store-error log lines of one limit. */
export const STORE_ERROR_LOG_MS = 10_000

export interface StoreProtectionContext {
  readonly logger: Logger
  readonly store: Store
  /** Clock in ms; default `Date.now()`, read at call time so tests can fake `Date`. */
  readonly now?: () => number
  /** Metrics hook: one call per event worth counting (refusals, lockouts, store errors; not per allowed request). */
  readonly metrics?: { protectionEvent(protection: string, outcome: string): void } | undefined
}

/** Per-limit counters, ready for a metrics exporter. */
export interface LimitCounters {
  /** Requests counted under the limit (allowed). */
  passed: number
  /** Requests refused (429 or pretend answer), store-down refusals included. */
  refused: number
  /** Over a shadow limit: let through, logged. */
  shadowed: number
  allowlisted: number
  /** Matching requests that lacked a key part (the limit did not apply). */
  noKey: number
  storeErrors: number
  /** Body cut at the cap before the key field: refused with 413. */
  tooLarge: number
}

export interface RateLimitProtection extends Protection {
  readonly limiter: RateLimiter
  /** Limit name → counters. */
  readonly counters: Readonly<Record<string, LimitCounters>>
}

/** What the rate limits keep for one request between its stages (on `RequestState.rateLimits`). */
export interface RequestLimits {
  /** Matching limits that wait for the body. */
  bodyLimits: CompiledLimit[] | undefined
  /** Decisions so far that advertise RateLimit fields. */
  advertised: RateLimitDecision[] | undefined
}

const TOO_LARGE: Answer = Object.freeze({ status: 413, body: '', page: true, code: 'RAMPART_ERR_HTTP_BODY_TOO_LARGE' })

export function compileRateLimitProtection(config: RampartConfig, ctx: StoreProtectionContext): RateLimitProtection | undefined {
  if (config.rateLimits.length === 0) return undefined
  const { logger, store } = ctx
  const event = (outcome: string): void => ctx.metrics?.protectionEvent('rate-limits', outcome)
  const now = ctx.now ?? (() => Date.now())
  const limiter = compileRateLimits(config.rateLimits, {
    store, keySecret: config.store.keySecret, defaultOnStoreError: config.store.onStoreError,
  })
  const needsPath = config.rateLimits.some((l) => l.match.path !== undefined || l.match.pathPrefix !== undefined)
  const anyBody = limiter.limits.some((l) => l.needsBody)
  const anyAdvertised = limiter.limits.some((l) => l.advertise)
  const step = anyBody ? bodyFieldStep(config) : undefined

  const counters: Record<string, LimitCounters> = {}
  for (const l of limiter.limits) {
    counters[l.name] = { passed: 0, refused: 0, shadowed: 0, allowlisted: 0, noKey: 0, storeErrors: 0, tooLarge: 0 }
  }
  // Pretend answers are frozen per limit: convert each once.
  const pretend = new Map<CompiledLimit, Answer>()
  for (const l of limiter.limits) {
    if (l.answer.kind === 'pretend') pretend.set(l, { ...toAnswer(l.answer.answer), asUpstream: true })
  }
  const lastStoreLog = new Map<CompiledLimit, { at: number; suppressed: number }>()

  function stateOf(request: FastifyRequest): RequestLimits {
    const st = request.rampart
    return (st.rateLimits ??= { bodyLimits: undefined, advertised: undefined })
  }

  function logStoreError(request: FastifyRequest, d: RateLimitDecision): void {
    // performance.now(): immune to a faked or stepped wall clock.
    const t = performance.now()
    const last = lastStoreLog.get(d.limit)
    if (last !== undefined && t - last.at < STORE_ERROR_LOG_MS) {
      last.suppressed++
      return
    }
    lastStoreLog.set(d.limit, { at: t, suppressed: 0 })
    logger.warn({
      code: 'RAMPART_ERR_STORE_UNAVAILABLE', protection: 'rate-limits', limit: d.name, failMode: d.failMode,
      action: d.action === 'block' ? 'refuse' : 'pass', reqId: request.id, site: request.rampart.site.name,
      suppressed: last?.suppressed ?? 0, err: { message: d.error?.message },
    }, ERRORS.RAMPART_ERR_STORE_UNAVAILABLE.message)
  }

  /** Counts and logs one decision. */
  function note(request: FastifyRequest, d: RateLimitDecision): void {
    const c = counters[d.name]!
    switch (d.reason) {
      case 'under': c.passed++; break
      case 'allowlisted': c.allowlisted++; break
      case 'no-key': c.noKey++; break
      case 'over-shadow':
        c.shadowed++
        event('shadowed')
        logger.info({
          code: 'RAMPART_ERR_RATELIMIT_EXCEEDED', limit: d.name, mode: 'shadow', enforced: false, reqId: request.id,
          site: request.rampart.site.name, clientIp: request.rampart.clientIp, retryAfterMs: d.resetMs,
        }, 'rate limit exceeded (shadow mode: let through)')
        break
      case 'store-error':
        c.storeErrors++
        event('store-error')
        logStoreError(request, d)
        break
      case 'ambiguous':
        // An enforced limit refuses (logged with the refusal); a shadow limit only reports it.
        if (d.action === 'pass') {
          c.shadowed++
          event('shadowed')
          logger.info({
            code: 'RAMPART_ERR_RATELIMIT_EXCEEDED', limit: d.name, mode: 'shadow', enforced: false, reason: 'ambiguous',
            reqId: request.id, site: request.rampart.site.name, clientIp: request.rampart.clientIp,
          }, 'rate limit key ambiguous (shadow mode: let through)')
        }
        break
      case 'over':
        break
    }
    if (d.action === 'block') {
      c.refused++
      event('refused')
    }
  }

  /** Decides `limits` for this request; the answer of the first refusing one, if any. Synchronous when the limiter is. */
  function decide(request: FastifyRequest, limits: readonly CompiledLimit[], fields: ExtractedFields | undefined): MaybePromise<Answer | undefined> {
    const st = request.rampart
    const input = { ip: st.clientIp, headers: request.raw.headers, fields, now: now() }
    const decided = limits.length === 1 ? limiter.decide(limits[0]!, input) : limiter.decideAll(limits, input)
    return isPromise(decided)
      ? decided.then((d: RateLimitDecision | RateLimitDecision[]) => conclude(request, Array.isArray(d) ? d : [d]))
      : conclude(request, Array.isArray(decided) ? decided : [decided])
  }

  function conclude(request: FastifyRequest, decisions: readonly RateLimitDecision[]): Answer | undefined {
    const st = request.rampart
    let blocking: RateLimitDecision | undefined
    let advertise = false
    for (const d of decisions) {
      note(request, d)
      if (d.action === 'block' && blocking === undefined) blocking = d
      if (d.advertise) advertise = true
    }
    const earlier = request.rampart.rateLimits?.advertised
    if (blocking !== undefined) {
      const all = earlier ? [...earlier, ...decisions] : decisions
      logger.info({
        code: 'RAMPART_ERR_RATELIMIT_EXCEEDED', limit: blocking.name, reason: blocking.reason, reqId: request.id,
        site: st.site.name, clientIp: st.clientIp, retryAfterMs: blocking.retryAfterMs,
        answer: blocking.limit.answer.kind,
      }, ERRORS.RAMPART_ERR_RATELIMIT_EXCEEDED.message)
      const p = pretend.get(blocking.limit)
      if (p !== undefined) return p
      return toAnswer(limiter.answer(blocking, all))
    }
    if (advertise && anyAdvertised) {
      const s = stateOf(request)
      const mine = decisions.filter((d) => d.advertise)
      s.advertised = s.advertised ? [...s.advertised, ...mine] : mine
    }
    return undefined
  }

  async function onBody(request: FastifyRequest, head: Buffer, truncated: boolean): Promise<Answer | undefined> {
    const limits = request.rampart.rateLimits?.bodyLimits
    if (limits === undefined) return undefined
    const fields = step!.read(request, head, truncated)
    if (truncated) {
      for (const l of limits) {
        if (l.key.bodyFields.every((f) => fields.has(f))) continue
        counters[l.name]!.tooLarge++
        event('too-large')
        logger.info({
          code: 'RAMPART_ERR_HTTP_BODY_TOO_LARGE', limit: l.name, mode: l.mode, reqId: request.id,
          site: request.rampart.site.name, clientIp: request.rampart.clientIp, capBytes: BODY_CAP,
        }, 'body cut at the cap before the rate-limit key field')
        if (l.mode === 'enforce') return TOO_LARGE
      }
    }
    return decide(request, limits, fields)
  }

  function onUpstreamHeaders(headers: UpstreamHeaders, request: FastifyRequest): UpstreamHeaders {
    const advertised = request.rampart.rateLimits?.advertised
    if (advertised === undefined) return headers
    const fields = rateLimitHeaders(advertised)
    if (fields['ratelimit-policy'] !== undefined) {
      headers['ratelimit-policy'] = fields['ratelimit-policy']
      headers['ratelimit'] = fields.ratelimit
    }
    return headers
  }

  return {
    name: 'rate-limits',
    limiter,
    counters,
    onRequest(request) {
      const st = request.rampart
      const matched = limiter.matching(st.site.name, request.raw.method ?? 'GET', needsPath ? normalizePath(st.path) : st.path)
      if (matched.length === 0) return undefined
      let immediate = matched
      if (anyBody) {
        let later: CompiledLimit[] | undefined
        for (const l of matched) if (l.needsBody) (later ??= []).push(l)
        if (later !== undefined) {
          stateOf(request).bodyLimits = later
          immediate = matched.filter((l) => !l.needsBody)
          if (immediate.length === 0) return undefined
        }
      }
      return decide(request, immediate, undefined)
    },
    // Only the stages this config needs: the gateway skips absent ones on its hot path.
    ...(anyBody ? { bodyLimit: (request: FastifyRequest) => (request.rampart.rateLimits?.bodyLimits !== undefined ? BODY_CAP : 0), onBody } : {}),
    ...(anyAdvertised ? { onUpstreamHeaders } : {}),
    describe: () => ({
      store: store.kind,
      limits: limiter.limits.map((l) => ({
        name: l.name, mode: l.mode, limit: l.limit, perMs: l.windowMs, onStoreError: l.onStoreError,
        answer: l.answer.kind, body: l.needsBody, headers: l.advertise,
      })),
      counters,
    }),
  }
}

/** The gateway's answer shape for a core `HttpAnswer` (header names already lower-case). */
export function toAnswer(a: HttpAnswer): Answer {
  return { status: a.status, headers: Object.entries(a.headers), body: a.body, code: 'RAMPART_ERR_RATELIMIT_EXCEEDED' }
}
