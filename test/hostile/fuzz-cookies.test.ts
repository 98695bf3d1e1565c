/**
 * Fuzzing the Set-Cookie rewriter as a browser reads its output, beyond the property in `test/cookies/rewrite`:
 * arbitrary bytes, Latin-1 and Unicode, huge lines with dozens of attributes, repeated and oddly spaced attributes,
 * hostile Domain values (suffix tricks, trailing dots, quotes, over-long values browsers ignore), under several
 * configurations (exceptions by glob and regex, SameSite floors, Domain drop and fixed, hardening off).
 *
 * Each output line is read back by an independent model of the browser's parser (RFC 6265bis §5.6: split on `;`,
 * trim spaces and tabs, attribute names case-insensitive, the last of each attribute wins, values over 1024 ignored),
 * not by the project's own scanner, and must: hold no CR, LF or NUL and nothing Node cannot send; carry Secure and
 * HttpOnly (except where an exception allows); carry a SameSite at least the configured floor; have no effective
 * Domain outside the site or not covering the request host; keep `__Host-` rules; and be a fixed point.
 */
import t from 'tap'
import fc from 'fast-check'
import { compileCookieRewriter, type CookieSite } from '../../src/cookies/rewrite.js'
import type { CookiesConfig } from '../../src/config/sections/cookies.js'

const SITE: CookieSite = { name: 'ballejaune', hosts: ['ballejaune.test', '*.ballejaune.test'] }
const DEFAULTS: CookiesConfig = {
  enabled: true, secure: true, httpOnly: true, sameSite: 'Lax', domain: 'keep-if-inside', except: {}, onError: 'closed',
}

/** What a browser keeps of one Set-Cookie line (RFC 6265bis §5.6), or undefined when it ignores the line. */
interface BrowserCookie {
  name: string
  attrs: Map<string, string>
}

function browserRead(line: string): BrowserCookie | undefined {
  const trim = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, '')
  const semi = line.indexOf(';')
  const pair = semi === -1 ? line : line.slice(0, semi)
  const eq = pair.indexOf('=')
  if (eq === -1) return undefined
  const name = trim(pair.slice(0, eq))
  const attrs = new Map<string, string>()
  if (semi !== -1) {
    for (const part of line.slice(semi + 1).split(';')) {
      const aeq = part.indexOf('=')
      const key = trim(aeq === -1 ? part : part.slice(0, aeq)).toLowerCase()
      const value = aeq === -1 ? '' : trim(part.slice(aeq + 1))
      if (key === '' || value.length > 1024) continue
      attrs.set(key, value)
    }
  }
  return { name, attrs }
}

/** Host part of a Host header, lower-case, as the browser compares it with a cookie Domain. */
function requestHostName(host: string): string {
  const h = host.toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  const colon = h.indexOf(':')
  return colon === -1 ? h : h.slice(0, colon)
}

const inSite = (d: string) => d === 'ballejaune.test' || d.endsWith('.ballejaune.test')
const covers = (domain: string, host: string) => host === domain || host.endsWith(`.${domain}`)

// --- generators -------------------------------------------------------------------------------------------------

const latin1 = fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c))
const hostile = fc.constantFrom('\r', '\n', '\u0000', '\u007f', '\u0085', '\u2028', '\uffff', '\ud800', '\t', ';', '=', ',', '"', ' ')
/** Latin-1 text with, now and then, a character that makes a line invalid or is a separator. */
const text = (max: number) => fc.string({ unit: fc.oneof({ weight: 40, arbitrary: latin1 }, { weight: 1, arbitrary: hostile }), maxLength: max })
const caseOf = (s: string) => fc.constantFrom(s, s.toLowerCase(), s.toUpperCase(), ` ${s}\t`, `${s} `)

const evilDomain = fc.constantFrom(
  'evil.test', '.evil.test', 'ballejaune.test.evil.test', 'evilballejaune.test', 'ballejaune.test.', '"ballejaune.test"',
  'BALLEJAUNE.TEST', '.Club1.BalleJaune.Test', 'club1.ballejaune.test', 'other.ballejaune.test', 'test', '.', '..ballejaune.test',
  '', 'ballejaune.test\tevil.test', 'ballejaune.test evil.test', `${'a'.repeat(1020)}.evil.test`, 'xn--ballejaune-test.evil',
  '%62allejaune.test', 'ballejaune.test%00.evil.test',
)
const attribute = fc.oneof(
  caseOf('Secure'), caseOf('HttpOnly'), caseOf('Partitioned'),
  fc.tuple(caseOf('SameSite'), fc.constantFrom('Strict', 'lax', 'NONE', 'None ', 'bogus', '', '"Lax"')).map(([k, v]) => `${k}=${v}`),
  fc.tuple(caseOf('Domain'), fc.constantFrom('=', ' = ', '=\t'), evilDomain).map(([k, e, v]) => `${k}${e}${v}`),
  fc.tuple(caseOf('Path'), fc.constantFrom('/', '/app', '', 'x', '/a;b')).map(([k, v]) => `${k}=${v}`),
  fc.tuple(fc.constantFrom('Domain', 'Path', 'SameSite'), fc.constant('x'.repeat(1030))).map(([k, v]) => `${k}=${v}`),
  fc.constantFrom('Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'Max-Age=0', 'Priority=High', '=x', '', ' '),
  text(16),
)
const cookieName = fc.oneof(
  fc.constantFrom('PHPSESSID', 'XSRF-TOKEN', 'XSRF-other', '__Host-id', '__HOST-id', '__Secure-id', 'wp_user', 'WP_X', 'cart[1]', ' sid ', ''),
  text(10),
)
const structured = fc.tuple(cookieName, text(30), fc.array(fc.tuple(fc.constantFrom(';', '; ', ' ;\t', ';;'), attribute), { maxLength: 40 }))
  .map(([n, v, attrs]) => `${n}=${v}${attrs.map(([s, a]) => s + a).join('')}`)
const line = fc.oneof(
  { weight: 6, arbitrary: structured },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.tuple(structured, fc.integer({ min: 1000, max: 6000 })).map(([l, n]) => `${l}; ${'a=b; '.repeat(n / 5)}`) },
)
const lines = fc.array(line, { minLength: 1, maxLength: 4 })
const requestHost = fc.constantFrom('club1.ballejaune.test', 'ballejaune.test', 'Club1.BalleJaune.test:8443', 'a.b.ballejaune.test', '[::1]:8443', '')

// --- configurations ---------------------------------------------------------------------------------------------

interface Scenario {
  name: string
  cfg: CookiesConfig
  /** SameSite values (lower-case) a cookie of this name may end up with. */
  sameSite(name: string): readonly string[]
  httpOnly(name: string): boolean
  /** Domain a cookie may carry for this request host: 'inside' (keep-if-inside), a fixed domain, or none. */
  domain: 'inside' | 'none' | string
}

const STRICT_OR_LAX = ['lax', 'strict']
const SCENARIOS: Scenario[] = [
  {
    name: 'defaults, with a glob and a regex exception',
    cfg: { ...DEFAULTS, except: [{ match: 'XSRF-*', httpOnly: false }, { match: '/^wp_/i', sameSite: 'None' }] },
    sameSite: (n) => (/^wp_/i.test(n) ? ['none', 'lax', 'strict'] : STRICT_OR_LAX),
    httpOnly: (n) => !n.startsWith('XSRF-'),
    domain: 'inside',
  },
  {
    name: 'SameSite Strict, Domain dropped',
    cfg: { ...DEFAULTS, sameSite: 'Strict', domain: 'drop' },
    sameSite: () => ['strict'],
    httpOnly: () => true,
    domain: 'none',
  },
  {
    name: 'a fixed Domain',
    cfg: { ...DEFAULTS, domain: 'ballejaune.test', except: { 'XSRF-TOKEN': { httpOnly: false } } },
    sameSite: () => STRICT_OR_LAX,
    httpOnly: (n) => n !== 'XSRF-TOKEN',
    domain: 'ballejaune.test',
  },
]

/** Why `out` breaks the scenario for a request to `host`, or undefined when it is fine. */
function violation(s: Scenario, out: string, host: string): string | undefined {
  if (/[\r\n\u0000]/.test(out)) return 'CR, LF or NUL in the output'
  if (/[^\u0000-\u00ff]/.test(out)) return 'a character Node cannot send'
  const c = browserRead(out)
  if (!c || c.name === '') return 'a browser would ignore the line, or read a nameless cookie'
  const a = c.attrs
  if (!a.has('secure')) return 'no Secure'
  if (s.httpOnly(c.name) && !a.has('httponly')) return 'no HttpOnly'
  const ss = a.get('samesite')?.toLowerCase()
  if (ss === undefined || !s.sameSite(c.name).includes(ss)) return `SameSite ${ss}`
  const domain = a.get('domain')?.toLowerCase().replace(/^\./, '')
  const hostName = requestHostName(host)
  if (domain !== undefined && domain !== '') {
    if (!inSite(domain)) return `Domain ${domain} outside the site`
    if (!covers(domain, hostName)) return `Domain ${domain} does not cover ${hostName}`
    if (s.domain === 'none') return 'a Domain where every cookie must be host-only'
    if (s.domain !== 'inside' && domain !== s.domain) return `Domain ${domain} instead of ${s.domain}`
  }
  if (/^__host-/i.test(c.name) && ((domain !== undefined && domain !== '') || a.get('path') !== '/')) return '__Host- rules broken'
  return undefined
}

for (const s of SCENARIOS) {
  t.test(`arbitrary Set-Cookie lines, as a browser reads them: ${s.name}`, async (t) => {
    const rw = compileCookieRewriter(s.cfg, SITE)
    let outputs = 0
    fc.assert(fc.property(lines, requestHost, (input, host) => {
      const r = rw.rewrite(input, host)
      if (r.values.length + r.dropped.length !== input.length) throw new Error('a line was lost or invented')
      for (const d of r.dropped) if (/[^\x21-\x7e]/.test(d.name) || d.name.length > 64) throw new Error(`unsafe dropped name ${JSON.stringify(d.name)}`)
      for (const out of r.values) {
        outputs++
        const why = violation(s, out, host)
        if (why) throw new Error(`${why}: ${JSON.stringify(out.slice(0, 300))}`)
        if (rw.rewrite(out, host).values[0] !== out) throw new Error('not a fixed point')
      }
    }), { numRuns: 1500 })
    t.ok(outputs > 800, `${outputs} hardened lines checked`)
  })
}

t.test('hardening off: lines pass unchanged, yet nothing a header cannot carry ever does', async (t) => {
  const rw = compileCookieRewriter({ ...DEFAULTS, enabled: false }, SITE)
  fc.assert(fc.property(lines, requestHost, (input, host) => {
    const r = rw.rewrite(input, host)
    const kept = input.filter((l) => !/[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/.test(l) && browserRead(l)?.name)
    for (const out of r.values) if (/[\r\n\u0000]|[^\u0000-\u00ff]/.test(out)) throw new Error(`unsafe line passed: ${JSON.stringify(out)}`)
    if (r.values.length > kept.length) throw new Error('an invalid line passed')
  }), { numRuns: 1500 })
  t.pass('no CR, LF, NUL or non-Latin-1 character passed')
})

t.test('fixed cases: suffix tricks, repeats and ignored attributes', async (t) => {
  const rw = compileCookieRewriter(DEFAULTS, SITE)
  const cases: Array<[string, string]> = [
    ['sid=1; Domain=evilballejaune.test', 'a suffix without a dot is not inside'],
    ['sid=1; Domain=ballejaune.test.evil.test', 'the site as a label of another domain'],
    ['sid=1; Domain=ballejaune.test; Domain=evil.test', 'the last Domain counts'],
    [`sid=1; Domain=evil.test; Domain=${'x'.repeat(1030)}`, 'an over-long last Domain is ignored by browsers: the one before counts'],
    ['sid=1; Domain=ballejaune.test; SameSite=Lax; SameSite=None', 'the last SameSite counts'],
    ['sid=1; domain\t=\t.evil.test', 'tabs around the equals sign'],
  ]
  const host = 'club1.ballejaune.test'
  t.match(violation(SCENARIOS[0]!, 'sid=1; Secure; HttpOnly; SameSite=Lax; Domain=evil.test', host), /outside the site/, 'the oracle sees a foreign Domain')
  t.match(violation(SCENARIOS[0]!, 'sid=1; Secure; SameSite=Lax; SameSite=None', host), /HttpOnly/, 'the oracle sees a missing flag')
  t.match(violation(SCENARIOS[0]!, 'sid=1; Secure; HttpOnly; SameSite=Lax; SameSite=None', host), /SameSite none/, 'the oracle reads the last SameSite')
  for (const [input, why] of cases) {
    const out = rw.rewrite(input, host).values[0]!
    t.equal(violation(SCENARIOS[0]!, out, host), undefined, `${why}: ${out}`)
  }
})
