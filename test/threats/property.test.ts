/** Property tests: detectors are total. Whatever the input, nothing throws and the engine never reports an error. */
import t from 'tap'
import fc from 'fast-check'
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS } from '../../src/threats/engine.js'
import { RULES } from '../../src/threats/rules.js'
import { decodeEntities, decodeJsEscapes, formDecode, percentDecode } from '../../src/threats/decode.js'
import { normalizeValue } from '../../src/threats/normalize.js'
import { fingerprint } from '../../src/threats/sqli/tokenizer.js'
import { excerpt } from '../../src/threats/excerpt.js'

// Dense in the characters detectors care about, so generated strings reach deep into every code path.
const special = fc.constantFrom(...`'"\`<>()[]{};|&$%#@!=*/\\-+.,:?~^ \n\t\r\u0000\u00a0é😀＜`.split(''), '%2', '%c0', '%u', '&#', '&#x', '\\u', '/*', '*/', '/*!', '--', 'union', 'select', 'or', 'and', 'sleep(', 'on', 'script', 'javascript:', '../', 'etc/passwd', '${', '$(')
const nasty = fc.array(fc.oneof(special, fc.string({ maxLength: 4 }), fc.string({ unit: 'grapheme', maxLength: 3 })), { maxLength: 60 }).map((a) => a.join(''))
const anything = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), nasty)

const engines = [1, 2, 3].map((p) => compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', paranoia: p as 1 | 2 | 3 }))

t.test('engine.scan never fails on arbitrary input in any location', async (t) => {
  fc.assert(
    fc.property(anything, anything, anything, (a, b, c) => {
      for (const e of engines) {
        const inputs = [
          { path: a, query: b },
          { path: '/', query: `${a}=${b}&${c}` },
          { path: '/', query: '', bodyFields: [[a, b], [c, a]] as Array<[string, string]> },
          { path: '/', query: '', cookieHeader: `${a}=${b}; ${c}` },
          { path: '/', query: '', userAgent: a, referer: b },
        ]
        for (const input of inputs) {
          const r = e.scan(input)
          if (r.error !== undefined) throw new Error(`engine error: ${String(r.error)}`)
          if (r.score < 0 || !Number.isFinite(r.score)) throw new Error('bad score')
          for (const m of r.matches) if (m.excerpt.length > 80) throw new Error('excerpt too long')
        }
      }
    }),
    { numRuns: 400 },
  )
  t.pass('no failures')
})

t.test('every detector is total', async (t) => {
  fc.assert(
    fc.property(anything, (s) => {
      percentDecode(s)
      formDecode(s)
      decodeEntities(s)
      decodeJsEscapes(s)
      excerpt(s, s.length >> 1)
      const text = normalizeValue(s)
      for (const q of [0, 39, 34] as const) fingerprint(text, q, () => {})
      for (const r of RULES) r.pattern.test(text)
    }),
    { numRuns: 1000 },
  )
  t.pass('no failures')
})

t.test('normalisation is idempotent on its own output for decoded text', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 100 }).filter((s) => !/[%&\\]/.test(s)), (s) => normalizeValue(normalizeValue(s)) === normalizeValue(s)),
    { numRuns: 500 },
  )
  t.pass('idempotent')
})
