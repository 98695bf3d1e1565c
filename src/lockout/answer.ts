/**
 * The answer Rampart gives to a login attempt while the account or address is locked, without contacting the
 * application.
 *
 * Modes:
 * - `mimic` (default): exactly the configured copy of the application's own failed-login answer — status, headers
 *   and body, byte for byte, and nothing else (no Retry-After, no Rampart header). An attacker cannot tell a locked
 *   account from a wrong password, so the lock leaks neither that the account exists nor that guessing is blocked.
 *   `delay` lets the wiring wait about as long as the application would; otherwise the instant answer is a timing
 *   signal.
 * - `json`: 429 with a JSON body and Retry-After, for API clients.
 * - `423`: 423 Locked with Retry-After.
 *
 * Contract: `compileLockedAnswer()` at startup; in mimic mode `buildLockedAnswer()` returns the same frozen object
 * every time. Header names are lower-case.
 *
 * Pure.
 */
import type { HttpAnswer } from '../limits/answer.js'
import { retryAfter } from '../limits/headers.js'

export interface LockedAnswerConfig {
  readonly mode: 'mimic' | 'json' | '423'
  readonly status?: number | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string | undefined
  readonly contentType?: string | undefined
  readonly delay: number
}

export interface CompiledLockedAnswer {
  readonly mode: LockedAnswerConfig['mode']
  readonly delayMs: number
  /** Mimic: the whole answer. Other modes: everything but Retry-After. */
  readonly base: HttpAnswer
}

const DEFAULTS = {
  mimic: { contentType: 'text/html; charset=utf-8', body: '' },
  json: { status: 429, contentType: 'application/json', body: '{"error":"too_many_login_attempts"}' },
  423: { status: 423, contentType: 'text/plain; charset=utf-8', body: 'Locked\n' },
} as const

/** `failureStatuses`: `lockout.failure.status`; mimic answers with its first entry unless `status` is set. */
export function compileLockedAnswer(config: LockedAnswerConfig, failureStatuses: readonly number[]): CompiledLockedAnswer {
  const d = DEFAULTS[config.mode]
  const status = config.status ?? ('status' in d ? d.status : failureStatuses[0] ?? 200)
  const body = Buffer.from(config.body ?? d.body)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(config.headers)) headers[k.toLowerCase()] = v
  if (config.contentType !== undefined) headers['content-type'] = config.contentType
  else if (headers['content-type'] === undefined) headers['content-type'] = d.contentType
  if (config.mode !== 'mimic') headers['cache-control'] ??= 'no-store'
  headers['content-length'] = String(body.length)
  return {
    mode: config.mode,
    delayMs: config.delay,
    base: Object.freeze({ status, headers: Object.freeze(headers), body }),
  }
}

export function buildLockedAnswer(compiled: CompiledLockedAnswer, retryAfterMs: number): HttpAnswer {
  if (compiled.mode === 'mimic') return compiled.base
  return {
    status: compiled.base.status,
    headers: { ...compiled.base.headers, 'retry-after': retryAfter(retryAfterMs) },
    body: compiled.base.body,
  }
}
