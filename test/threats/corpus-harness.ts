/**
 * Shared by the corpus rate test and `bench/threats-corpus.ts`: loads the attack and benign corpora and measures
 * detection and false-positive rates of an engine configuration.
 *
 * Corpus entries are `{ family?, location, input }`. `input` is what travels in that place: for `query` the raw
 * value after `q=` (already percent-encoded where a client must encode), for `body` the decoded field value, for
 * `cookie` the raw cookie value, for `path` the raw path, for `header` the User-Agent (or the Referer when the
 * entry says `"header": "referer"`). `name` overrides the body field name (password entries).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from '../helpers/paths.js'
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS, type ThreatEngine } from '../../src/threats/engine.js'
import { THREAT_FAMILIES, type Paranoia, type ThreatFamily, type ThreatInput, type ThreatResult } from '../../src/threats/types.js'

export interface CorpusEntry {
  readonly family?: ThreatFamily
  readonly location: 'query' | 'body' | 'cookie' | 'path' | 'header'
  readonly input: string
  readonly header?: 'referer'
  readonly name?: string
}

export const corpusDir = join(projectRoot, 'test', 'threats', 'corpus')

export function loadCorpus(kind: 'attacks' | 'benign'): CorpusEntry[] {
  return JSON.parse(readFileSync(join(corpusDir, `${kind}.json`), 'utf8')) as CorpusEntry[]
}

export function toInput(e: CorpusEntry): ThreatInput {
  switch (e.location) {
    case 'query': return { path: '/search', query: `q=${e.input}` }
    case 'body': return { path: '/contact', query: '', bodyFields: [[e.name ?? 'comment', e.input]] }
    case 'cookie': return { path: '/', query: '', cookieHeader: `PHPSESSID=4f2a9c0e1b; pref=${e.input}` }
    case 'path': return { path: e.input, query: '' }
    case 'header': return e.header === 'referer' ? { path: '/', query: '', referer: e.input } : { path: '/', query: '', userAgent: e.input }
  }
}

export function engineAt(paranoia: Paranoia): ThreatEngine {
  return compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', paranoia, threshold: 5 })
}

/** Detected: blocked at the default threshold with at least one match of the entry's family. */
export function detects(result: ThreatResult, family: ThreatFamily | undefined): boolean {
  return result.blocked && result.matches.some((m) => m.family === family)
}

export interface Rates {
  readonly detection: Record<ThreatFamily, { total: number; detected: number; missed: CorpusEntry[] }>
  readonly falsePositives: { total: number; blocked: number; anyMatch: number; flagged: Array<{ entry: CorpusEntry; rules: string[] }> }
}

export function measure(paranoia: Paranoia, attacks: readonly CorpusEntry[], benign: readonly CorpusEntry[]): Rates {
  const engine = engineAt(paranoia)
  const detection = Object.fromEntries(THREAT_FAMILIES.map((f) => [f, { total: 0, detected: 0, missed: [] as CorpusEntry[] }])) as Rates['detection']
  for (const a of attacks) {
    const row = detection[a.family!]
    row.total++
    if (detects(engine.scan(toInput(a)), a.family)) row.detected++
    else row.missed.push(a)
  }
  let blocked = 0
  let anyMatch = 0
  const flagged: Array<{ entry: CorpusEntry; rules: string[] }> = []
  for (const b of benign) {
    const r = engine.scan(toInput(b))
    if (r.matches.length > 0) anyMatch++
    if (r.blocked) {
      blocked++
      flagged.push({ entry: b, rules: r.matches.map((m) => m.ruleId) })
    }
  }
  return { detection, falsePositives: { total: benign.length, blocked, anyMatch, flagged } }
}

export function percent(n: number, d: number): string {
  return d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`
}
