/**
 * The contract between the gateway and each protection (security headers, cookies, rate limits, lockout, threat
 * detection, access rules…). A protection is compiled from the config into the plan, so a reload swaps all of them
 * at once. The gateway calls only the stages a protection implements, in the order the plan lists them.
 *
 * Stages, per request:
 * - `onRequest`: after routing and client-IP resolution, before any body is read. Return an `Answer` to end the
 *   request there (e.g. 403, 429); the upstream is never contacted.
 * - `bodyLimit` + `onBody`: only for requests a protection asks to see the body of (`bodyLimit` > 0). The body is
 *   buffered up to the largest requested limit; the exact original bytes are still forwarded. `truncated` says the
 *   body was longer than what was read (the rest streams on).
 * - `onUpstreamHeaders`: mutate the upstream response headers (header policy, cookies) or observe them (lockout).
 * - `responseBodyBytes` + `onUpstreamBody`: observe the first bytes of the upstream body while it streams to the
 *   client (a login-failure marker), without delaying or changing it.
 * - `onOwnResponse`: add headers to responses Rampart makes itself (error pages, answers).
 * - `onComplete`: after the response, for counters (abuse signals, metrics).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamHeaders } from '../proxy/forwarder.js'
import type { ErrorCode } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'

export interface Answer {
  readonly status: number
  readonly headers?: ReadonlyArray<readonly [string, string]>
  readonly contentType?: string
  readonly body: string | Buffer
  /** Catalogued code for logs and metrics, when the answer is a refusal. */
  readonly code?: ErrorCode
  /** Use Rampart's standard page for `code` instead of `body`. */
  readonly page?: boolean
  /**
   * Send it the way a proxied answer is sent, so nothing tells it from the application's own: `headers` in their
   * order (a `date` entry gets the current date in its place; otherwise the date follows them), then the response
   * stage of every protection (header policy, cookies, RateLimit fields) exactly as on a proxied answer, the request
   * id last. Without it, Rampart's own-answer headers (no-store, the request id first) mark the answer as Rampart's.
   */
  readonly asUpstream?: boolean
}

export type { MaybePromise } from '../maybe-promise.js'

export interface Protection {
  readonly name: string
  onRequest?(request: FastifyRequest, reply: FastifyReply): MaybePromise<Answer | undefined>
  /** Bytes of request body this protection wants to read for this request (0: none). Must be cheap. */
  bodyLimit?(request: FastifyRequest): number
  onBody?(request: FastifyRequest, body: Buffer, truncated: boolean): MaybePromise<Answer | undefined>
  onUpstreamHeaders?(headers: UpstreamHeaders, request: FastifyRequest, statusCode: number): UpstreamHeaders | void
  /** Bytes of the upstream response body to observe (0: none). */
  responseBodyBytes?(request: FastifyRequest, statusCode: number, headers: UpstreamHeaders): number
  onUpstreamBody?(request: FastifyRequest, statusCode: number, headers: UpstreamHeaders, head: Buffer): void
  onOwnResponse?(reply: FastifyReply, request: FastifyRequest | undefined): void
  onComplete?(request: FastifyRequest, reply: FastifyReply): void
  /** Startup/reload summary for the log (what is on, how it fails). */
  describe?(): Record<string, unknown>
  close?(): Promise<void>
}

/** The protections of one plan, pre-sorted by stage so the hot path only walks what is there. */
export interface ProtectionSet {
  readonly all: readonly Protection[]
  readonly onRequest: readonly Protection[]
  readonly body: readonly Protection[]
  readonly upstreamHeaders: readonly Protection[]
  readonly upstreamBody: readonly Protection[]
  readonly ownResponse: readonly Protection[]
  readonly complete: readonly Protection[]
}

export function protectionSet(list: readonly Protection[]): ProtectionSet {
  return {
    all: list,
    onRequest: list.filter((p) => p.onRequest),
    body: list.filter((p) => p.bodyLimit && p.onBody),
    upstreamHeaders: list.filter((p) => p.onUpstreamHeaders),
    upstreamBody: list.filter((p) => p.responseBodyBytes && p.onUpstreamBody),
    ownResponse: list.filter((p) => p.onOwnResponse),
    complete: list.filter((p) => p.onComplete),
  }
}

export const NO_PROTECTIONS: ProtectionSet = protectionSet([])
