/**
 * The rate-limit protection: compiles `rateLimits` once and decides, per request and limit, whether to let the
 * request through. The Fastify wiring calls it; it talks to the store only through the `Store` interface.
 *
 * Contract:
 * - `compileRateLimits(config, options)` validates and precomputes everything (matchers, CIDR allowlists, key
 *   parsers, policy header items, answers) and throws on anything invalid.
 * - `limiter.matching(site, method, normalizedPath)` lists the limits that apply, in config order.
 *   `limit.needsBody` tells the wiring which limits must wait for the buffered body (`limiter.bodyFields`) and
 *   which can be decided in `onRequest`.
 * - `limiter.decide(limit, input)` never throws and never hangs longer than the store's command timeout. Its
 *   decision says what to do (`action`), why (`reason`), and, after a store error, which `onStoreError` choice was
 *   applied, with the error, so the caller can log both (`RAMPART_ERR_STORE_UNAVAILABLE`).
 * - Shadow limits count exactly like enforced ones but always pass; the caller logs `reason: 'over-shadow'`.
 *
 * Why not @fastify/rate-limit: it counts in fixed windows (double bursts at window edges), has one key function per
 * route (no combined or body-keyed keys, which are only known after the body is read), no shadow mode, no
 * pretend answer, and no per-limit fail mode. Its store interface and Lua-per-request design inspired ours.
 */
import { compileCidrSet, type CidrSet } from '../net/cidr.js'
import { RampartError } from '../errors.js'
import { compileFieldSpec, type FieldSpec } from '../body/fields.js'
import type { Store, RateLimitResult } from '../store/types.js'
import type { RateLimitsConfig } from '../config/sections/rate-limits.js'
import { compileMatch, type Matcher } from './match.js'
import { LocalAllowance } from './allowance.js'
import { isPromise, type MaybePromise } from '../maybe-promise.js'
import { compileKey, subjectsOf, type CompiledKey, type KeyInput } from './key.js'
import { policyItem, type AdvertisedLimit } from './headers.js'
import { compileLimitAnswer, buildLimitAnswer, type CompiledLimitAnswer, type HttpAnswer } from './answer.js'

export type FailMode = 'open' | 'closed'

export interface CompiledLimit {
  readonly name: string
  readonly index: number
  readonly matches: Matcher
  readonly key: CompiledKey
  readonly needsBody: boolean
  readonly limit: number
  readonly windowMs: number
  readonly mode: 'enforce' | 'shadow'
  readonly allow: CidrSet
  readonly onStoreError: FailMode
  readonly answer: CompiledLimitAnswer
  /** RateLimit fields are sent for this limit (enforce mode, headers on, no pretend answer). */
  readonly advertise: boolean
  /** `"name";q=..;w=..`, precomputed. */
  readonly policy: string
  /** Local reservations (`localBatch` > 1), else every request asks the store. */
  readonly allowance: LocalAllowance | undefined
}

export type DecisionReason =
  | 'under' // counted, under the limit
  | 'over' // over the limit, refused
  | 'over-shadow' // over the limit, let through (shadow mode)
  | 'allowlisted' // client address in `allow`
  | 'no-key' // a key part is missing: the limit does not apply
  | 'ambiguous' // a body field repeated with too many distinct values
  | 'store-error' // the store failed; `failMode` says what was done

export interface RateLimitDecision extends AdvertisedLimit {
  readonly limit: CompiledLimit
  readonly action: 'pass' | 'block'
  readonly reason: DecisionReason
  /** Ms until a refused client may retry (0 when passing). */
  readonly retryAfterMs: number
  /** Set with reason `store-error`. */
  readonly error?: RampartError
  readonly failMode?: FailMode
}

export interface DecideInput extends KeyInput {
  readonly now: number
}

export interface RateLimiter {
  readonly limits: readonly CompiledLimit[]
  /** Every body field any limit keys on (empty when no limit needs the body). */
  readonly bodyFields: FieldSpec
  matching(site: string | undefined, method: string, normalizedPath: string): CompiledLimit[]
  /** Synchronous when no store round trip is needed (allow-listed, no key, a local allowance). */
  decide(limit: CompiledLimit, input: DecideInput): MaybePromise<RateLimitDecision>
  /** Decides several limits concurrently (one round trip each, pipelined). */
  decideAll(limits: readonly CompiledLimit[], input: DecideInput): MaybePromise<RateLimitDecision[]>
  /** The answer for a blocking decision; `all` are every decision of this request (for the RateLimit fields). */
  answer(decision: RateLimitDecision, all: readonly RateLimitDecision[]): HttpAnswer
}

export interface CompileRateLimitsOptions {
  readonly store: Store
  readonly keySecret?: string | undefined
  /** `store.onStoreError`, used when a limit sets none. */
  readonly defaultOnStoreError: FailMode
}

const NONE: CompiledLimit[] = []
/** Retry-After when the store is down and the limit fails closed: soon, the store may be back. */
const STORE_DOWN_RETRY_MS = 1000

export function compileRateLimits(config: RateLimitsConfig, options: CompileRateLimitsOptions): RateLimiter {
  const store = options.store
  const limits: CompiledLimit[] = config.map((c, index) => {
    const key = compileKey(c.key, options.keySecret)
    const answer = compileLimitAnswer(c.answer)
    const batch = c.localBatch ?? 1
    return Object.freeze({
      name: c.name,
      index,
      matches: compileMatch(c.match),
      key,
      needsBody: key.needsBody,
      limit: c.limit,
      windowMs: c.per,
      mode: c.mode,
      allow: compileCidrSet(c.allow),
      onStoreError: c.onStoreError ?? options.defaultOnStoreError,
      answer,
      advertise: c.mode === 'enforce' && c.headers && answer.kind === 'refuse',
      policy: policyItem(c.name, c.limit, c.per),
      allowance: batch > 1 ? new LocalAllowance((q) => store.rateLimit(q), { batch }) : undefined,
    })
  })
  const bodyFields = compileFieldSpec(limits.flatMap((l) => l.key.bodyFields))

  const count = (limit: CompiledLimit, subject: string, now: number): MaybePromise<RateLimitResult> => {
    const q = { name: limit.name, subject, limit: limit.limit, windowMs: limit.windowMs, now }
    return limit.allowance !== undefined ? limit.allowance.take(q) : store.rateLimit(q)
  }

  // One object shape for every decision (made once per request and limit): absent fields are undefined, not missing.
  const decision = (
    limit: CompiledLimit, action: 'pass' | 'block', reason: DecisionReason, r: RateLimitResult | undefined,
    retryAfterMs?: number, error?: RampartError, failMode?: FailMode,
  ): RateLimitDecision => ({
    limit,
    name: limit.name,
    policy: limit.policy,
    advertise: limit.advertise && r !== undefined,
    action,
    reason,
    remaining: r?.remaining ?? 0,
    resetMs: r?.resetMs ?? 0,
    retryAfterMs: retryAfterMs ?? (action === 'block' ? r?.resetMs ?? 0 : 0),
    error,
    failMode,
  })

  function decide(limit: CompiledLimit, input: DecideInput): MaybePromise<RateLimitDecision> {
    if (limit.allow.size > 0 && limit.allow.has(input.ip)) return decision(limit, 'pass', 'allowlisted', undefined)
    const subjects = subjectsOf(limit.key, input)
    if (subjects === undefined) return decision(limit, 'pass', 'no-key', undefined)
    if (subjects === 'ambiguous') {
      return decision(limit, limit.mode === 'enforce' ? 'block' : 'pass', 'ambiguous', undefined, limit.windowMs)
    }
    let result: MaybePromise<RateLimitResult>
    try {
      result = subjects.length === 1
        ? count(limit, subjects[0]!, input.now)
        : Promise.all(subjects.map((subject) => count(limit, subject, input.now))).then(worst)
    } catch (err) {
      return storeFailure(limit, err)
    }
    return isPromise(result) ? result.then((r) => counted(limit, r), (err: unknown) => storeFailure(limit, err)) : counted(limit, result)
  }

  function counted(limit: CompiledLimit, result: RateLimitResult): RateLimitDecision {
    if (result.allowed) return decision(limit, 'pass', 'under', result)
    return limit.mode === 'enforce' ? decision(limit, 'block', 'over', result) : decision(limit, 'pass', 'over-shadow', result)
  }

  function storeFailure(limit: CompiledLimit, err: unknown): RateLimitDecision {
    const error = err instanceof RampartError ? err : new RampartError('RAMPART_ERR_STORE_UNAVAILABLE', String((err as Error)?.message ?? err), { cause: err })
    const closed = limit.onStoreError === 'closed' && limit.mode === 'enforce'
    return decision(limit, closed ? 'block' : 'pass', 'store-error', undefined, closed ? STORE_DOWN_RETRY_MS : 0, error, limit.onStoreError)
  }

  return {
    limits,
    bodyFields,
    matching(site, method, path) {
      let out: CompiledLimit[] | undefined
      for (const l of limits) {
        if (l.matches(site, method, path)) (out ??= []).push(l)
      }
      return out ?? NONE
    },
    decide,
    decideAll(list, input) {
      const all = list.map((l) => decide(l, input))
      return all.some(isPromise) ? Promise.all(all) : all as RateLimitDecision[]
    },
    answer(d, all) {
      return buildLimitAnswer(d.limit.answer, d.retryAfterMs, all)
    },
  }
}

/** Merges the results for several subjects of one limit: a refusal wins, then the smallest remaining quota. */
function worst(results: readonly RateLimitResult[]): RateLimitResult {
  let pick = results[0]!
  for (const r of results) {
    if (!r.allowed && pick.allowed) pick = r
    else if (r.allowed === pick.allowed && r.remaining < pick.remaining) pick = r
  }
  return pick
}
