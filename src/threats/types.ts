/**
 * Types shared by the threat detection modules: families, locations, the engine's input and its result.
 * No logic here.
 */

export const THREAT_FAMILIES = ['sqli', 'xss', 'traversal', 'command', 'scanner'] as const
export type ThreatFamily = (typeof THREAT_FAMILIES)[number]

export type Paranoia = 1 | 2 | 3

/** Where in the request a match was found. */
export type ThreatLocation = 'path' | 'query' | 'body' | 'cookie' | 'header'

/**
 * What the engine inspects, as close to the wire as possible: the engine decodes the path, parses the query string
 * and the Cookie header itself. `bodyFields` are the text fields of a form, JSON or multipart body the wiring has
 * already parsed; `bodyTruncated` says the wiring saw only part of the body.
 */
export interface ThreatInput {
  /** Request path, still percent-encoded, without the query string. */
  readonly path: string
  /** Raw query string, after the `?` (empty when none). */
  readonly query: string
  readonly bodyFields?: ReadonlyArray<readonly [name: string, value: string]>
  readonly bodyTruncated?: boolean
  readonly cookieHeader?: string
  readonly userAgent?: string
  readonly referer?: string
}

export interface ThreatMatch {
  readonly ruleId: string
  readonly family: ThreatFamily
  readonly paranoia: Paranoia
  readonly score: number
  readonly location: ThreatLocation
  /** Parameter, field or cookie name; `user-agent` or `referer` for headers; absent for the path. */
  readonly param?: string
  /** At most about 64 characters of the normalised text around the match, escaped; `[redacted]` for secrets. */
  readonly excerpt: string
}

export interface ThreatResult {
  /** Sum of the scores of the distinct rules that matched. */
  readonly score: number
  /** True only in block mode, when `score >= threshold` (or when the engine failed and `onError` is closed). */
  readonly blocked: boolean
  readonly matches: readonly ThreatMatch[]
  /** Some input was not inspected in full (body over the inspection cap, or the wiring truncated it). */
  readonly truncated: boolean
  /** Set when the engine threw; the request was then let through or refused according to `onError`. */
  readonly error?: unknown
}
