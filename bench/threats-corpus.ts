/**
 * Prints detection and false-positive rates of the threat engine on the test corpora, for every family at every
 * paranoia level, plus the mean inspection cost per corpus entry.
 *
 *   node dist/bench/threats-corpus.js [--misses]
 */
import { loadCorpus, measure, percent, toInput, engineAt } from '../test/threats/corpus-harness.js'
import { THREAT_FAMILIES, type Paranoia } from '../src/threats/types.js'

const attacks = loadCorpus('attacks')
const benign = loadCorpus('benign')
const showMisses = process.argv.includes('--misses')
const levels: Paranoia[] = [1, 2, 3]
const results = levels.map((p) => measure(p, attacks, benign))

const pad = (s: string, n: number) => s.padEnd(n)
const cell = (s: string) => s.padStart(16)

console.log(`corpus: ${attacks.length} attacks, ${benign.length} benign inputs; detection = blocked at threshold 5 with a match of the family\n`)
console.log(pad('family', 22) + levels.map((p) => cell(`paranoia ${p}`)).join(''))
for (const f of THREAT_FAMILIES) {
  const total = results[0]!.detection[f].total
  console.log(pad(`${f} (${total})`, 22) + results.map((r) => cell(`${percent(r.detection[f].detected, total)} ${r.detection[f].detected}/${total}`)).join(''))
}
const fpBlocked = results.map((r) => cell(`${percent(r.falsePositives.blocked, r.falsePositives.total)} ${r.falsePositives.blocked}`))
const fpAny = results.map((r) => cell(`${percent(r.falsePositives.anyMatch, r.falsePositives.total)} ${r.falsePositives.anyMatch}`))
console.log(pad(`benign blocked (${benign.length})`, 22) + fpBlocked.join(''))
console.log(pad('benign with any match', 22) + fpAny.join(''))

if (showMisses) {
  results.forEach((r, i) => {
    console.log(`\nparanoia ${levels[i]}:`)
    for (const f of THREAT_FAMILIES) for (const m of r.detection[f].missed) console.log(`  missed ${f} ${m.location}: ${JSON.stringify(m.input)}`)
    for (const x of r.falsePositives.flagged) console.log(`  false positive ${x.entry.location}: ${JSON.stringify(x.entry.input)} (${x.rules.join(', ')})`)
  })
}

// For comparison: keyword-and-quote regexes of the kind simple filters use for SQL injection, on the same corpus.
const NAIVE_SQLI = [
  /\b(?:union|select|insert|update|delete|drop|alter|exec)\b/i,
  /'|--|\/\*|#/,
  /\b(?:or|and)\b\s*['"\d(]/i,
  /;\s*\w/,
]
const naiveFlags = (text: string) => NAIVE_SQLI.some((re) => re.test(text))
const sqli = attacks.filter((a) => a.family === 'sqli')
const naiveDetected = sqli.filter((a) => naiveFlags(decodeURIComponentSafe(a.input))).length
const naiveFp = benign.filter((b) => naiveFlags(decodeURIComponentSafe(b.input))).length
const tokenizerFp = results[0]!.falsePositives.flagged.filter((f) => f.rules.some((r) => r.startsWith('sqli-'))).length
console.log('\nSQL injection, tokenizer (paranoia 1) vs naive keyword/quote regexes:')
console.log(`  tokenizer: ${percent(results[0]!.detection.sqli.detected, sqli.length)} detected, ${percent(tokenizerFp, benign.length)} of benign inputs blocked (${tokenizerFp})`)
console.log(`  regexes:   ${percent(naiveDetected, sqli.length)} detected, ${percent(naiveFp, benign.length)} of benign inputs flagged (${naiveFp})`)

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

const engine = engineAt(1)
const all = [...attacks, ...benign].map(toInput)
for (let i = 0; i < 3; i++) for (const input of all) engine.scan(input)
const rounds = 20
const start = process.hrtime.bigint()
for (let i = 0; i < rounds; i++) for (const input of all) engine.scan(input)
const us = Number(process.hrtime.bigint() - start) / 1000 / (rounds * all.length)
console.log(`\nmean inspection cost per corpus entry at paranoia 1: ${us.toFixed(2)} µs`)
