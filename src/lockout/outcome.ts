/**
 * Recognises a failed login from the application's unchanged answer.
 *
 * Contract: `compileOutcomeMatchers(failure)` once at startup; `detectLoginOutcome(matchers, response)` per login
 * answer returns:
 * - `unknown` for a 5xx (an application error says nothing about the password), or when `successCookie` is set and
 *   the answer shows neither a failure sign nor that cookie, or for a status that is neither success-like (2xx/3xx)
 *   nor a configured failure (a 400 for a missing CSRF token, a 429 from the app);
 * - `failure` when any failure sign is present: a listed status, a `Location` matching the regex, the marker in
 *   the first 64 KB of the body. Failure signs win over the success cookie: PHP apps start a session (and set its
 *   cookie) on the login page whether or not the password was right;
 * - `success` otherwise.
 * The body given must be the decoded (not gzip) start of the answer; the wiring asks the upstream for identity
 * encoding on login routes or decodes before calling.
 *
 * Pure.
 */

export interface FailureConfig {
  readonly status: readonly number[]
  readonly location?: string | undefined
  readonly bodyContains?: string | undefined
  readonly successCookie?: string | undefined
}

export interface OutcomeMatchers {
  readonly status: ReadonlySet<number>
  readonly location: RegExp | undefined
  readonly marker: Buffer | undefined
  readonly successCookie: string | undefined
  /** The wiring must keep the first `BODY_SCAN_LIMIT` bytes of login answers. */
  readonly needsBody: boolean
}

export interface LoginResponse {
  readonly status: number
  readonly location?: string | undefined
  readonly setCookie?: string | readonly string[] | undefined
  /** The first bytes of the decoded body; only the first `BODY_SCAN_LIMIT` are searched. */
  readonly body?: Buffer | undefined
  /** For `Expires` on the success cookie; without it only `Max-Age` and empty values mark a deletion. */
  readonly now?: number | undefined
}

export type LoginOutcome = 'success' | 'failure' | 'unknown'

export const BODY_SCAN_LIMIT = 64 * 1024

export function compileOutcomeMatchers(config: FailureConfig): OutcomeMatchers {
  return {
    status: new Set(config.status),
    location: config.location !== undefined ? new RegExp(config.location) : undefined,
    marker: config.bodyContains !== undefined ? Buffer.from(config.bodyContains) : undefined,
    successCookie: config.successCookie,
    needsBody: config.bodyContains !== undefined,
  }
}

export function detectLoginOutcome(m: OutcomeMatchers, res: LoginResponse): LoginOutcome {
  if (res.status >= 500) return 'unknown'
  if (m.status.has(res.status)) return 'failure'
  if (m.location !== undefined && res.location !== undefined && m.location.test(res.location)) return 'failure'
  if (m.marker !== undefined && res.body !== undefined) {
    const scan = res.body.length > BODY_SCAN_LIMIT ? res.body.subarray(0, BODY_SCAN_LIMIT) : res.body
    if (scan.indexOf(m.marker) >= 0) return 'failure'
  }
  if (m.successCookie !== undefined) return setsCookie(res.setCookie, m.successCookie, res.now) ? 'success' : 'unknown'
  return res.status >= 200 && res.status < 400 ? 'success' : 'unknown'
}

const MAX_AGE = /;\s*max-age\s*=\s*(-?\d+)/i
const EXPIRES = /;\s*expires\s*=\s*([^;]+)/i

/** True when one of the Set-Cookie lines sets `name` to a non-empty value that is not already expired. */
export function setsCookie(setCookie: string | readonly string[] | undefined, name: string, now?: number): boolean {
  if (setCookie === undefined) return false
  const lines = typeof setCookie === 'string' ? [setCookie] : setCookie
  for (const line of lines) {
    const eq = line.indexOf('=')
    if (eq < 0 || line.slice(0, eq).trim() !== name) continue
    const semi = line.indexOf(';', eq)
    const value = (semi < 0 ? line.slice(eq + 1) : line.slice(eq + 1, semi)).trim()
    if (value === '' || value === '""' || value.toLowerCase() === 'deleted') continue
    const maxAge = MAX_AGE.exec(line)
    if (maxAge && Number(maxAge[1]) <= 0) continue
    if (now !== undefined && !maxAge) {
      const expires = EXPIRES.exec(line)
      if (expires) {
        const t = Date.parse(expires[1]!.trim())
        if (Number.isFinite(t) && t <= now) continue
      }
    }
    return true
  }
  return false
}
