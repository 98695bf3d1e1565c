/**
 * Config section `rateLimits`: named limits, each matching requests by site, method and path and counting them by
 * a key (client address, header, body field, or a combination) in a sliding window (`src/limits/sliding-window.ts`).
 *
 * The schema checks each limit alone; `checkRateLimits` checks what spans fields (unique names, known sites, one of
 * `path` / `pathPrefix`) and returns problems in the cross-check shape, for `src/config/cross-check.ts` to include.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Strict, Duration, Cidr, Enum, FailMode } from '../types.js'
import type { PathSegment } from '../validate.js'
import type { ErrorCode } from '../../errors.js'

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"

export const KeyPartSchema = Type.String({
  pattern: `^(ip|header:${TOKEN}|body\\.[^\\s]+)$`,
  description: '`ip` (client address, IPv6 by /64), `header:<name>` (hashed), or `body.<field>` (form field name or JSON dotted path; trimmed, lower-cased, hashed).',
})

const Method = Type.String({ pattern: '^[A-Za-z]{1,16}$', description: 'HTTP method, e.g. POST.' })

export const RequestMatch = Strict({
  site: Type.Optional(Type.String({ minLength: 1, description: 'Site name (`sites[].name`, or the first host of an unnamed site). Absent: every site.' })),
  method: Type.Optional(Type.Union([Method, Type.Array(Method, { minItems: 1 })], { description: 'One method or a list. Absent: every method.' })),
  path: Type.Optional(Type.String({ pattern: '^/', description: 'Exact path. Compared after normalisation (case, `//`, `/./`, trailing slash, %-encoding).' })),
  pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Path prefix: `/api` matches `/api` and `/api/...`, not `/apix`.' })),
}, { default: {}, description: 'Which requests the limit counts. Empty: all.' })

export const HeaderMap = Type.Record(Type.String({ pattern: `^${TOKEN}$` }), Type.String(), {
  default: {},
  additionalProperties: false,
  description: 'Extra response headers, name → value.',
})

export const PretendAnswer = Strict({
  status: Type.Integer({ minimum: 200, maximum: 599, default: 200, description: 'Status of the pretend answer, usually what the form answers on success.' }),
  body: Type.String({ default: '', description: 'Body, sent as is.' }),
  contentType: Type.String({ default: 'text/html; charset=utf-8', description: 'Content-Type of the body.' }),
  headers: HeaderMap,
}, {
  description: 'Answer as if the request had succeeded, so that a throttled "reset my password" does not tell an attacker which accounts exist. No Retry-After or RateLimit fields are sent.',
})

export const RateLimitAnswer = Strict({
  status: Type.Integer({ minimum: 400, maximum: 599, default: 429, description: 'Status of a refusal (with Retry-After and RateLimit fields).' }),
  pretend: Type.Optional(PretendAnswer),
}, { default: {} })

export const RateLimit = Strict({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Unique name: key segment, log field and RateLimit policy name.' }),
  match: RequestMatch,
  key: Type.Union([KeyPartSchema, Type.Array(KeyPartSchema, { minItems: 1, maxItems: 4 })], {
    default: 'ip',
    description: 'What to count by: one part or a list combined (`[ip, body.email]`). A request missing a part is not counted by this limit.',
  }),
  limit: Type.Integer({ minimum: 1, description: 'Requests allowed per window.' }),
  per: Duration({ description: 'Window length, e.g. `1m`, `1h` (at least 1s).' }),
  localBatch: Type.Integer({
    minimum: 1, maximum: 10_000, default: 1,
    description: 'Requests\' worth reserved per store round trip and then let through locally (for up to a tenth of the window, at most 1s). 1: exact, one round trip per request. N: up to N−1 reserved but unused requests per key and instance may count, so a client can be refused that much early; the limit itself is never exceeded.',
  }),
  mode: Enum(['enforce', 'shadow'] as const, {
    default: 'enforce',
    description: '`shadow` counts and logs what would be refused, but lets everything through and sends no headers.',
  }),
  allow: Type.Array(Cidr(), { default: [], description: 'Client addresses never limited (monitoring, office).' }),
  onStoreError: Type.Optional(FailMode({ description: 'When the store fails: `open` lets the request through, `closed` refuses it. Default: `store.onStoreError`.' })),
  answer: RateLimitAnswer,
  headers: Type.Boolean({ default: true, description: 'Send RateLimit and RateLimit-Policy on responses (never in shadow mode or with a pretend answer).' }),
})

export const RateLimitsSection = Type.Array(RateLimit, { default: [], description: 'Rate limits, checked in order; every matching limit counts.' })

export type RateLimitConfig = Static<typeof RateLimit>
export type RateLimitsConfig = Static<typeof RateLimitsSection>

export interface SectionProblem {
  at: readonly PathSegment[]
  path: string
  message: string
  code: ErrorCode
  severity: 'error' | 'warning'
}

/**
 * Checks across fields. `siteNames`: the names a `match.site` may use. Returns problems located at `at`
 * (relative to the config root, `['rateLimits', i, ...]`).
 */
export function checkRateLimits(limits: RateLimitsConfig, siteNames: readonly string[]): SectionProblem[] {
  const out: SectionProblem[] = []
  const err = (at: PathSegment[], message: string): void => {
    out.push({ at, path: formatAt(at), message, code: 'RAMPART_ERR_CONFIG_CONFLICT', severity: 'error' })
  }
  const seen = new Map<string, number>()
  limits.forEach((l, i) => {
    const first = seen.get(l.name)
    if (first !== undefined) err(['rateLimits', i, 'name'], `rate limit name '${l.name}' is already used by rateLimits[${first}]`)
    else seen.set(l.name, i)
    if (l.match.path !== undefined && l.match.pathPrefix !== undefined) {
      err(['rateLimits', i, 'match'], 'set either path or pathPrefix, not both')
    }
    if (l.match.site !== undefined && !siteNames.includes(l.match.site)) {
      err(['rateLimits', i, 'match', 'site'], `no site is named '${l.match.site}' (known: ${siteNames.join(', ') || 'none'})`)
    }
    if (l.per < 1000) err(['rateLimits', i, 'per'], 'must be at least 1s')
  })
  return out
}

export function formatAt(at: readonly PathSegment[]): string {
  let out = ''
  for (const seg of at) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg
  return out
}
