/**
 * Runs the active rules over one value. Compiled once per configuration: the rule catalogue is filtered by
 * paranoia level and family, and split by place, so inspecting a value only loops over rules that apply.
 *
 * Contract:
 * - `compileInspector(rules, { paranoia, families })` returns an `Inspector`.
 * - `inspector.inspect(wire, decoded, place, skip, hit)`: `wire` is the value as received, `decoded` the same value
 *   after the location's own decoding (form decoding for query parameters). The caller has already ruled out plain
 *   values (`isPlainValue`). Calls `hit(rule, text, index)` once per rule that matches, skipping rules for which
 *   `skip(rule)` is true (already matched in this request). `sql: false` leaves the SQL rules out.
 * - `inspector.inspectSql(text, place, skip, hit)`: the SQL rules only, on an already normalised text.
 * Never throws for any string input; time linear in the value length.
 */
import type { FingerprintRule, TextRule, ThreatRule } from './rules.js'
import type { Paranoia, ThreatFamily } from './types.js'
import { normalizeValue } from './normalize.js'
import { fingerprint, type QuoteContext } from './sqli/tokenizer.js'

/** Where a value comes from, at the granularity rule scopes need. */
export type Place = 'path' | 'query' | 'body' | 'cookie' | 'user-agent' | 'referer'
export const PLACES: readonly Place[] = ['path', 'query', 'body', 'cookie', 'user-agent', 'referer']

export type HitSink = (rule: ThreatRule, text: string, index: number) => void
export type SkipTest = (rule: ThreatRule) => boolean

interface PlaceRules {
  readonly wire: readonly TextRule[]
  readonly text: readonly TextRule[]
  /** `needs` masks of `text`, index for index. */
  readonly textNeeds: Uint32Array
  readonly codeAnchored: readonly FingerprintRule[]
  readonly codeAnywhere: readonly FingerprintRule[]
  readonly quotedAnchored: readonly FingerprintRule[]
  readonly quotedAnywhere: readonly FingerprintRule[]
  readonly hasSql: boolean
}

export interface Inspector {
  readonly rules: readonly ThreatRule[]
  inspect(wire: string, decoded: string, place: Place, skip: SkipTest, hit: HitSink, sql?: boolean): void
  inspectSql(text: string, place: Place, skip: SkipTest, hit: HitSink): void
}

// Pre-filter: one bit per character some rule needs. A text's mask is computed in one pass; a rule whose needed
// characters are all absent is skipped without running its regex.
const NEED_BIT = new Uint32Array(128)
let nextBit = 0
function bitOf(code: number): number {
  if (NEED_BIT[code] === 0) {
    if (nextBit >= 31) throw new Error('too many distinct characters in rule pre-filters')
    NEED_BIT[code] = 1 << nextBit++
  }
  return NEED_BIT[code]!
}

function needsMask(needs: string | undefined): number {
  if (needs === undefined) return 0
  let mask = 0
  for (let i = 0; i < needs.length; i++) {
    const c = needs.charCodeAt(i)
    if (c >= 128) throw new Error(`rule pre-filter characters must be ASCII: ${needs}`)
    mask |= bitOf(c)
  }
  return mask
}

function textMask(text: string): number {
  let mask = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 128) mask |= NEED_BIT[c]!
  }
  return mask
}

function inScope(rule: ThreatRule, place: Place): boolean {
  switch (rule.scope ?? 'all') {
    case 'all': return true
    case 'path': return place === 'path'
    case 'input': return place !== 'path'
    case 'user-agent': return place === 'user-agent'
  }
}

export function compileInspector(
  catalogue: readonly ThreatRule[],
  options: { readonly paranoia: Paranoia; readonly families: readonly ThreatFamily[] },
): Inspector {
  const families = new Set(options.families)
  const active = catalogue.filter((r) => r.paranoia <= options.paranoia && families.has(r.family))
  const byPlace = new Map<Place, PlaceRules>()
  for (const place of PLACES) {
    const here = active.filter((r) => inScope(r, place))
    const fp = here.filter((r): r is FingerprintRule => r.kind === 'fingerprint')
    const anchored = (r: FingerprintRule) => r.pattern.source.startsWith('^')
    const code = fp.filter((r) => r.contexts !== 'quoted')
    const quoted = fp.filter((r) => r.contexts !== 'code')
    const text = here.filter((r): r is TextRule => r.kind === 'text')
    byPlace.set(place, {
      wire: here.filter((r): r is TextRule => r.kind === 'wire'),
      text,
      textNeeds: Uint32Array.from(text, (r) => needsMask(r.needs)),
      codeAnchored: code.filter(anchored),
      codeAnywhere: code.filter((r) => !anchored(r)),
      quotedAnchored: quoted.filter(anchored),
      quotedAnywhere: quoted.filter((r) => !anchored(r)),
      hasSql: fp.length > 0,
    })
  }

  const sqlScan = (text: string, rules: PlaceRules, skip: SkipTest, hit: HitSink): void => {
    const run = (quote: QuoteContext, anchoredRules: readonly FingerprintRule[], anywhere: readonly FingerprintRule[]) => {
      fingerprint(text, quote, (chunk, first) => {
        if (first) {
          for (const r of anchoredRules) if (!skip(r) && r.pattern.test(chunk)) hit(r, text, 0)
        }
        for (const r of anywhere) if (!skip(r) && r.pattern.test(chunk)) hit(r, text, 0)
      })
    }
    run(0, rules.codeAnchored, rules.codeAnywhere)
    if (rules.quotedAnchored.length + rules.quotedAnywhere.length === 0) return
    if (text.indexOf("'") !== -1) run(39, rules.quotedAnchored, rules.quotedAnywhere)
    if (text.indexOf('"') !== -1) run(34, rules.quotedAnchored, rules.quotedAnywhere)
  }

  return {
    rules: active,
    inspect(wire, decoded, place, skip, hit, sql = true) {
      const rules = byPlace.get(place)!
      for (const r of rules.wire) {
        if (skip(r)) continue
        const m = r.pattern.exec(wire)
        if (m) hit(r, wire, m.index)
      }
      const text = normalizeValue(decoded)
      const present = textMask(text)
      for (let i = 0; i < rules.text.length; i++) {
        const r = rules.text[i]!
        const needs = rules.textNeeds[i]!
        if ((needs !== 0 && (needs & present) === 0) || skip(r)) continue
        const m = r.pattern.exec(text)
        if (m) hit(r, text, m.index)
      }
      if (sql && rules.hasSql) sqlScan(text, rules, skip, hit)
    },
    inspectSql(text, place, skip, hit) {
      const rules = byPlace.get(place)!
      if (rules.hasSql) sqlScan(text, rules, skip, hit)
    },
  }
}
