/**
 * Bounded cost: every rule's regex, the normaliser, the SQL tokenizer and the whole engine get 100 KB adversarial
 * inputs (long runs of the characters and words each pattern cares about, nested quotes, unclosed comments, …) and
 * must finish each in well under a second. The bound is generous so a loaded machine does not make it flaky; an
 * exponential or quadratic blow-up on 100 KB takes seconds to hours and fails it.
 */
import t from 'tap'
import { RULES } from '../../src/threats/rules.js'
import { normalizeValue } from '../../src/threats/normalize.js'
import { fingerprint } from '../../src/threats/sqli/tokenizer.js'
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS } from '../../src/threats/engine.js'
import { normalizePathForMatching } from '../../src/access/normalize-path.js'
import type { ThreatInput } from '../../src/threats/types.js'

const SIZE = 100_000
const LIMIT_MS = 250
// A whole request runs every rule, three SQL contexts and the decoders over the value, at paranoia 3; a 100 KB query
// string of one-character parameters is 50,000 values. Still linear, with a larger constant.
const ENGINE_LIMIT_MS = 1000

const fill = (unit: string): string => unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE)

const GENERIC: string[] = [
  fill('<'), fill('../'), fill('..\\'), fill('.'), 'a'.repeat(SIZE) + '!', fill("'"), fill('"'), fill("'\""), fill('`'),
  fill('('), fill(')'), fill('(('), fill(' '), fill('\n'), fill(' \n'), fill(';'), fill('|'), fill('&'), fill('%'),
  fill('%25'), fill('%2'), fill('%c0%ae'), fill('&#'), fill('&#x3c'), fill('&lt;'), fill('\\u'), fill('\\x3'), fill('/*'),
  fill('/*!'), fill('--'), fill('#'), fill('on'), fill('on '), fill('onerror'), fill('<a '), fill('<a href='), fill('="'),
  fill("' or '"), fill("' or 1=1 "), fill('union '), fill('union/**/'), fill('select '), fill('order '), fill('1,'),
  fill('sleep('), fill('@@'), fill('0x'), fill('1e'), fill('$('), fill('${'), fill('${ifs'), fill('; '), fill('|| '),
  fill('; id '), fill('a=b&'), fill('javascript'), fill('j a v a s c r i p t '), fill('java script:'), fill('data:'),
  fill('php://'), fill('/etc/'), fill('c:\\'), fill('\\\\'), fill('/.'), fill('....//'), fill('é'), fill('＜'),
  fill('\u0000'), fill('\u200b'), fill('😀'), fill('{{'), fill('-->'), fill('</'), fill('"><'), fill('nc '), fill('() {'),
]

/** Runs of every character and word a pattern mentions. */
function derived(source: string): string[] {
  const out = new Set<string>()
  for (const ch of new Set(source.replace(/\\[dswbDSWB]/g, ''))) if (ch.trim()) out.add(fill(ch))
  for (const word of [...new Set(source.match(/[a-z]{2,}/g) ?? [])].slice(0, 60)) {
    out.add(fill(word))
    out.add(fill(`${word} `))
  }
  return [...out]
}

function timed(fn: () => void): number {
  const start = performance.now()
  fn()
  return performance.now() - start
}

const normalised = new Map<string, string>()
const normal = (s: string): string => {
  let n = normalised.get(s)
  if (n === undefined) normalised.set(s, (n = normalizeValue(s)))
  return n
}

t.test('every regex rule is linear on adversarial input', async (t) => {
  let worst = 0
  let worstWhat = ''
  for (const rule of RULES) {
    const inputs = [...GENERIC, ...derived(rule.pattern.source)]
    for (const input of inputs) {
      const views = rule.kind === 'fingerprint' ? [] : [input, normal(input)]
      for (const view of views) {
        const ms = timed(() => rule.pattern.exec(view))
        if (ms > worst) {
          worst = ms
          worstWhat = `${rule.id} on ${JSON.stringify(view.slice(0, 12))}…`
        }
        if (ms >= LIMIT_MS) t.fail(`${rule.id} took ${ms.toFixed(0)} ms on ${JSON.stringify(view.slice(0, 20))}…`)
      }
    }
  }
  t.comment(`slowest regex run: ${worst.toFixed(2)} ms (${worstWhat})`)
  t.ok(worst < LIMIT_MS)
})

t.test('fingerprint patterns are linear on long fingerprints', async (t) => {
  const classes = 's1nvkEUB&=ofxW(),;c?'
  const fps = [...classes].map((c) => c.repeat(SIZE)).concat([fill('s&'), fill('1&1='), fill('U('), fill(';E'), fill('x('), fill('s)'), fill('(s')])
  let worst = 0
  for (const rule of RULES.filter((r) => r.kind === 'fingerprint')) {
    for (const fp of fps) {
      const ms = timed(() => rule.pattern.test(fp))
      worst = Math.max(worst, ms)
      if (ms >= LIMIT_MS) t.fail(`${rule.id} took ${ms.toFixed(0)} ms on a fingerprint of ${fp[0]}`)
    }
  }
  t.comment(`slowest fingerprint pattern run: ${worst.toFixed(2)} ms`)
  t.ok(worst < LIMIT_MS)
})

t.test('normaliser and tokenizer are linear', async (t) => {
  let worst = 0
  for (const input of GENERIC) {
    const n = timed(() => normalizeValue(input))
    const text = normalizeValue(input)
    const f = timed(() => {
      for (const q of [0, 39, 34] as const) fingerprint(text, q, () => {})
    })
    const p = timed(() => normalizePathForMatching(input))
    worst = Math.max(worst, n, f / 3, p)
    // The tokenizer time covers three passes (code, single- and double-quoted contexts).
    if (n >= LIMIT_MS || f >= 3 * LIMIT_MS || p >= LIMIT_MS) {
      t.fail(`slow on ${JSON.stringify(input.slice(0, 12))}: normalise ${n.toFixed(0)} ms, tokenize ${f.toFixed(0)} ms, path ${p.toFixed(0)} ms`)
    }
  }
  t.comment(`slowest normalise / tokenizer pass / path run: ${worst.toFixed(2)} ms`)
  t.ok(worst < LIMIT_MS)
})

t.test('the whole engine is bounded per location', async (t) => {
  const engine = compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', paranoia: 3, maxBodyInspect: 2 * SIZE })
  const places: Array<(v: string) => ThreatInput> = [
    (v) => ({ path: '/', query: `q=${v}` }),
    (v) => ({ path: '/', query: '', bodyFields: [['comment', v]] }),
    (v) => ({ path: `/${v}`, query: '' }),
    (v) => ({ path: '/', query: '', cookieHeader: `a=${v}` }),
    (v) => ({ path: '/', query: '', userAgent: v }),
    (v) => ({ path: '/', query: '', referer: v }),
  ]
  let worst = 0
  for (const input of GENERIC) {
    for (const place of places) {
      const ms = timed(() => engine.scan(place(input)))
      worst = Math.max(worst, ms)
      if (ms >= ENGINE_LIMIT_MS) t.fail(`engine took ${ms.toFixed(0)} ms on ${JSON.stringify(input.slice(0, 12))}`)
    }
  }
  t.comment(`slowest full scan of a 100 KB value: ${worst.toFixed(2)} ms`)
  t.ok(worst < ENGINE_LIMIT_MS)
})
