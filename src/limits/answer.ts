/**
 * The answer Rampart sends itself when a rate limit refuses a request: a 429 (or the configured status) with
 * `Retry-After` and the RateLimit fields, or a configured "pretend success" answer.
 *
 * Contract: `compileLimitAnswer()` builds everything that does not depend on the request at startup; the pretend
 * answer is one frozen object returned as is, so every throttled request gets the same bytes. A pretend answer has
 * no Retry-After and no RateLimit fields: it must look exactly like the application's success answer.
 *
 * Pure.
 */
import { retryAfter, rateLimitHeaders, type AdvertisedLimit } from './headers.js'

/** An answer the wiring sends as is. Header names are lower-case. */
export interface HttpAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

export interface LimitAnswerConfig {
  readonly status: number
  readonly pretend?: {
    readonly status: number
    readonly body: string
    readonly contentType: string
    readonly headers: Readonly<Record<string, string>>
  } | undefined
}

export type CompiledLimitAnswer =
  | { readonly kind: 'refuse'; readonly status: number; readonly body: Buffer }
  | { readonly kind: 'pretend'; readonly answer: HttpAnswer }

const REFUSE_BODY = Buffer.from('Too Many Requests\n')

export function compileLimitAnswer(config: LimitAnswerConfig): CompiledLimitAnswer {
  if (config.pretend) {
    const p = config.pretend
    const body = Buffer.from(p.body)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(p.headers)) headers[k.toLowerCase()] = v
    headers['content-type'] = p.contentType
    headers['content-length'] = String(body.length)
    return { kind: 'pretend', answer: Object.freeze({ status: p.status, headers: Object.freeze(headers), body }) }
  }
  return { kind: 'refuse', status: config.status, body: REFUSE_BODY }
}

/**
 * The answer for a refused request. `retryAfterMs` comes from the decision; `advertised` are the RateLimit items of
 * every decision made for this request (the refusing one included), for the RateLimit fields.
 */
export function buildLimitAnswer(answer: CompiledLimitAnswer, retryAfterMs: number, advertised: readonly AdvertisedLimit[]): HttpAnswer {
  if (answer.kind === 'pretend') return answer.answer
  return {
    status: answer.status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(answer.body.length),
      'cache-control': 'no-store',
      'retry-after': retryAfter(retryAfterMs),
      ...rateLimitHeaders(advertised),
    },
    body: answer.body,
  }
}
