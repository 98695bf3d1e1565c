/**
 * Access rules: which client addresses may reach which paths of which sites (e.g. `/admin` only from the office
 * and the VPN).
 *
 * Semantics:
 * - A rule applies to its `site` (every site when absent) and to every path under its `pathPrefix`, compared on
 *   the canonical path (see `normalizePathForMatching`: decoded, `//`, `.` and `..` resolved, case-insensitive,
 *   segment-wise, so `/admin` covers `/admin/x` and `/%61dmin`, not `/administrator`).
 * - Rules do not combine: for a request, the applicable rule with the longest canonical prefix decides alone. At
 *   equal length a rule naming the site beats one for every site; then the first listed wins.
 * - Within that rule, `deny` wins over `allow`: an address in `deny` is refused. Otherwise, when `allow` is given,
 *   only its addresses get in: a rule with only `allow` refuses everyone else on that path. A rule with only `deny`
 *   lets everyone else in.
 * - A request no rule applies to is allowed. An unparsable client address matches no CIDR.
 *
 * Contract: `compileAccessRules(rules, sites)` validates and compiles once (throws a RampartError for an unknown
 * site, an invalid CIDR or a rule with neither list); `check(siteIndex, path, clientIp)` is pure and cheap: no
 * allocation beyond the canonical path, and nothing at all for sites without rules.
 */
import { RampartError } from '../errors.js'
import { compileCidrSet, isValidCidr, type CidrSet } from '../net/cidr.js'
import { normalizePathForMatching, pathHasPrefix } from './normalize-path.js'
import { resolveSiteRef, type SiteRef } from './site-ref.js'

export interface AccessRuleConfig {
  readonly name?: string | undefined
  readonly site?: string | undefined
  readonly pathPrefix: string
  readonly allow?: readonly string[] | undefined
  readonly deny?: readonly string[] | undefined
}

export interface AccessDecision {
  readonly allowed: boolean
  /** Index of the deciding rule in the configured list; absent when no rule applies. */
  readonly rule?: number
  /** The rule's `name`, or `access[<index>]`. */
  readonly name?: string
}

export interface AccessChecker {
  readonly size: number
  check(siteIndex: number, path: string, clientIp: string): AccessDecision
}

interface CompiledRule {
  readonly index: number
  readonly name: string
  readonly site: number | undefined
  readonly prefix: string
  readonly allow: CidrSet | undefined
  readonly deny: CidrSet | undefined
  readonly allowDecision: AccessDecision
  readonly denyDecision: AccessDecision
}

export interface AccessProblem {
  readonly index: number
  /** Field inside `access[index]`, e.g. `site` or `allow[2]`. */
  readonly field: string
  readonly message: string
  readonly severity: 'error' | 'warning'
}

/** Every problem with the rules, for config checks. An empty list means `compileAccessRules` will succeed. */
export function checkAccessRules(rules: readonly AccessRuleConfig[], sites: readonly SiteRef[]): AccessProblem[] {
  const out: AccessProblem[] = []
  const seen = new Map<string, number>()
  rules.forEach((rule, index) => {
    if (rule.site !== undefined && resolveSiteRef(rule.site, sites) === undefined) {
      out.push({ index, field: 'site', message: `no site is named or serves '${rule.site}'`, severity: 'error' })
    }
    if (!rule.pathPrefix.startsWith('/')) {
      out.push({ index, field: 'pathPrefix', message: "must start with '/'", severity: 'error' })
    }
    if ((rule.allow?.length ?? 0) === 0 && (rule.deny?.length ?? 0) === 0) {
      out.push({ index, field: 'allow', message: "a rule needs 'allow', 'deny' or both", severity: 'error' })
    }
    rule.allow?.forEach((c, j) => {
      if (!isValidCidr(c)) out.push({ index, field: `allow[${j}]`, message: `invalid CIDR '${c}'`, severity: 'error' })
    })
    rule.deny?.forEach((c, j) => {
      if (!isValidCidr(c)) out.push({ index, field: `deny[${j}]`, message: `invalid CIDR '${c}'`, severity: 'error' })
    })
    const key = `${rule.site ?? '*'} ${normalizePathForMatching(rule.pathPrefix)}`
    const first = seen.get(key)
    if (first !== undefined) {
      out.push({ index, field: 'pathPrefix', message: `access[${first}] already covers this site and path; this rule is never used`, severity: 'warning' })
    } else {
      seen.set(key, index)
    }
  })
  return out
}

export function compileAccessRules(rules: readonly AccessRuleConfig[], sites: readonly SiteRef[]): AccessChecker {
  const errors = checkAccessRules(rules, sites).filter((p) => p.severity === 'error')
  if (errors.length > 0) {
    const p = errors[0]!
    throw new RampartError('RAMPART_ERR_CONFIG_CONFLICT', `access[${p.index}].${p.field}: ${p.message}`)
  }
  const compiled: CompiledRule[] = rules.map((rule, index) => {
    const name = rule.name ?? `access[${index}]`
    return {
      index,
      name,
      site: rule.site === undefined ? undefined : resolveSiteRef(rule.site, sites),
      prefix: normalizePathForMatching(rule.pathPrefix),
      allow: rule.allow && rule.allow.length > 0 ? compileCidrSet(rule.allow) : undefined,
      deny: rule.deny && rule.deny.length > 0 ? compileCidrSet(rule.deny) : undefined,
      allowDecision: Object.freeze({ allowed: true, rule: index, name }),
      denyDecision: Object.freeze({ allowed: false, rule: index, name }),
    }
  })
  const order = (a: CompiledRule, b: CompiledRule): number =>
    b.prefix.length - a.prefix.length || (a.site === undefined ? 1 : 0) - (b.site === undefined ? 1 : 0) || a.index - b.index
  const forSite = (s: number | undefined): readonly CompiledRule[] =>
    compiled.filter((r) => r.site === undefined || r.site === s).sort(order)
  const perSite = sites.map((_, s) => forSite(s))
  const global = forSite(undefined)

  return {
    size: compiled.length,
    check(siteIndex, path, clientIp) {
      const list = perSite[siteIndex] ?? global
      if (list.length === 0) return NO_RULE
      const canonical = normalizePathForMatching(path)
      for (const r of list) {
        if (!pathHasPrefix(canonical, r.prefix)) continue
        if (r.deny?.has(clientIp)) return r.denyDecision
        if (r.allow && !r.allow.has(clientIp)) return r.denyDecision
        return r.allowDecision
      }
      return NO_RULE
    },
  }
}

const NO_RULE: AccessDecision = Object.freeze({ allowed: true })
