/**
 * Detection and false-positive rates on the attack and benign corpora, per family and paranoia level.
 * Targets at paranoia 1: ≥ 95 % detection for SQL injection, XSS and traversal, ≥ 90 % for command injection,
 * ≤ 1 % false positives on the benign set. "Detected" means blocked at the default threshold (5) with a match of
 * the attack's own family; a false positive is a benign request that would be blocked.
 */
import t from 'tap'
import { loadCorpus, measure, percent, type CorpusEntry } from './corpus-harness.js'
import { THREAT_FAMILIES } from '../../src/threats/types.js'

const attacks = loadCorpus('attacks')
const benign = loadCorpus('benign')

t.test('corpus shape', async (t) => {
  t.ok(attacks.length >= 300, `at least 300 attacks (${attacks.length})`)
  t.ok(benign.length >= 300, `at least 300 benign inputs (${benign.length})`)
  const locations = new Set(['query', 'body', 'cookie', 'path', 'header'])
  const valid = (e: CorpusEntry) => locations.has(e.location) && typeof e.input === 'string' && e.input.length > 0
  t.ok(attacks.every((a) => valid(a) && THREAT_FAMILIES.includes(a.family!)), 'every attack has a family, a location and an input')
  t.ok(benign.every((b) => valid(b) && b.family === undefined), 'benign entries have a location and an input, no family')
  for (const f of ['sqli', 'xss', 'traversal', 'command'] as const) {
    t.ok(attacks.filter((a) => a.family === f).length >= 40, `${f}: at least 40 attacks`)
  }
  const keys = new Set(attacks.map((a) => `${a.family}|${a.location}|${a.input}`))
  t.equal(keys.size, attacks.length, 'no duplicate attacks')
})

const TARGETS: Record<string, number> = { sqli: 0.95, xss: 0.95, traversal: 0.95, command: 0.9 }

t.test('paranoia 1 meets the targets', async (t) => {
  const r = measure(1, attacks, benign)
  for (const [family, target] of Object.entries(TARGETS)) {
    const row = r.detection[family as keyof typeof r.detection]
    const rate = row.detected / row.total
    t.ok(rate >= target, `${family}: ${percent(row.detected, row.total)} detected (target ${target * 100} %)`)
    for (const m of row.missed) t.comment(`missed ${family} in ${m.location}: ${JSON.stringify(m.input)}`)
  }
  const fp = r.falsePositives
  t.ok(fp.blocked / fp.total <= 0.01, `false positives ${percent(fp.blocked, fp.total)} (target ≤ 1 %)`)
  for (const f of fp.flagged) t.comment(`false positive in ${f.entry.location}: ${JSON.stringify(f.entry.input)} (${f.rules.join(', ')})`)
})

t.test('higher paranoia detects at least as much, and costs false positives', async (t) => {
  const rows = ([1, 2, 3] as const).map((p) => measure(p, attacks, benign))
  for (const f of THREAT_FAMILIES) {
    const d = rows.map((r) => r.detection[f].detected)
    t.ok(d[0]! <= d[1]! && d[1]! <= d[2]!, `${f}: detection does not drop as paranoia rises (${d.join(' ≤ ')})`)
  }
  const fp = rows.map((r) => r.falsePositives.blocked)
  t.ok(fp[0]! <= fp[1]! && fp[1]! <= fp[2]!, `false positives rise with paranoia (${fp.join(' ≤ ')})`)
  t.ok(fp[2]! > fp[0]!, 'paranoia 3 is visibly more aggressive than paranoia 1')
})
