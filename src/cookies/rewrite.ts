/**
 * The Set-Cookie rewriter: hardens each upstream Set-Cookie line per the `cookies` config of one site. Pure.
 *
 * Contract:
 * - Every line is handled on its own. Lines are never joined, reordered or dropped, except invalid ones, which are
 *   reported by name (never by value).
 * - A line that already satisfies the policy is returned as the same string: no parsing into objects, no
 *   re-serialization, no allocation beyond the result array. Otherwise only what must change is changed: missing
 *   flags are appended, and a Domain, Path or SameSite that must change is replaced by one canonical attribute.
 * - Secure is added (always for `__Secure-`/`__Host-` cookies, `SameSite=None` and `Partitioned`). HttpOnly is added
 *   unless an exception says not to; an upstream's HttpOnly is never removed. SameSite is raised to the configured
 *   floor; a stricter upstream value is kept, because the upstream knows its cookie is never needed cross-site.
 * - A Domain outside the site is never passed on. `__Host-` cookies get no Domain and `Path=/`.
 * - `rewrite()` never throws. If handling a line fails unexpectedly, `onError: closed` (the default) drops it and
 *   reports it in `dropped`, because an unhardened session cookie is worse than a missing one; `open` passes it
 *   unchanged.
 */
import {
  Cookies as CookiesSchema,
  type CookiesConfig, type SiteCookiesConfig, type CookieRuleConfig, type CookieExceptSetting, type SameSiteSetting,
  type CookiePathSetting,
} from '../config/sections/cookies.js'
import { normalizeHostname } from '../config/types.js'
import { RampartError, type ErrorCode } from '../errors.js'
import {
  ATTR, SAMESITE, CookieScan, scanSetCookie, invalidName, invalidReason, regionEqualsLower, regionStartsWithLower,
  sameSiteOf, isCookieNameChar,
} from './set-cookie.js'

export interface CookieSite {
  readonly name: string
  readonly hosts: readonly string[]
  /** The site's `cookies` section, if any: its fields replace the top-level ones. */
  readonly cookies?: SiteCookiesConfig | undefined
}

export interface DroppedCookie {
  readonly name: string
  readonly reason: string
}

export interface RewriteResult {
  readonly values: string[]
  /** Shared and frozen when empty. */
  readonly dropped: readonly DroppedCookie[]
}

export interface CookieRewriter {
  /** One upstream Set-Cookie value or the array Node gives. `requestHost` is the Host the client sent (port allowed). */
  rewrite(setCookie: string | readonly string[], requestHost: string): RewriteResult
}

export interface CookieProblem {
  readonly at: ReadonlyArray<string | number>
  readonly path: string
  readonly message: string
  readonly code: ErrorCode
  readonly severity: 'error' | 'warning'
}

// ---------------------------------------------------------------------------------------------------------------
// Compiled settings

const DOMAIN_DROP = 0
const DOMAIN_KEEP_IF_INSIDE = 1
const DOMAIN_FIXED = 2

interface DomainPolicy {
  readonly kind: typeof DOMAIN_DROP | typeof DOMAIN_KEEP_IF_INSIDE | typeof DOMAIN_FIXED
  /** Lower-case, for DOMAIN_FIXED. */
  readonly domain: string
}

interface CookieSettings {
  readonly httpOnly: boolean
  /** Floor: SAMESITE.DEFAULT (0) means `off`, leave the upstream's alone. */
  readonly sameSite: number
  readonly domain: DomainPolicy
}

const RULE_EXACT = 0
const RULE_GLOB = 1
const RULE_REGEX = 2

interface Rule {
  readonly kind: typeof RULE_EXACT | typeof RULE_GLOB | typeof RULE_REGEX
  readonly text: string
  readonly regex: RegExp | undefined
  readonly settings: CookieSettings
}

interface PathRule {
  readonly from: string
  readonly to: string
}

const SAMESITE_FLOOR: Record<SameSiteSetting, number> = { off: SAMESITE.DEFAULT, None: SAMESITE.NONE, Lax: SAMESITE.LAX, Strict: SAMESITE.STRICT }
const SAMESITE_TEXT = ['', 'None', 'Lax', 'Strict'] as const

const EMPTY_DROPPED: readonly DroppedCookie[] = Object.freeze([])

/** Defaults come from the schema, so a config that skipped validation still gets the documented ones. */
function schemaDefault<K extends keyof CookiesConfig>(key: K): CookiesConfig[K] {
  return (CookiesSchema.properties[key] as { default?: unknown }).default as CookiesConfig[K]
}

interface Merged {
  enabled: boolean
  secure: boolean
  httpOnly: boolean
  sameSite: SameSiteSetting
  domain: string
  path: CookiePathSetting | undefined
  onError: 'open' | 'closed'
  /** Site rules first, each with where it came from. */
  except: Array<{ setting: CookieExceptSetting; at: Array<string | number> }>
}

function merge(cfg: Partial<CookiesConfig>, site: CookieSite, siteAt: Array<string | number>): Merged {
  const s: SiteCookiesConfig = site.cookies ?? {}
  const pick = <K extends keyof CookiesConfig>(key: K): NonNullable<CookiesConfig[K]> =>
    (s[key] ?? cfg[key] ?? schemaDefault(key)) as NonNullable<CookiesConfig[K]>
  const except: Merged['except'] = []
  if (s.except !== undefined) except.push({ setting: s.except, at: [...siteAt, 'except'] })
  except.push({ setting: cfg.except ?? schemaDefault('except'), at: ['cookies', 'except'] })
  return {
    enabled: pick('enabled'),
    secure: pick('secure'),
    httpOnly: pick('httpOnly'),
    sameSite: pick('sameSite'),
    domain: pick('domain'),
    path: s.path ?? cfg.path,
    onError: pick('onError'),
    except,
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Config checks (shared by `checkCookiesConfig` and the compiler)

class Problems {
  readonly list: CookieProblem[] = []
  error(at: ReadonlyArray<string | number>, message: string, code: ErrorCode = 'RAMPART_ERR_CONFIG_SCHEMA'): void {
    this.list.push({ at, path: formatPath(at), message, code, severity: 'error' })
  }
}

function formatPath(path: ReadonlyArray<string | number>): string {
  let out = ''
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg
  return out
}

/** Does a fixed cookie domain cover a site host pattern (so that some request host lies inside it)? */
function domainCoversPattern(domain: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) {
    const base = pattern.slice(2)
    if (domain === base || base.endsWith(`.${domain}`)) return true
    // `club.a.test` lies inside `*.a.test`: the wildcard's hosts include it.
    return domain.endsWith(`.${base}`) && !domain.slice(0, -base.length - 1).includes('.')
  }
  return pattern === domain || pattern.endsWith(`.${domain}`)
}

function compileDomain(value: string, site: CookieSite, at: ReadonlyArray<string | number>, problems: Problems): DomainPolicy | undefined {
  if (value === 'drop') return { kind: DOMAIN_DROP, domain: '' }
  if (value === 'keep-if-inside') return { kind: DOMAIN_KEEP_IF_INSIDE, domain: '' }
  const host = normalizeHostname(value.startsWith('.') ? value.slice(1) : value)
  if (host === undefined || !host.includes('.')) {
    problems.error(at, `'${value}' must be drop, keep-if-inside or a domain name like club.example`)
    return undefined
  }
  if (!site.hosts.some((h) => domainCoversPattern(host, h.toLowerCase()))) {
    problems.error(at, `domain '${host}' covers none of the hosts of site '${site.name}' (${site.hosts.join(', ')})`,
      'RAMPART_ERR_CONFIG_CONFLICT')
    return undefined
  }
  return { kind: DOMAIN_FIXED, domain: host }
}

const REGEX_LITERAL = /^\/(.+)\/([a-z]*)$/s

function compileRule(match: string, settings: CookieSettings, at: ReadonlyArray<string | number>, problems: Problems, exactOnly: boolean): Rule | undefined {
  const re = exactOnly ? null : REGEX_LITERAL.exec(match)
  if (re) {
    const flags = re[2]!
    if (/[^iu]/.test(flags)) {
      problems.error(at, `regex flags may only be i and u, not '${flags}'`)
      return undefined
    }
    try {
      return { kind: RULE_REGEX, text: match, regex: new RegExp(re[1]!, flags), settings }
    } catch (err) {
      problems.error(at, `'${match}' is not a valid regular expression (${(err as Error).message})`)
      return undefined
    }
  }
  const glob = !exactOnly && (match.includes('*') || match.includes('?'))
  for (let i = 0; i < match.length; i++) {
    const c = match.charCodeAt(i)
    if (!isCookieNameChar(c) && !(glob && (c === 42 || c === 63))) {
      problems.error(at, `'${match}' is not a valid cookie name${exactOnly ? '' : ' or glob'}`)
      return undefined
    }
  }
  return { kind: glob ? RULE_GLOB : RULE_EXACT, text: match, regex: undefined, settings }
}

function ruleSettings(rule: CookieRuleConfig, base: CookieSettings, site: CookieSite, at: ReadonlyArray<string | number>, problems: Problems): CookieSettings {
  const domain = rule.domain !== undefined ? compileDomain(rule.domain, site, [...at, 'domain'], problems) : base.domain
  return {
    httpOnly: rule.httpOnly ?? base.httpOnly,
    sameSite: rule.sameSite !== undefined ? SAMESITE_FLOOR[rule.sameSite] : base.sameSite,
    domain: domain ?? base.domain,
  }
}

function compileRules(merged: Merged, base: CookieSettings, site: CookieSite, problems: Problems): Rule[] {
  const rules: Rule[] = []
  for (const { setting, at } of merged.except) {
    if (Array.isArray(setting)) {
      setting.forEach((r, i) => {
        const s = ruleSettings(r, base, site, [...at, i], problems)
        const rule = compileRule(r.match, s, [...at, i, 'match'], problems, false)
        if (rule) rules.push(rule)
      })
    } else {
      for (const [name, r] of Object.entries(setting)) {
        const s = ruleSettings(r, base, site, [...at, name], problems)
        const rule = compileRule(name, s, [...at, name], problems, true)
        if (rule) rules.push(rule)
      }
    }
  }
  return rules
}

function compilePath(path: CookiePathSetting | undefined, at: ReadonlyArray<string | number>, problems: Problems): { set: string | undefined; rewrite: PathRule[] } {
  if (path === undefined) return { set: undefined, rewrite: [] }
  if (typeof path === 'string') return { set: path, rewrite: [] }
  if (path.set !== undefined && path.rewrite !== undefined) {
    problems.error(at, 'give either set or rewrite, not both', 'RAMPART_ERR_CONFIG_CONFLICT')
  } else if (path.set === undefined && (path.rewrite === undefined || path.rewrite.length === 0)) {
    problems.error(at, 'needs set or at least one rewrite rule')
  }
  return { set: path.set, rewrite: (path.rewrite ?? []).map((r) => ({ from: r.from, to: r.to })) }
}

/** Site hosts and their parents: a Domain at or below one of these lies inside the site. */
function siteAnchors(hosts: readonly string[]): string[] {
  const out = new Set<string>()
  for (const h of hosts) {
    const base = (h.startsWith('*.') ? h.slice(2) : h).toLowerCase()
    out.add(base)
    // A host's parent is where apps put shared cookies (`www.club.example` → `club.example`). A bare TLD never is.
    const dot = base.indexOf('.')
    if (dot !== -1 && base.indexOf('.', dot + 1) !== -1) out.add(base.slice(dot + 1))
  }
  return [...out]
}

interface Compiled {
  merged: Merged
  base: CookieSettings
  rules: Rule[]
  path: { set: string | undefined; rewrite: PathRule[] }
  anchors: string[]
}

function compileSite(cfg: Partial<CookiesConfig>, site: CookieSite, siteAt: Array<string | number>, problems: Problems): Compiled {
  const merged = merge(cfg, site, siteAt)
  const domainAt = site.cookies?.domain !== undefined ? [...siteAt, 'domain'] : ['cookies', 'domain']
  const pathAt = site.cookies?.path !== undefined ? [...siteAt, 'path'] : ['cookies', 'path']
  const domain = compileDomain(merged.domain, site, domainAt, problems) ?? { kind: DOMAIN_KEEP_IF_INSIDE, domain: '' }
  const base: CookieSettings = { httpOnly: merged.httpOnly, sameSite: SAMESITE_FLOOR[merged.sameSite], domain }
  return {
    merged,
    base,
    rules: compileRules(merged, base, site, problems),
    path: compilePath(merged.path, pathAt, problems),
    anchors: siteAnchors(site.hosts),
  }
}

/**
 * Every problem in `cookies` and `sites[].cookies` the schema cannot see, with paths for `file:line` reporting.
 * `sites` are in config order; a site's section is expected at `sites[i].cookies`.
 */
export function checkCookiesConfig(cfg: Partial<CookiesConfig>, sites: readonly CookieSite[]): CookieProblem[] {
  const problems = new Problems()
  sites.forEach((site, i) => compileSite(cfg, site, ['sites', i, 'cookies'], problems))
  // The same top-level mistake shows once per site; report it once.
  const seen = new Set<string>()
  return problems.list.filter((p) => {
    const key = `${p.path}|${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Per-request matching, in place (no substrings)

/** Glob (`*`, `?`) against `line[start, end)`, whole-name match. */
function globMatches(pattern: string, line: string, start: number, end: number): boolean {
  let p = 0
  let s = start
  let starP = -1
  let starS = 0
  while (s < end) {
    const pc = pattern.charCodeAt(p)
    if (p < pattern.length && (pc === 63 || pc === line.charCodeAt(s))) { p++; s++ }
    else if (p < pattern.length && pc === 42) { starP = p++; starS = s }
    else if (starP !== -1) { p = starP + 1; s = ++starS }
    else return false
  }
  while (p < pattern.length && pattern.charCodeAt(p) === 42) p++
  return p === pattern.length
}

function lowerCode(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c
}

/** Is `line[s, e)` (a domain, any case) equal to `anchor` or below it? */
function regionWithin(line: string, s: number, e: number, anchor: string): boolean {
  const len = e - s
  if (len < anchor.length) return false
  const off = e - anchor.length
  for (let i = 0; i < anchor.length; i++) if (lowerCode(line.charCodeAt(off + i)) !== anchor.charCodeAt(i)) return false
  return len === anchor.length || line.charCodeAt(off - 1) === 46
}

/** Does the (canonical) request host domain-match `line[s, e)`? IP addresses only match exactly. */
function hostWithinRegion(host: string, line: string, s: number, e: number): boolean {
  const len = e - s
  if (len === 0 || host.length < len) return false
  const off = host.length - len
  for (let i = 0; i < len; i++) if (host.charCodeAt(off + i) !== lowerCode(line.charCodeAt(s + i))) return false
  return off === 0 || (host.charCodeAt(off - 1) === 46 && !isIpLiteral(host))
}

function hostWithin(host: string, domain: string): boolean {
  return host === domain || (host.endsWith(domain) && host.charCodeAt(host.length - domain.length - 1) === 46 && !isIpLiteral(host))
}

/** Hoisted: a regex literal in a function body is a new object on every call. */
const IPV4_LIKE = /^[0-9.]+$/

function isIpLiteral(host: string): boolean {
  return host.includes(':') || IPV4_LIKE.test(host)
}

/** Lower-case host without port or trailing dot. Returns the argument itself when it is already canonical. */
function canonicalRequestHost(h: string): string {
  let plain = h.length > 0
  for (let i = 0; i < h.length && plain; i++) {
    const c = h.charCodeAt(i)
    plain = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46
  }
  if (plain && h.charCodeAt(h.length - 1) !== 46) return h
  let host = h
  if (host.startsWith('[')) {
    const close = host.indexOf(']')
    host = close === -1 ? host.slice(1) : host.slice(1, close)
  } else {
    const colon = host.indexOf(':')
    if (colon !== -1 && colon === host.lastIndexOf(':')) host = host.slice(0, colon)
  }
  host = host.toLowerCase()
  return host.endsWith('.') ? host.slice(0, -1) : host
}

/** Start of attribute i's value; for a flag written without `=`, an empty region at its end. */
function valueStart(scan: CookieScan, i: number): number {
  const v = scan.valueStarts[i]!
  return v === -1 ? scan.ends[i]! : v
}

function rewritePath(rules: readonly PathRule[], line: string, s: number, e: number): string | undefined {
  for (const r of rules) {
    const len = e - s
    if (len < r.from.length || !line.startsWith(r.from, s)) continue
    const next = line.charCodeAt(s + r.from.length)
    if (len !== r.from.length && !r.from.endsWith('/') && next !== 47) continue
    const rest = line.slice(s + r.from.length, e)
    const joined = r.to.endsWith('/') && rest.startsWith('/') ? r.to + rest.slice(1) : r.to + rest
    return joined === '' ? '/' : joined
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// The rewriter

/**
 * Compiles the rewriter for one site: the top-level `cookies` section with the site's `cookies` over it. Throws a
 * `RampartError` (RAMPART_ERR_CONFIG_INVALID) listing every problem, which validation normally reports first.
 */
export function compileCookieRewriter(cfg: Partial<CookiesConfig>, site: CookieSite): CookieRewriter {
  const problems = new Problems()
  const c = compileSite(cfg, site, ['sites', site.name, 'cookies'], problems)
  if (problems.list.length > 0) {
    throw new RampartError('RAMPART_ERR_CONFIG_INVALID', problems.list.map((p) => `${p.path}: ${p.message}`).join('; '))
  }
  const { merged, base, rules, anchors } = c
  const pathSet = c.path.set
  const pathRules = c.path.rewrite
  const enabled = merged.enabled
  const forceSecure = merged.secure
  const failClosed = merged.onError === 'closed'
  // One scratch per rewriter: `rewrite` is synchronous, so it is never shared by two calls at once.
  const scan = new CookieScan()
  // The last request host and its canonical form: consecutive responses of a site mostly share one Host.
  let lastRawHost = ''
  let lastHost = ''
  const hostOf = (raw: string): string => {
    if (raw !== lastRawHost) {
      lastHost = canonicalRequestHost(raw)
      lastRawHost = raw
    }
    return lastHost
  }

  function settingsFor(line: string): CookieSettings {
    const ns = scan.nameStart
    const ne = scan.nameEnd
    let name: string | undefined
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!
      if (r.kind === RULE_EXACT) {
        if (ne - ns === r.text.length && line.startsWith(r.text, ns)) return r.settings
      } else if (r.kind === RULE_GLOB) {
        if (globMatches(r.text, line, ns, ne)) return r.settings
      } else {
        name ??= line.slice(ns, ne)
        if (r.regex!.test(name)) return r.settings
      }
    }
    return base
  }

  /** The hardened line: `line` itself when nothing changes. Reads `scan`, already filled for `line`. */
  function harden(line: string, rawHost: string): string {
    const ns = scan.nameStart
    const ne = scan.nameEnd
    const settings = settingsFor(line)
    const hostPrefix = regionStartsWithLower(line, ns, ne, '__host-')
    const securePrefix = hostPrefix || regionStartsWithLower(line, ns, ne, '__secure-')

    let hasSecure = false
    let hasHttpOnly = false
    let hasPartitioned = false
    let sameSiteCount = 0
    let lastSameSite = -1
    let domainCount = 0
    let lastDomain = -1
    let pathCount = 0
    let lastPath = -1
    const n = scan.count
    const kinds = scan.kinds
    for (let i = 0; i < n; i++) {
      switch (kinds[i]) {
        case ATTR.SECURE: hasSecure = true; break
        case ATTR.HTTPONLY: hasHttpOnly = true; break
        case ATTR.PARTITIONED: hasPartitioned = true; break
        case ATTR.SAMESITE: sameSiteCount++; lastSameSite = i; break
        case ATTR.DOMAIN: domainCount++; lastDomain = i; break
        case ATTR.PATH: pathCount++; lastPath = i; break
        default: break
      }
    }

    // SameSite: raise to the floor; canonicalize repeats.
    const level = lastSameSite === -1 ? SAMESITE.DEFAULT : sameSiteOf(line, valueStart(scan, lastSameSite), scan.ends[lastSameSite]!)
    const floor = settings.sameSite
    let outLevel: number = level
    let sameSiteChange = false
    if (floor !== SAMESITE.DEFAULT) {
      if (level < floor) outLevel = floor
      sameSiteChange = sameSiteCount !== 1 || level < floor
    }

    const needSecure = forceSecure || securePrefix || outLevel === SAMESITE.NONE || hasPartitioned
    const addSecure = needSecure && !hasSecure
    const addHttpOnly = settings.httpOnly && !hasHttpOnly

    // Domain.
    let domainChange = false
    let outDomain: string | undefined
    if (hostPrefix || settings.domain.kind === DOMAIN_DROP) {
      domainChange = domainCount > 0
    } else if (domainCount > 0 || settings.domain.kind === DOMAIN_FIXED) {
      const host = hostOf(rawHost)
      let ds = -1
      let de = -1
      if (lastDomain !== -1) {
        ds = valueStart(scan, lastDomain)
        de = scan.ends[lastDomain]!
        if (ds < de && line.charCodeAt(ds) === 46) ds++
      }
      if (settings.domain.kind === DOMAIN_FIXED) {
        const fixed = settings.domain.domain
        if (hostWithin(host, fixed)) {
          const same = domainCount === 1 && regionEqualsLower(line, ds, de, fixed)
          domainChange = !same
          outDomain = fixed
        } else {
          domainChange = domainCount > 0
        }
      } else {
        let inside = ds < de && hostWithinRegion(host, line, ds, de)
        if (inside) {
          inside = false
          for (let i = 0; i < anchors.length && !inside; i++) inside = regionWithin(line, ds, de, anchors[i]!)
        }
        domainChange = !inside || domainCount !== 1
        if (inside && domainChange) outDomain = line.slice(valueStart(scan, lastDomain), scan.ends[lastDomain])
      }
    }

    // Path.
    let pathChange = false
    let outPath: string | undefined
    if (hostPrefix || pathSet !== undefined) {
      const want = hostPrefix ? '/' : pathSet!
      const ps = lastPath === -1 ? 0 : valueStart(scan, lastPath)
      const pe = lastPath === -1 ? 0 : scan.ends[lastPath]!
      pathChange = !(pathCount === 1 && pe - ps === want.length && line.startsWith(want, ps))
      outPath = want
    } else if (pathCount > 0 && pathRules.length > 0) {
      const ps = valueStart(scan, lastPath)
      const pe = scan.ends[lastPath]!
      const rewritten = rewritePath(pathRules, line, ps, pe)
      const unchanged = rewritten === undefined || (rewritten.length === pe - ps && line.startsWith(rewritten, ps))
      pathChange = pathCount !== 1 || !unchanged
      outPath = rewritten ?? line.slice(ps, pe)
    }

    if (!sameSiteChange && !addSecure && !addHttpOnly && !domainChange && !pathChange) return line

    let out = `${line.slice(ns, ne)}=${line.slice(scan.valueStart, scan.valueEnd)}`
    for (let i = 0; i < n; i++) {
      const k = kinds[i]
      if (k === ATTR.IGNORED) continue
      if ((k === ATTR.DOMAIN && domainChange) || (k === ATTR.PATH && pathChange) || (k === ATTR.SAMESITE && sameSiteChange)) continue
      out += `; ${line.slice(scan.starts[i], scan.ends[i])}`
    }
    if (pathChange && outPath !== undefined) out += `; Path=${outPath}`
    if (domainChange && outDomain !== undefined) out += `; Domain=${outDomain}`
    if (addSecure) out += '; Secure'
    if (addHttpOnly) out += '; HttpOnly'
    if (sameSiteChange) out += `; SameSite=${SAMESITE_TEXT[outLevel]}`
    return out
  }

  return {
    rewrite(setCookie: string | readonly string[], requestHost: string): RewriteResult {
      const values: string[] = []
      let dropped: DroppedCookie[] | undefined
      const one = typeof setCookie === 'string'
      const count = one ? 1 : Array.isArray(setCookie) ? setCookie.length : 0
      for (let i = 0; i < count; i++) {
        let line: unknown
        try {
          line = one ? setCookie : (setCookie as readonly string[])[i]
          if (typeof line !== 'string') {
            ;(dropped ??= []).push({ name: '', reason: 'not a string' })
          } else if (!scanSetCookie(line, scan)) {
            ;(dropped ??= []).push({ name: invalidName(line, scan), reason: invalidReason(scan.invalid) })
          } else {
            values.push(enabled ? harden(line, typeof requestHost === 'string' ? requestHost : '') : line)
          }
        } catch {
          if (failClosed || typeof line !== 'string') {
            ;(dropped ??= []).push({ name: typeof line === 'string' ? safeName(line) : '', reason: `rewrite failed (onError: ${merged.onError})` })
          } else {
            values.push(line)
          }
        }
      }
      return { values, dropped: dropped ?? EMPTY_DROPPED }
    },
  }
}

function safeName(line: string): string {
  const eq = line.indexOf('=')
  return (eq === -1 ? '' : line.slice(0, Math.min(eq, 64))).trim().replace(/[^\x21-\x7e]/g, '?')
}
