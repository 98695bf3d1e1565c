/**
 * Config section `headers`: the security headers Rampart puts on every response, the leak headers it strips, per-site
 * and per-path overrides, and the CSP report collector.
 *
 * Simple cases stay one line: a header is a string (its value, mode `set`), `false` (Rampart leaves it alone), or
 * `{ value, mode }` for the other modes. The schema checks the shape; the header grammar (Referrer-Policy tokens,
 * X-Frame-Options values, CSP directives...) is checked by `checkHeadersConfig` in `src/headers/policy.ts`, which
 * gives one precise message per bad value. Defaults live here and nowhere else; the compiler reads them back from
 * this schema when an object form leaves `value` out.
 */
import { Type, type Static, type TUnsafe, type TOptional, type SchemaOptions } from '@sinclair/typebox'
import { Strict, Size, HeaderName, Enum } from '../types.js'

export const HEADER_MODES = ['set', 'default', 'remove', 'off'] as const
export type HeaderMode = (typeof HEADER_MODES)[number]

/** The object form of one header. `value` absent: Rampart's built-in value for that header. */
export interface HeaderObject {
  value?: string | number
  mode: HeaderMode
}
export type HeaderSetting = string | number | boolean | HeaderObject

const Mode = () => Enum(HEADER_MODES, {
  default: 'set',
  description: '`set`: Rampart\'s value replaces the upstream\'s. `default`: used only when the upstream sent none. '
    + '`remove`: the upstream\'s is removed and none is sent. `off` (or `false`): Rampart neither adds nor changes it.',
})

/**
 * One header: `"value"` (mode `set`), `false` (mode `off`), or `{ value, mode }`. A single multi-type schema (not `anyOf`) so that Ajv's
 * messages point at the bad key or value rather than at "none of the alternatives matched".
 */
function HeaderField(description: string, options: { default?: unknown; numeric?: boolean } & SchemaOptions = {}): TUnsafe<HeaderSetting> {
  const { numeric, ...rest } = options
  return Type.Unsafe<HeaderSetting>({
    ...rest,
    description,
    type: numeric ? ['string', 'number', 'boolean', 'object'] : ['string', 'boolean', 'object'],
    properties: {
      value: numeric ? { type: ['string', 'number'], description: 'The header value.' } : { type: 'string', description: 'The header value.' },
      mode: Mode(),
    },
    additionalProperties: false,
  })
}

export interface HstsObject {
  maxAge: number
  includeSubDomains: boolean
  preload: boolean
  mode: HeaderMode
}
export type HstsSetting = string | boolean | HstsObject

function HstsField(withDefaults: boolean): TUnsafe<HstsSetting> {
  const d = <T>(value: T) => (withDefaults ? { default: value } : {})
  return Type.Unsafe<HstsSetting>({
    description: 'Strict-Transport-Security, sent on HTTPS responses only. `false` leaves the upstream\'s header alone; '
      + 'a string is sent as written.',
    ...d({}),
    type: ['string', 'boolean', 'object'],
    properties: {
      maxAge: { type: 'integer', minimum: 0, default: 63072000, description: 'Seconds browsers remember to use HTTPS only (two years; `0` tells them to forget).' },
      includeSubDomains: { type: 'boolean', default: true, description: 'Apply to every subdomain too.' },
      preload: { type: 'boolean', default: false, description: 'Ask to be put on the browsers\' built-in list. Hard to undo: off unless you mean it.' },
      mode: Mode(),
    },
    additionalProperties: false,
  })
}

/** The header fields, shared by the top level (with defaults) and by overrides (without). */
function headerFields(withDefaults: boolean) {
  const def = (value: unknown) => (withDefaults ? { default: value } : {})
  const fields = {
    hsts: HstsField(withDefaults),
    contentSecurityPolicy: HeaderField(
      'Content-Security-Policy. The default only stops <base> and plugin injection, which no legacy page needs, and '
      + 'yields to a policy the upstream sends itself (mode `default`). Write your own to restrict scripts.',
      def({ value: "base-uri 'self'; object-src 'none'", mode: 'default' })),
    contentSecurityPolicyReportOnly: HeaderField(
      'Content-Security-Policy-Report-Only: a policy browsers report on but do not enforce. Try a policy here first.',
      def(false)),
    xContentTypeOptions: HeaderField('X-Content-Type-Options. The only value is `nosniff`.', def('nosniff')),
    xFrameOptions: HeaderField(
      'X-Frame-Options: `DENY` or `SAMEORIGIN`. `SAMEORIGIN` by default because legacy apps often frame their own pages.',
      def('SAMEORIGIN')),
    referrerPolicy: HeaderField(
      'Referrer-Policy: one token, or a comma-separated fallback list, e.g. `no-referrer-when-downgrade`.',
      def('strict-origin-when-cross-origin')),
    permissionsPolicy: HeaderField(
      'Permissions-Policy. By default camera, microphone and USB are denied (no legacy page uses them); an upstream\'s own '
      + 'policy wins (mode `default`).',
      def({ value: 'camera=(), microphone=(), usb=()', mode: 'default' })),
    crossOriginOpenerPolicy: HeaderField(
      'Cross-Origin-Opener-Policy. `same-origin-allow-popups` by default: isolates the page yet keeps payment and '
      + 'sign-in popups it opens working.',
      def('same-origin-allow-popups')),
    crossOriginResourcePolicy: HeaderField(
      'Cross-Origin-Resource-Policy: `same-origin`, `same-site` or `cross-origin`. `same-site` by default so the '
      + 'site\'s own subdomains can share images and scripts.',
      def('same-site')),
    xXssProtection: HeaderField(
      'X-XSS-Protection. `0` turns off the old browser XSS filter, which could itself be abused to leak data; '
      + '`1; mode=block` is available for old browsers.',
      { ...def('0'), numeric: true }),
    expectCt: HeaderField(
      'Expect-CT, e.g. `max-age=86400, enforce`. Off by default: browsers ignore it since 2022, and setting it logs a warning.',
      def(false)),
  }
  return fields
}

/** The same fields, each optional and without a default: an override changes only what it names. */
function optionalHeaderFields() {
  const fields = headerFields(false)
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Type.Optional(v)])) as {
    [K in keyof typeof fields]: TOptional<(typeof fields)[K]>
  }
}

export const HeaderOverride = Strict({
  site: Type.Optional(Type.String({ minLength: 1, description: 'A site\'s `name`, or one of its `hosts` as written. Absent: every site.' })),
  pathPrefix: Type.Optional(Type.String({
    pattern: '^/[^?#\\s]*$',
    description: 'Applies to this path and below (`/widget` matches `/widget`, `/widget/x`, not `/widgets`). Absent: every path.',
  })),
  ...optionalHeaderFields(),
  remove: Type.Optional(Type.Array(HeaderName(), { description: 'Replaces the inherited `remove` list.' })),
}, { description: 'Changes for one site and/or path prefix. The longest matching prefix wins; at equal length, a site entry beats a global one, then later entries win.' })

export const CspReports = Strict({
  enabled: Type.Boolean({ default: false, description: 'Serve an endpoint that collects CSP violation reports and logs them.' }),
  path: Type.String({ default: '/.rampart/csp-report', pattern: '^/[^?#\\s]*$', description: 'Path of the endpoint on every site. Point `report-uri` at it.' }),
  maxBodySize: Size({ default: '16kb', description: 'Largest report body accepted. Larger: 413.' }),
  ratePerMinute: Type.Integer({ minimum: 1, default: 60, description: 'Reports accepted per client address per minute. More: 429.' }),
  maxReportsPerBody: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Reports read from one body (report-to batches several); the rest are counted, not read.' }),
  maxFieldLength: Type.Integer({ minimum: 16, maximum: 4096, default: 512, description: 'Longest string kept from a report field; longer ones are cut.' }),
}, { default: {} })

export const Headers = Strict({
  ...headerFields(true),
  remove: Type.Array(HeaderName(), {
    default: ['Server', 'X-Powered-By', 'X-AspNet-Version', 'X-AspNetMvc-Version', 'X-Generator'],
    description: 'Upstream headers removed from every response, because they tell attackers which software and version to target.',
  }),
  overrides: Type.Array(HeaderOverride, { default: [], description: 'Per-site and per-path changes.' }),
  cspReports: CspReports,
}, { default: {}, description: 'Security headers on every response: proxied, redirects, 304s and Rampart\'s own pages.' })

export type HeadersConfig = Static<typeof Headers>
export type HeaderOverrideConfig = Static<typeof HeaderOverride>
export type CspReportsConfig = Static<typeof CspReports>

/** The names of the header fields, in the order headers are emitted. */
export const HEADER_FIELD_KEYS = [
  'hsts', 'contentSecurityPolicy', 'contentSecurityPolicyReportOnly', 'xContentTypeOptions', 'xFrameOptions',
  'referrerPolicy', 'permissionsPolicy', 'crossOriginOpenerPolicy', 'crossOriginResourcePolicy', 'xXssProtection',
  'expectCt',
] as const satisfies ReadonlyArray<keyof HeadersConfig>
export type HeaderFieldKey = (typeof HEADER_FIELD_KEYS)[number]
