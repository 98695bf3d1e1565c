/**
 * The threat detection engine: inspects one request and scores it.
 *
 * Contract:
 * - `compileThreatEngine(settings, sites)` validates and compiles everything once (rule selection, exclusions);
 *   it throws a RampartError for an exclusion naming an unknown site or rule. `scan(input, siteIndex)` is then
 *   pure and never throws: if inspection fails, the result carries `error` and is blocked only when
 *   `onError` is `closed` and the mode is `block`.
 * - Inspected: the decoded path (SQL rules per path segment), every query parameter name and value, body field
 *   names and values up to `maxBodyInspect` bytes in total (beyond it the field is cut and `truncated` is set),
 *   Cookie values, User-Agent and Referer. Values made only of plain characters are skipped without decoding.
 * - Scoring: every rule counts once per request, with its first match; the score is the sum over distinct rules.
 *   In `block` mode a request whose score reaches `threshold` is blocked; `detect` reports only; `off` inspects
 *   nothing.
 * - Excerpts never show secrets: values of fields named like passwords or tokens, and all Cookie values (house
 *   rule: logs never carry cookie values), are `[redacted]`.
 */
import { RULES, type ThreatRule } from './rules.js'
import type { Paranoia, ThreatFamily, ThreatInput, ThreatLocation, ThreatMatch, ThreatResult } from './types.js'
import { THREAT_FAMILIES } from './types.js'
import { compileInspector, type Inspector, type Place } from './inspector.js'
import { isPlainPath, isPlainValue, normalizeValue } from './normalize.js'
import { forEachCookie, forEachQueryParam } from './parse.js'
import { excerpt, isSecretName, REDACTED } from './excerpt.js'
import { compileExclusions, excludes, type ActiveExclusions, type ExclusionConfig } from './exclusions.js'
import type { SiteRef } from '../access/site-ref.js'
import { formDecode } from './decode.js'

export type ThreatMode = 'detect' | 'block' | 'off'

export interface ThreatSettings {
  readonly mode: ThreatMode
  readonly paranoia: Paranoia
  readonly threshold: number
  readonly onError: 'open' | 'closed'
  /** Bytes of body fields (names and values) inspected per request. */
  readonly maxBodyInspect: number
  readonly detectors: readonly ThreatFamily[]
  readonly exclusions: readonly ExclusionConfig[]
}

export const DEFAULT_THREAT_SETTINGS: ThreatSettings = Object.freeze({
  mode: 'detect',
  paranoia: 1,
  threshold: 5,
  onError: 'open',
  maxBodyInspect: 64 * 1024,
  detectors: THREAT_FAMILIES,
  exclusions: [],
})

export interface ThreatEngine {
  readonly settings: ThreatSettings
  /** The rules in force (after paranoia and family selection). */
  readonly rules: readonly ThreatRule[]
  scan(input: ThreatInput, siteIndex?: number): ThreatResult
}

const NOTHING: ThreatResult = Object.freeze({ score: 0, blocked: false, matches: Object.freeze([]), truncated: false })

const LOCATION_OF: Record<Place, ThreatLocation> = {
  path: 'path', query: 'query', body: 'body', cookie: 'cookie', 'user-agent': 'header', referer: 'header',
}

interface MemoHit {
  readonly rule: ThreatRule
  readonly text: string
  readonly index: number
}
const UA_MEMO_SIZE = 1024
const UA_MEMO_KEY_MAX = 512
const neverSkip = (): boolean => false

/** Per-request state; one object per scan keeps `scan` re-entrant. */
class Scan {
  score = 0
  truncated = false
  matches: ThreatMatch[] = []
  private seen = new Set<string>()
  private place: Place = 'path'
  private param: string | undefined
  private redact = false

  readonly skip = (rule: ThreatRule): boolean => this.seen.has(rule.id)

  readonly hit = (rule: ThreatRule, text: string, index: number): void => {
    if (this.seen.has(rule.id)) return
    if (this.active && excludes(this.active, rule, this.param)) return
    this.seen.add(rule.id)
    this.score += rule.score
    const match: ThreatMatch = {
      ruleId: rule.id,
      family: rule.family,
      paranoia: rule.paranoia,
      score: rule.score,
      location: LOCATION_OF[this.place],
      ...(this.param !== undefined ? { param: excerpt(this.param) } : {}),
      excerpt: this.redact ? REDACTED : excerpt(text, index),
    }
    this.matches.push(match)
  }

  constructor(private readonly inspector: Inspector, private readonly active: ActiveExclusions | undefined) {}

  at(place: Place, param: string | undefined, redact: boolean): this {
    this.place = place
    this.param = param
    this.redact = redact
    return this
  }

  value(wire: string, decoded: string): void {
    // No rule can match a single character. Tool names in User-Agent are plain words, so that header never takes
    // the plain-value fast path.
    if (wire.length < 2 || (this.place !== 'user-agent' && isPlainValue(wire))) return
    this.inspector.inspect(wire, decoded, this.place, this.skip, this.hit)
  }

  path(raw: string): void {
    if (isPlainPath(raw)) return
    this.at('path', undefined, false)
    this.inspector.inspect(raw, raw, 'path', this.skip, this.hit, false)
    // SQL is read per segment: `/users/1 or 1=1` injects through one segment, not through the slashes.
    let start = raw.charCodeAt(0) === 47 ? 1 : 0
    while (start <= raw.length) {
      let end = raw.indexOf('/', start)
      if (end === -1) end = raw.length
      if (end > start) {
        const seg = raw.slice(start, end)
        if (!isPlainValue(seg)) this.inspector.inspectSql(normalizeValue(seg), 'path', this.skip, this.hit)
      }
      start = end + 1
    }
  }
}

export function compileThreatEngine(
  settings: ThreatSettings,
  sites: readonly SiteRef[] = [],
  catalogue: readonly ThreatRule[] = RULES,
): ThreatEngine {
  const inspector = compileInspector(catalogue, { paranoia: settings.paranoia, families: settings.detectors })
  const exclusions = compileExclusions(settings.exclusions, sites)
  const block = settings.mode === 'block'
  const threshold = settings.threshold
  const budgetMax = settings.maxBodyInspect

  // Most requests carry one of a few hundred User-Agent strings, and that header costs more to inspect than the
  // rest of a typical request: its hits are memoised, in a map bounded by count and by key length.
  const uaMemo = new Map<string, readonly MemoHit[]>()
  const userAgentHits = (ua: string): readonly MemoHit[] => {
    const known = uaMemo.get(ua)
    if (known) return known
    const hits: MemoHit[] = []
    inspector.inspect(ua, ua, 'user-agent', neverSkip, (rule, text, index) => hits.push({ rule, text, index }))
    if (ua.length <= UA_MEMO_KEY_MAX) {
      if (uaMemo.size >= UA_MEMO_SIZE) uaMemo.delete(uaMemo.keys().next().value!)
      uaMemo.set(ua, hits)
    }
    return hits
  }

  const run = (input: ThreatInput, siteIndex: number | undefined): ThreatResult => {
    const active = exclusions.size > 0 ? exclusions.select(siteIndex, input.path) : undefined
    if (active?.everything) return NOTHING
    const scan = new Scan(inspector, active)

    scan.path(input.path)

    if (input.query.length > 0) {
      forEachQueryParam(input.query, (name, value, wire) => {
        const redact = isSecretName(name)
        scan.at('query', name, redact)
        if (!isPlainValue(name)) scan.value(name, name)
        scan.value(wire, value)
      })
    }

    const fields = input.bodyFields
    if (fields && fields.length > 0) {
      let budget = budgetMax
      for (const [name, value] of fields) {
        if (budget <= 0) {
          scan.truncated = true
          break
        }
        scan.at('body', name, isSecretName(name))
        if (!isPlainValue(name)) scan.value(name, name)
        budget -= name.length
        let v = value
        if (v.length > budget) {
          v = v.slice(0, Math.max(0, budget))
          scan.truncated = true
        }
        budget -= v.length
        scan.value(v, v)
      }
    }
    if (input.bodyTruncated) scan.truncated = true

    if (input.cookieHeader) {
      forEachCookie(input.cookieHeader, (name, value) => {
        scan.at('cookie', name, true)
        scan.value(value, value)
      })
    }
    if (input.userAgent) {
      scan.at('user-agent', 'user-agent', false)
      for (const h of userAgentHits(input.userAgent)) scan.hit(h.rule, h.text, h.index)
    }
    if (input.referer) scan.at('referer', 'referer', false).value(input.referer, formDecode(input.referer))

    if (scan.matches.length === 0 && !scan.truncated) return NOTHING
    return {
      score: scan.score,
      blocked: block && scan.score >= threshold,
      matches: scan.matches,
      truncated: scan.truncated,
    }
  }

  return {
    settings,
    rules: inspector.rules,
    scan(input, siteIndex) {
      if (settings.mode === 'off') return NOTHING
      try {
        return run(input, siteIndex)
      } catch (error) {
        return { score: 0, blocked: block && settings.onError === 'closed', matches: [], truncated: false, error }
      }
    },
  }
}
