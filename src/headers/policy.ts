/**
 * The security-header policy: validates the `headers` section, then precomputes every distinct header set once
 * (per site, per override path prefix, for HTTPS and for plain HTTP). Pure.
 *
 * Per request nothing is built: `select()` walks a short, precomputed list of prefixes and returns a set, and
 * `applyTo()` runs three loops over precomputed arrays against the upstream's header object (remove leak headers,
 * then `set` headers overwrite, then `default` headers fill gaps); `applyToCopy()` does the same into a new object.
 * Because the upstream's own headers are rewritten before they are copied to the reply, Rampart's values win over
 * them whatever order later hooks copy headers in.
 *
 * Header values are generated here from the config rather than by helmet: @fastify/helmet rebuilds helmet's
 * middleware on every request, helmet has no `default`/`remove`/`off` modes against upstream values, and it writes
 * to the raw response before the proxied headers arrive, so the upstream's own headers would override it.
 *
 * Failure: nothing here can fail per request (no store, no parsing). A bad config fails at startup.
 */
import {
  Headers as HeadersSchema, HEADER_FIELD_KEYS,
  type HeadersConfig, type HeaderFieldKey, type HeaderMode, type HeaderObject, type HeaderSetting, type HstsSetting,
} from '../config/sections/headers.js'
import { normalizeHostPattern } from '../config/types.js'
import { RampartError, type ErrorCode } from '../errors.js'

export type HeaderValue = string | string[] | number | undefined
export type HeaderObjectLike = Record<string, HeaderValue>

export interface SiteRef {
  readonly name: string
  readonly hosts: readonly string[]
}

export interface CompiledHeaderSet {
  /**
   * Mutates a Node-style upstream header object (lower-case keys): removes leak headers, then applies `set` and
   * `default` headers. Allocates nothing.
   */
  applyTo(headers: HeaderObjectLike): void
  /**
   * The same result as a new object; `headers` is left as it was. Cheaper than `applyTo` when leak headers are
   * present (deleting properties makes V8 fall back to slow dictionary objects), and the natural fit for
   * @fastify/reply-from's `rewriteHeaders`, which returns the headers to send.
   */
  applyToCopy(headers: Readonly<HeaderObjectLike>): HeaderObjectLike
  /** Headers for responses Rampart makes itself (error pages, redirects): `[lowerName, value]` pairs. */
  readonly own: ReadonlyArray<readonly [string, string]>
}

export interface HeaderPolicy {
  /** The precomputed set for a site (index into `sites`) and request path (query string allowed). No allocation for ordinary paths. */
  select(siteIndex: number, path: string, https: boolean): CompiledHeaderSet
  /** The set for responses not tied to a site (e.g. 400 bad host). */
  fallback(https: boolean): CompiledHeaderSet
  /** How many distinct header sets were precomputed (for the startup log). */
  readonly setCount: number
}

/** A config problem, shaped like the config cross-check's so the caller can attach file and line. */
export interface HeaderProblem {
  readonly at: ReadonlyArray<string | number>
  readonly path: string
  readonly message: string
  readonly code: ErrorCode
  readonly severity: 'error' | 'warning'
}

// ---------------------------------------------------------------------------------------------------------------
// Header grammar: one checker per header. Each returns the normalized value or an error message, plus warnings.

interface Checked {
  value?: string
  error?: string
  warnings?: string[]
}

interface FieldSpec {
  readonly header: string
  readonly display: string
  readonly httpsOnly?: boolean
  check(value: string): Checked
}

const REFERRER_TOKENS = [
  'no-referrer', 'no-referrer-when-downgrade', 'origin', 'origin-when-cross-origin', 'same-origin', 'strict-origin',
  'strict-origin-when-cross-origin', 'unsafe-url',
] as const

/** CSP Level 3 directives plus the few still in use from earlier levels; an unknown one is a warning (likely a typo). */
const CSP_DIRECTIVES = new Set([
  'base-uri', 'block-all-mixed-content', 'child-src', 'connect-src', 'default-src', 'fenced-frame-src', 'font-src',
  'form-action', 'frame-ancestors', 'frame-src', 'img-src', 'manifest-src', 'media-src', 'navigate-to', 'object-src',
  'plugin-types', 'prefetch-src', 'report-to', 'report-uri', 'require-sri-for', 'require-trusted-types-for', 'sandbox',
  'script-src', 'script-src-attr', 'script-src-elem', 'style-src', 'style-src-attr', 'style-src-elem', 'trusted-types',
  'upgrade-insecure-requests', 'webrtc', 'worker-src',
])
const CSP_KEYWORDS = new Set([
  'self', 'none', 'unsafe-inline', 'unsafe-eval', 'strict-dynamic', 'unsafe-hashes', 'report-sample',
  'wasm-unsafe-eval', 'unsafe-allow-redirects', 'inline-speculation-rules',
])
/** Directives browsers ignore when delivered in a report-only policy. */
const CSP_NOT_IN_REPORT_ONLY = new Set(['frame-ancestors', 'sandbox'])

function oneOf(allowed: readonly string[], lower: boolean) {
  const list = allowed.join(', ')
  return (value: string): Checked => {
    const v = lower ? value.toLowerCase() : value.toUpperCase()
    return allowed.includes(v) ? { value: v } : { error: `must be one of ${list}, not '${value}'` }
  }
}

function checkCsp(reportOnly: boolean) {
  return (value: string): Checked => {
    if (value.includes(',')) return { error: 'contains \',\' which starts a second policy; separate directives with \';\'' }
    const warnings: string[] = []
    const seen = new Set<string>()
    const parts: string[] = []
    for (const raw of value.split(';')) {
      const tokens = raw.trim().split(/[ \t]+/).filter((t) => t !== '')
      const first = tokens[0]
      if (first === undefined) continue
      const name = first.toLowerCase()
      if (!/^[a-z][a-z0-9-]*$/.test(name)) return { error: `'${first}' is not a CSP directive name` }
      if (!CSP_DIRECTIVES.has(name)) warnings.push(`unknown CSP directive '${name}'`)
      if (seen.has(name)) warnings.push(`directive '${name}' appears twice; browsers ignore the second`)
      if (reportOnly && CSP_NOT_IN_REPORT_ONLY.has(name)) warnings.push(`'${name}' is ignored in a report-only policy`)
      seen.add(name)
      for (const t of tokens.slice(1)) {
        if (CSP_KEYWORDS.has(t.toLowerCase())) warnings.push(`'${t}' must be quoted ("'${t}'"); unquoted it names a host`)
      }
      parts.push([name, ...tokens.slice(1)].join(' '))
    }
    if (parts.length === 0) return { error: 'has no directives' }
    return { value: parts.join('; '), warnings }
  }
}

const PP_VALUE = '(?:\\*|self|src|"[^"\\\\]*"|\\((?:[ ]*(?:\\*|self|src|"[^"\\\\]*"))*[ ]*\\))'
const PP_MEMBER = new RegExp(`^[a-z][a-z0-9-]*=${PP_VALUE}(?:;[a-z][a-z0-9_.*-]*(?:=[^,;]+)?)*$`)

function checkPermissionsPolicy(value: string): Checked {
  const members: string[] = []
  for (const raw of value.split(',')) {
    const m = raw.trim()
    if (m === '') continue
    if (!PP_MEMBER.test(m)) {
      return { error: `'${m}' is not a Permissions-Policy entry; write feature=(allowlist), e.g. camera=() or geolocation=(self)` }
    }
    members.push(m)
  }
  if (members.length === 0) return { error: 'has no entries' }
  return { value: members.join(', ') }
}

function checkReferrerPolicy(value: string): Checked {
  const tokens: string[] = []
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase()
    if (!(REFERRER_TOKENS as readonly string[]).includes(t)) {
      return { error: `'${raw.trim()}' is not a Referrer-Policy token (allowed: ${REFERRER_TOKENS.join(', ')})` }
    }
    tokens.push(t)
  }
  return { value: tokens.join(', ') }
}

function checkXFrameOptions(value: string): Checked {
  const v = value.toUpperCase()
  if (v === 'DENY' || v === 'SAMEORIGIN') return { value: v }
  if (v.startsWith('ALLOW-FROM')) {
    return { error: 'ALLOW-FROM is ignored by current browsers; use frame-ancestors in contentSecurityPolicy instead' }
  }
  return { error: `must be DENY or SAMEORIGIN, not '${value}'` }
}

const XXP = /^(?:(0)|(1)|1[ \t]*;[ \t]*mode[ \t]*=[ \t]*block|1[ \t]*;[ \t]*report[ \t]*=[ \t]*(\S+))$/i

function checkXXssProtection(value: string): Checked {
  const m = XXP.exec(value)
  if (!m) return { error: `must be 0, 1, '1; mode=block' or '1; report=<uri>', not '${value}'` }
  if (m[1]) return { value: '0' }
  if (m[2]) return { value: '1' }
  return { value: m[3] ? `1; report=${m[3]}` : '1; mode=block' }
}

function checkHstsString(value: string): Checked {
  let maxAge: string | undefined
  const out: string[] = []
  for (const raw of value.split(';')) {
    const d = raw.trim()
    if (d === '') continue
    const m = /^max-age[ \t]*=[ \t]*"?(\d+)"?$/i.exec(d)
    if (m) {
      if (maxAge !== undefined) return { error: 'has max-age twice' }
      maxAge = m[1]!
      out.unshift(`max-age=${maxAge}`)
    } else if (/^includesubdomains$/i.test(d)) {
      out.push('includeSubDomains')
    } else if (/^preload$/i.test(d)) {
      out.push('preload')
    } else {
      return { error: `must be like 'max-age=63072000; includeSubDomains', not '${value}'` }
    }
  }
  if (maxAge === undefined) return { error: 'needs max-age, like \'max-age=63072000; includeSubDomains\'' }
  return { value: out.join('; '), warnings: hstsPreloadWarnings(Number(maxAge), out.includes('includeSubDomains'), out.includes('preload')) }
}

function hstsPreloadWarnings(maxAge: number, includeSubDomains: boolean, preload: boolean): string[] {
  return preload && (maxAge < 31536000 || !includeSubDomains)
    ? ['preload is refused by the browsers\' preload list unless max-age is at least 31536000 and includeSubDomains is on']
    : []
}

const EXPECT_CT = /^max-age[ \t]*=[ \t]*\d+(?:[ \t]*,[ \t]*(?:enforce|report-uri[ \t]*=[ \t]*"[^"]+"))*$/i
const EXPECT_CT_WARNING = 'browsers ignore Expect-CT since 2022; it only adds bytes to every response'

function checkExpectCt(value: string): Checked {
  if (!EXPECT_CT.test(value)) return { error: `must be like 'max-age=86400, enforce', not '${value}'` }
  return { value, warnings: [EXPECT_CT_WARNING] }
}

const SPECS: Record<HeaderFieldKey, FieldSpec> = {
  hsts: { header: 'strict-transport-security', display: 'Strict-Transport-Security', httpsOnly: true, check: checkHstsString },
  contentSecurityPolicy: { header: 'content-security-policy', display: 'Content-Security-Policy', check: checkCsp(false) },
  contentSecurityPolicyReportOnly: {
    header: 'content-security-policy-report-only', display: 'Content-Security-Policy-Report-Only', check: checkCsp(true),
  },
  xContentTypeOptions: {
    header: 'x-content-type-options', display: 'X-Content-Type-Options',
    check: (v) => (v.toLowerCase() === 'nosniff' ? { value: 'nosniff' } : { error: `must be nosniff, not '${v}'` }),
  },
  xFrameOptions: { header: 'x-frame-options', display: 'X-Frame-Options', check: checkXFrameOptions },
  referrerPolicy: { header: 'referrer-policy', display: 'Referrer-Policy', check: checkReferrerPolicy },
  permissionsPolicy: { header: 'permissions-policy', display: 'Permissions-Policy', check: checkPermissionsPolicy },
  crossOriginOpenerPolicy: {
    header: 'cross-origin-opener-policy', display: 'Cross-Origin-Opener-Policy',
    check: oneOf(['same-origin', 'same-origin-allow-popups', 'noopener-allow-popups', 'unsafe-none'], true),
  },
  crossOriginResourcePolicy: {
    header: 'cross-origin-resource-policy', display: 'Cross-Origin-Resource-Policy',
    check: oneOf(['same-origin', 'same-site', 'cross-origin'], true),
  },
  xXssProtection: { header: 'x-xss-protection', display: 'X-XSS-Protection', check: checkXXssProtection },
  expectCt: { header: 'expect-ct', display: 'Expect-CT', check: checkExpectCt },
}

/** Headers a response cannot be read without; removing them is always a mistake. */
const NOT_REMOVABLE = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding'])

// ---------------------------------------------------------------------------------------------------------------
// Resolving the config into layers of `{ mode, value }`.

type Resolved =
  | { readonly mode: 'off' }
  | { readonly mode: 'remove' }
  | { readonly mode: 'set' | 'default'; readonly value: string }

interface Layer {
  fields: Partial<Record<HeaderFieldKey, Resolved>>
  remove?: readonly string[]
}

type Path = ReadonlyArray<string | number>

class ProblemList {
  readonly list: HeaderProblem[] = []
  error(at: Path, message: string): void {
    this.list.push({ at, path: formatPath(at), message, code: 'RAMPART_ERR_HEADERS_INVALID', severity: 'error' })
  }
  warn(at: Path, message: string): void {
    this.list.push({ at, path: formatPath(at), message, code: 'RAMPART_ERR_HEADERS_INEFFECTIVE', severity: 'warning' })
  }
}

function formatPath(path: Path): string {
  let out = ''
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg
  return out
}

/** The value a header gets when an object form leaves `value` out: read from the schema's default. */
function builtInValue(key: HeaderFieldKey): string | undefined {
  const d = (HeadersSchema.properties[key] as { default?: unknown }).default
  if (typeof d === 'string') return d
  if (d && typeof d === 'object' && 'value' in d && typeof (d as { value: unknown }).value === 'string') return (d as { value: string }).value
  return undefined
}

const HSTS_DEFAULTS = (HeadersSchema.properties.hsts as unknown as {
  properties: { maxAge: { default: number }; includeSubDomains: { default: boolean }; preload: { default: boolean } }
}).properties

function resolveHsts(setting: HstsSetting, at: Path, problems: ProblemList): Resolved | undefined {
  if (setting === false) return { mode: 'off' }
  if (typeof setting === 'string') return resolveString('hsts', setting, 'set', at, problems)
  const o = setting === true ? {} : setting
  const mode: HeaderMode = (o as { mode?: HeaderMode }).mode ?? 'set'
  if (mode === 'off') return { mode: 'off' }
  if (mode === 'remove') return { mode: 'remove' }
  const maxAge = (o as { maxAge?: number }).maxAge ?? HSTS_DEFAULTS.maxAge.default
  const sub = (o as { includeSubDomains?: boolean }).includeSubDomains ?? HSTS_DEFAULTS.includeSubDomains.default
  const preload = (o as { preload?: boolean }).preload ?? HSTS_DEFAULTS.preload.default
  for (const w of hstsPreloadWarnings(maxAge, sub, preload)) problems.warn(at, w)
  const value = `max-age=${maxAge}${sub ? '; includeSubDomains' : ''}${preload ? '; preload' : ''}`
  return { mode, value }
}

function resolveString(key: HeaderFieldKey, raw: string, mode: 'set' | 'default', at: Path, problems: ProblemList): Resolved | undefined {
  const text = raw.trim()
  if (text === '') {
    problems.error(at, 'must not be empty (use false to leave the header alone)')
    return undefined
  }
  if (!/^[\x20-\x7e\t]*$/.test(text)) {
    problems.error(at, 'must contain only printable ASCII characters')
    return undefined
  }
  const checked = SPECS[key].check(text)
  for (const w of checked.warnings ?? []) problems.warn(at, w)
  if (checked.error !== undefined || checked.value === undefined) {
    problems.error(at, checked.error ?? 'is invalid')
    return undefined
  }
  return { mode, value: checked.value }
}

function resolveField(key: HeaderFieldKey, setting: HeaderSetting | HstsSetting, at: Path, problems: ProblemList): Resolved | undefined {
  if (key === 'hsts') return resolveHsts(setting as HstsSetting, at, problems)
  if (setting === false) return { mode: 'off' }
  if (setting === true) {
    problems.error(at, 'true is not a header value: write the value, or false to leave the header alone')
    return undefined
  }
  if (typeof setting === 'string' || typeof setting === 'number') return resolveString(key, String(setting), 'set', at, problems)
  setting = setting as HeaderObject
  const mode = setting.mode ?? 'set'
  if (mode === 'off') return { mode: 'off' }
  if (mode === 'remove') return { mode: 'remove' }
  const value = setting.value !== undefined ? String(setting.value) : builtInValue(key)
  if (value === undefined) {
    problems.error([...at, 'value'], `needs a value: ${SPECS[key].display} has no built-in one`)
    return undefined
  }
  return resolveString(key, value, mode, setting.value !== undefined ? [...at, 'value'] : at, problems)
}

function resolveLayer(settings: Partial<HeadersConfig>, at: Path, problems: ProblemList): Layer {
  const layer: Layer = { fields: {} }
  for (const key of HEADER_FIELD_KEYS) {
    const s = settings[key]
    if (s === undefined) continue
    const r = resolveField(key, s, [...at, key], problems)
    if (r) layer.fields[key] = r
  }
  if (settings.remove !== undefined) {
    const remove: string[] = []
    settings.remove.forEach((name, i) => {
      const lower = name.toLowerCase()
      if (NOT_REMOVABLE.has(lower)) problems.error([...at, 'remove', i], `'${lower}' cannot be removed: clients need it to read the response`)
      else if (!remove.includes(lower)) remove.push(lower)
    })
    layer.remove = remove
  }
  return layer
}

/** Index of the site an override names (by `name`, or by one of its `hosts` as written), or -1. */
function findSite(ref: string, sites: ReadonlyArray<SiteRef>): number {
  const byName = sites.findIndex((s) => s.name === ref)
  if (byName !== -1) return byName
  const host = normalizeHostPattern(ref)
  if (host === undefined) return -1
  return sites.findIndex((s) => s.hosts.some((h) => normalizeHostPattern(h) === host))
}

interface ResolvedOverride {
  readonly index: number
  readonly site: number | undefined
  readonly prefix: string
  readonly layer: Layer
}

interface Resolution {
  readonly base: Layer
  readonly overrides: ResolvedOverride[]
  readonly problems: HeaderProblem[]
}

function resolveConfig(cfg: HeadersConfig, sites: ReadonlyArray<SiteRef>): Resolution {
  const problems = new ProblemList()
  const base = resolveLayer(cfg, ['headers'], problems)
  const overrides: ResolvedOverride[] = []
  ;(cfg.overrides ?? []).forEach((o, index) => {
    const at = ['headers', 'overrides', index]
    if (o.site === undefined && o.pathPrefix === undefined) {
      problems.error(at, 'an override needs \'site\', \'pathPrefix\' or both')
      return
    }
    let site: number | undefined
    if (o.site !== undefined) {
      site = findSite(o.site, sites)
      if (site === -1) {
        problems.error([...at, 'site'], `no site is named '${o.site}' or lists it in hosts (sites: ${sites.map((s) => s.name).join(', ') || 'none'})`)
        return
      }
    }
    const layer = resolveLayer(o, at, problems)
    overrides.push({ index, site, prefix: o.pathPrefix ?? '/', layer })
  })

  if (cfg.cspReports?.enabled) {
    const cspValues = [base, ...overrides.map((o) => o.layer)].flatMap((l) =>
      [l.fields.contentSecurityPolicy, l.fields.contentSecurityPolicyReportOnly])
    const reports = cspValues.some((r) => r !== undefined && 'value' in r && /(^|;)\s*report-(uri|to)\b/i.test(r.value))
    if (!reports) {
      problems.warn(['headers', 'cspReports', 'enabled'],
        `no Content-Security-Policy asks for reports: add 'report-uri ${cfg.cspReports.path}' to one`)
    }
  }
  return { base, overrides, problems: problems.list }
}

/** Every problem in the `headers` section that the schema cannot see, with the path to put it on. Pure. */
export function checkHeadersConfig(cfg: HeadersConfig, sites: ReadonlyArray<SiteRef>): HeaderProblem[] {
  return resolveConfig(cfg, sites).problems
}

// ---------------------------------------------------------------------------------------------------------------
// Compiling.

class HeaderSet implements CompiledHeaderSet {
  readonly own: ReadonlyArray<readonly [string, string]>
  readonly #remove: string[]
  readonly #removeSet: ReadonlySet<string>
  readonly #setNames: string[]
  readonly #setValues: string[]
  readonly #defaultNames: string[]
  readonly #defaultValues: string[]

  constructor(remove: string[], set: Array<[string, string]>, defaults: Array<[string, string]>, own: Array<[string, string]>) {
    this.#remove = remove
    this.#removeSet = new Set(remove)
    this.#setNames = set.map((p) => p[0])
    this.#setValues = set.map((p) => p[1])
    this.#defaultNames = defaults.map((p) => p[0])
    this.#defaultValues = defaults.map((p) => p[1])
    this.own = Object.freeze(own.map((p) => Object.freeze(p) as readonly [string, string]))
  }

  applyTo(headers: HeaderObjectLike): void {
    const remove = this.#remove
    for (let i = 0; i < remove.length; i++) {
      const name = remove[i]!
      if (headers[name] !== undefined) delete headers[name]
    }
    const setNames = this.#setNames
    const setValues = this.#setValues
    for (let i = 0; i < setNames.length; i++) headers[setNames[i]!] = setValues[i]!
    this.#fillDefaults(headers)
  }

  applyToCopy(headers: Readonly<HeaderObjectLike>): HeaderObjectLike {
    const out: HeaderObjectLike = {}
    const remove = this.#removeSet
    for (const name in headers) if (!remove.has(name)) out[name] = headers[name]
    const setNames = this.#setNames
    const setValues = this.#setValues
    for (let i = 0; i < setNames.length; i++) out[setNames[i]!] = setValues[i]!
    this.#fillDefaults(out)
    return out
  }

  /** `default` mode: an absent or empty upstream header counts as none sent. */
  #fillDefaults(headers: HeaderObjectLike): void {
    const defNames = this.#defaultNames
    const defValues = this.#defaultValues
    for (let i = 0; i < defNames.length; i++) {
      const name = defNames[i]!
      if (headers[name] === undefined || headers[name] === '') headers[name] = defValues[i]!
    }
  }
}

function merge(layers: readonly Layer[]): Layer {
  const out: Layer = { fields: {} }
  for (const l of layers) {
    Object.assign(out.fields, l.fields)
    if (l.remove !== undefined) out.remove = l.remove
  }
  return out
}

function buildSet(layer: Layer, https: boolean, cache: Map<string, HeaderSet>): HeaderSet {
  const remove = [...(layer.remove ?? [])]
  const set: Array<[string, string]> = []
  const defaults: Array<[string, string]> = []
  const own: Array<[string, string]> = []
  for (const key of HEADER_FIELD_KEYS) {
    const r = layer.fields[key]
    if (r === undefined || r.mode === 'off') continue
    const spec = SPECS[key]
    if (r.mode === 'remove') {
      if (!remove.includes(spec.header)) remove.push(spec.header)
      continue
    }
    if (spec.httpsOnly && !https) {
      // Browsers ignore HSTS over plain HTTP; Rampart sends none there, and in `set` mode owns the header outright.
      if (r.mode === 'set' && !remove.includes(spec.header)) remove.push(spec.header)
      continue
    }
    ;(r.mode === 'set' ? set : defaults).push([spec.header, r.value])
    own.push([spec.header, r.value])
  }
  const key = JSON.stringify([remove, set, defaults])
  let hit = cache.get(key)
  if (!hit) {
    hit = new HeaderSet(remove, set, defaults, own)
    cache.set(key, hit)
  }
  return hit
}

/** True when `prefix` covers `other` (both config prefixes): `/a` covers `/a` and `/a/b`, not `/ab`. */
function covers(prefix: string, other: string): boolean {
  if (prefix === '/' || prefix === other) return true
  if (!other.startsWith(prefix)) return false
  return prefix.endsWith('/') || other.charCodeAt(prefix.length) === 47
}

const SLASH = 47
const QUESTION = 63
const HASH = 35
const SEMICOLON = 59

/** Request path matching: `/a` matches `/a`, `/a/x`, `/a?q`, `/a;jsessionid=1`, not `/ab`. */
function pathMatches(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false
  if (path.length === prefix.length || prefix.charCodeAt(prefix.length - 1) === SLASH) return true
  const c = path.charCodeAt(prefix.length)
  return c === SLASH || c === QUESTION || c === SEMICOLON || c === HASH
}

/**
 * Whether a path needs normalizing before prefix matching: percent-escapes, backslashes, `//` or dot segments could
 * otherwise reach a path the upstream resolves to `/admin` while not matching an `/admin` override.
 */
function needsNormalizing(path: string): boolean {
  let prev = 0
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === QUESTION || c === HASH) return false
    if (c === 37 /* % */ || c === 92 /* \ */) return true
    if (prev === SLASH && (c === SLASH || c === 46 /* . */)) return true
    prev = c
  }
  return false
}

/** The path part, percent-decoded, with `\` as `/`, repeated slashes merged and dot segments resolved. Rare path. */
export function normalizePathForMatch(path: string): string {
  let end = path.length
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === QUESTION || c === HASH) { end = i; break }
  }
  let p = path.slice(0, end)
  // Decoding twice covers `%252e`-style double encoding some upstreams decode again.
  for (let round = 0; round < 2 && p.includes('%'); round++) {
    p = p.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
  p = p.replace(/\\/g, '/')
  const out: string[] = []
  const segments = p.split('/')
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!
    if (s === '' && i < segments.length - 1) continue
    if (s === '.') { if (i === segments.length - 1) out.push(''); continue }
    if (s === '..') { out.pop(); if (i === segments.length - 1) out.push(''); continue }
    out.push(s)
  }
  return `/${out.join('/')}`
}

interface PrefixEntry {
  readonly prefix: string
  readonly https: HeaderSet
  readonly http: HeaderSet
}

/**
 * Validates and compiles the `headers` section. Throws a `RampartError` (RAMPART_ERR_HEADERS_INVALID) listing every
 * error; returns warnings (`path: message`) for the caller to log. `sites` are in config order: `select()` takes an
 * index into them.
 */
export function compileHeaderPolicy(cfg: HeadersConfig, sites: ReadonlyArray<SiteRef>): { policy: HeaderPolicy; warnings: string[] } {
  const { base, overrides, problems } = resolveConfig(cfg, sites)
  const errors = problems.filter((p) => p.severity === 'error')
  if (errors.length > 0) {
    throw new RampartError('RAMPART_ERR_HEADERS_INVALID', errors.map((p) => `${p.path}: ${p.message}`).join('; '))
  }
  const warnings = problems.filter((p) => p.severity === 'warning').map((p) => `${p.path}: ${p.message}`)

  const cache = new Map<string, HeaderSet>()
  const fallbackHttps = buildSet(base, true, cache)
  const fallbackHttp = buildSet(base, false, cache)

  const perSite: PrefixEntry[][] = sites.map((_site, s) => {
    const applicable = overrides.filter((o) => o.site === undefined || o.site === s)
    const prefixes = [...new Set(['/', ...applicable.map((o) => o.prefix)])].sort((a, b) => b.length - a.length)
    return prefixes.map((prefix) => {
      const layers = applicable
        .filter((o) => covers(o.prefix, prefix))
        // Longest prefix last (it wins); at equal length a site-specific entry beats a global one; then config order.
        .sort((a, b) => a.prefix.length - b.prefix.length || Number(a.site !== undefined) - Number(b.site !== undefined) || a.index - b.index)
        .map((o) => o.layer)
      const merged = merge([base, ...layers])
      return { prefix, https: buildSet(merged, true, cache), http: buildSet(merged, false, cache) }
    })
  })

  const policy: HeaderPolicy = {
    select(siteIndex: number, path: string, https: boolean): CompiledHeaderSet {
      const entries = perSite[siteIndex]
      if (entries === undefined) return https ? fallbackHttps : fallbackHttp
      const target = entries.length > 1 && needsNormalizing(path) ? normalizePathForMatch(path) : path
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!
        if (pathMatches(target, e.prefix)) return https ? e.https : e.http
      }
      // Unreachable for paths starting with '/': the '/' entry matches them. Anything else gets the site's base.
      const last = entries[entries.length - 1]!
      return https ? last.https : last.http
    },
    fallback(https: boolean): CompiledHeaderSet {
      return https ? fallbackHttps : fallbackHttp
    },
    setCount: cache.size,
  }
  return { policy, warnings }
}
