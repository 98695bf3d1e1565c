/**
 * Threat exclusions: where a rule, a family or a parameter is not scored.
 *
 * One exclusion `{ site?, pathPrefix?, ruleIds?, families?, params? }` applies to requests of that site (all sites
 * when absent) whose canonical path is under `pathPrefix` (everything when absent; see
 * `normalizePathForMatching`). Within those requests it removes the matches that satisfy every list it has:
 * the rule id is in `ruleIds`, the family is in `families`, the parameter is in `params` (a query, body or cookie
 * name; `user-agent` or `referer` for those headers; `content` also covers PHP array fields `content[…]`).
 * An exclusion with none of the three lists turns inspection off for those requests.
 *
 * Contract: `compileExclusions(list, sites)` throws a RampartError (RAMPART_ERR_CONFIG_CONFLICT) for an unknown
 * site or rule id; `select(siteIndex, rawPath)` returns the exclusions in force for one request (`undefined` when
 * none), and `excludes(active, rule, param)` decides one match. Pure.
 */
import { RampartError } from '../errors.js'
import { normalizePathForMatching, pathHasPrefix } from '../access/normalize-path.js'
import { resolveSiteRef, type SiteRef } from '../access/site-ref.js'
import { RULE_IDS } from './rules.js'
import type { ThreatFamily } from './types.js'

export interface ExclusionConfig {
  readonly site?: string | undefined
  readonly pathPrefix?: string | undefined
  readonly ruleIds?: readonly string[] | undefined
  readonly families?: readonly ThreatFamily[] | undefined
  readonly params?: readonly string[] | undefined
}

interface CompiledExclusion {
  readonly site: number | undefined
  readonly prefix: string | undefined
  readonly ruleIds: ReadonlySet<string> | undefined
  readonly families: ReadonlySet<string> | undefined
  readonly params: ReadonlySet<string> | undefined
  readonly everything: boolean
}

export interface ActiveExclusions {
  /** True when one exclusion turns inspection off for this request. */
  readonly everything: boolean
  readonly list: readonly CompiledExclusion[]
}

export interface CompiledExclusions {
  readonly size: number
  select(siteIndex: number | undefined, rawPath: string): ActiveExclusions | undefined
}

function nonEmpty<T>(list: readonly T[] | undefined): ReadonlySet<T> | undefined {
  return list && list.length > 0 ? new Set(list) : undefined
}

/** Problems with exclusions, as `path: message` pairs relative to `threats.exclusions`. */
export function checkExclusions(list: readonly ExclusionConfig[], sites: readonly SiteRef[]): Array<{ index: number; field: string; message: string }> {
  const out: Array<{ index: number; field: string; message: string }> = []
  list.forEach((ex, index) => {
    if (ex.site !== undefined && resolveSiteRef(ex.site, sites) === undefined) {
      out.push({ index, field: 'site', message: `no site is named or serves '${ex.site}'` })
    }
    ex.ruleIds?.forEach((id, j) => {
      if (!RULE_IDS.has(id)) out.push({ index, field: `ruleIds[${j}]`, message: `unknown rule id '${id}'` })
    })
  })
  return out
}

export function compileExclusions(list: readonly ExclusionConfig[], sites: readonly SiteRef[]): CompiledExclusions {
  const problems = checkExclusions(list, sites)
  if (problems.length > 0) {
    const p = problems[0]!
    throw new RampartError('RAMPART_ERR_CONFIG_CONFLICT', `threats.exclusions[${p.index}].${p.field}: ${p.message}`)
  }
  const compiled: CompiledExclusion[] = list.map((ex) => {
    const ruleIds = nonEmpty(ex.ruleIds)
    const families = nonEmpty(ex.families)
    const params = nonEmpty(ex.params)
    return {
      site: ex.site === undefined ? undefined : resolveSiteRef(ex.site, sites),
      prefix: ex.pathPrefix === undefined ? undefined : normalizePathForMatching(ex.pathPrefix),
      ruleIds,
      families,
      params,
      everything: !ruleIds && !families && !params,
    }
  })
  const needsPath = compiled.some((e) => e.prefix !== undefined && e.prefix !== '/')
  return {
    size: compiled.length,
    select(siteIndex, rawPath) {
      if (compiled.length === 0) return undefined
      const path = needsPath ? normalizePathForMatching(rawPath) : '/'
      let active: CompiledExclusion[] | undefined
      let everything = false
      for (const ex of compiled) {
        if (ex.site !== undefined && ex.site !== siteIndex) continue
        if (ex.prefix !== undefined && !pathHasPrefix(path, ex.prefix)) continue
        ;(active ??= []).push(ex)
        if (ex.everything) everything = true
      }
      return active ? { everything, list: active } : undefined
    },
  }
}

function paramMatches(set: ReadonlySet<string>, param: string | undefined): boolean {
  if (param === undefined) return false
  if (set.has(param)) return true
  const bracket = param.indexOf('[')
  return bracket > 0 && set.has(param.slice(0, bracket))
}

/** True when an active exclusion removes this match. */
export function excludes(
  active: ActiveExclusions,
  rule: { readonly id: string; readonly family: string },
  param: string | undefined,
): boolean {
  for (const ex of active.list) {
    if (ex.everything) return true
    if (ex.ruleIds && !ex.ruleIds.has(rule.id)) continue
    if (ex.families && !ex.families.has(rule.family)) continue
    if (ex.params && !paramMatches(ex.params, param)) continue
    return true
  }
  return false
}
