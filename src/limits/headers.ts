/**
 * Header fields that tell a client about rate limits (draft-ietf-httpapi-ratelimit-headers, draft 10):
 *   RateLimit-Policy: "per-ip";q=600;w=60
 *   RateLimit: "per-ip";r=42;t=30
 * and `Retry-After` (seconds) on a refusal. Policy names are Structured Field strings; `q` is the quota, `w` the
 * window in seconds, `r` the remaining quota and `t` the seconds until more quota is available.
 *
 * Contract: `policyItem()` is computed once per limit at startup; `rateLimitHeaders()` runs per response and
 * joins the items of every advertised decision into one field each (Structured Field lists). Limits in shadow mode
 * or with a pretend answer are never advertised: report-only limits stay invisible, and a "pretend success"
 * answer must not reveal that a limit exists. Values are plain ASCII, safe for any HTTP version.
 *
 * Pure.
 */

/** Structured Field string: `"` and `\` escaped; anything outside printable ASCII removed. */
export function sfString(text: string): string {
  let out = '"'
  for (const ch of text) {
    const code = ch.charCodeAt(0)
    if (code < 0x20 || code > 0x7e) continue
    out += ch === '"' || ch === '\\' ? `\\${ch}` : ch
  }
  return `${out}"`
}

export function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000)
}

/** `"name";q=100;w=60`. Windows shorter than a second advertise `w=1`. */
export function policyItem(name: string, limit: number, windowMs: number): string {
  return `${sfString(name)};q=${limit};w=${Math.max(1, seconds(windowMs))}`
}

/** `"name";r=42;t=30`. */
export function stateItem(name: string, remaining: number, resetMs: number): string {
  return `${sfString(name)};r=${Math.max(0, Math.floor(remaining))};t=${seconds(resetMs)}`
}

/** What a decision contributes to the header fields. */
export interface AdvertisedLimit {
  /** `policyItem(...)`, precomputed. */
  readonly policy: string
  readonly name: string
  readonly remaining: number
  readonly resetMs: number
  /** False for shadow limits and pretend answers. */
  readonly advertise: boolean
}

export interface RateLimitHeaderFields {
  'ratelimit-policy'?: string
  ratelimit?: string
}

export function rateLimitHeaders(decisions: readonly AdvertisedLimit[]): RateLimitHeaderFields {
  let policy = ''
  let state = ''
  for (const d of decisions) {
    if (!d.advertise) continue
    policy += policy ? `, ${d.policy}` : d.policy
    const item = stateItem(d.name, d.remaining, d.resetMs)
    state += state ? `, ${item}` : item
  }
  return policy ? { 'ratelimit-policy': policy, ratelimit: state } : {}
}

/** `Retry-After` in whole seconds, at least 1 (0 would invite an immediate retry). */
export function retryAfter(ms: number): string {
  return String(Math.max(1, seconds(ms)))
}
