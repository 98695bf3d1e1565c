import t from 'tap'
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS, type ThreatSettings } from '../../src/threats/engine.js'
import { RULES, type ThreatRule } from '../../src/threats/rules.js'
import type { ThreatInput } from '../../src/threats/types.js'
import { isRampartError } from '../../src/errors.js'

const SITES = [{ name: 'ballejaune', hosts: ['ballejaune.test', '*.ballejaune.test'] }, { hosts: ['openresa.test'] }]

function engine(overrides: Partial<ThreatSettings> = {}, catalogue: readonly ThreatRule[] = RULES) {
  return compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', ...overrides }, SITES, catalogue)
}

const req = (over: Partial<ThreatInput>): ThreatInput => ({ path: '/', query: '', ...over })

t.test('every location is inspected', async (t) => {
  const e = engine()
  const table: Array<[string, ThreatInput, { location: string; param?: string }]> = [
    ['path', req({ path: '/static/..%2f..%2fetc/passwd' }), { location: 'path' }],
    ['path segment SQL', req({ path: '/members/1%20union%20select%201' }), { location: 'path' }],
    ['query value', req({ query: "q=%27+or+1%3D1--" }), { location: 'query', param: 'q' }],
    ['query name', req({ query: "x%27+or+1%3D1--=1" }), { location: 'query', param: 'x\\x27 or 1=1--' }],
    ['body value', req({ bodyFields: [['comment', '<script>alert(1)</script>']] }), { location: 'body', param: 'comment' }],
    ['body name', req({ bodyFields: [['<svg onload=alert(1)>', 'x']] }), { location: 'body' }],
    ['cookie', req({ cookieHeader: 'sid=abc; pref=%3Bcat%20/etc/passwd' }), { location: 'cookie', param: 'pref' }],
    ['user agent', req({ userAgent: 'sqlmap/1.7.2#stable' }), { location: 'header', param: 'user-agent' }],
    ['referer', req({ referer: 'https://x.example/?q=<script>alert(1)</script>' }), { location: 'header', param: 'referer' }],
  ]
  for (const [name, input, want] of table) {
    const r = e.scan(input)
    t.ok(r.blocked, `${name}: blocked`)
    t.match(r.matches[0], want, `${name}: location and parameter`)
  }
})

t.test('benign requests pass untouched', async (t) => {
  const e = engine()
  const table: ThreatInput[] = [
    req({ path: '/reservations/court/3', query: 'date=2024-05-01&court=3', cookieHeader: 'PHPSESSID=abc; lang=fr', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/125.0' }),
    req({ path: '/members/O%27Brien', query: "q=select+court+3&sort=order+by+date" }),
    req({ bodyFields: [['comment', "l'équipe — rendez-vous à 18h, n'oubliez pas vos raquettes"], ['name', "D'Angelo"]] }),
    req({ referer: 'https://ballejaune.test/reservations?date=2024-05-01&court=3' }),
  ]
  for (const input of table) t.same(e.scan(input), { score: 0, blocked: false, matches: [], truncated: false })
})

t.test('scores add up once per rule, and the threshold decides', async (t) => {
  const input = req({ query: 'a=%3Cscript%3E&b=%3Cscript%3E&c=javascript:alert(1)' })
  const r = engine({ threshold: 100 }).scan(input)
  const ids = r.matches.map((m) => m.ruleId)
  t.equal(new Set(ids).size, ids.length, 'each rule appears once')
  t.equal(r.score, r.matches.reduce((s, m) => s + m.score, 0), 'score is the sum of distinct rules')
  t.ok(r.score >= 10)
  t.notOk(r.blocked, 'under the threshold: not blocked')
  t.ok(engine({ threshold: r.score }).scan(input).blocked, 'at the threshold: blocked')
  t.notOk(engine({ threshold: r.score + 1 }).scan(input).blocked, 'one under: not blocked')

  // A paranoia-2 rule worth 3 alone does not reach the default threshold of 5.
  const weak = req({ query: 'q=%3Cb%3Ehello%3C/b%3E' })
  const w = engine({ paranoia: 2 }).scan(weak)
  t.equal(w.score, 3)
  t.notOk(w.blocked)
  t.ok(engine({ paranoia: 2, threshold: 3 }).scan(weak).blocked)
})

t.test('modes', async (t) => {
  const attack = req({ query: "q=%27+or+1%3D1--" })
  const detect = engine({ mode: 'detect' }).scan(attack)
  t.ok(detect.score >= 5, 'detect mode scores')
  t.notOk(detect.blocked, 'detect mode never blocks')
  t.same(engine({ mode: 'off' }).scan(attack), { score: 0, blocked: false, matches: [], truncated: false }, 'off inspects nothing')
})

t.test('paranoia and detectors select rules', async (t) => {
  const p1 = engine({ paranoia: 1 })
  t.ok(p1.rules.every((r) => r.paranoia === 1))
  t.ok(engine({ paranoia: 3 }).rules.length > p1.rules.length)
  const onlyXss = engine({ detectors: ['xss'] })
  t.ok(onlyXss.rules.every((r) => r.family === 'xss'))
  t.notOk(onlyXss.scan(req({ query: "q=%27+or+1%3D1--" })).blocked, 'SQL injection is not looked for')
  t.ok(onlyXss.scan(req({ query: 'q=%3Cscript%3E' })).blocked)
})

t.test('excerpts: escaped, truncated, secrets redacted', async (t) => {
  const e = engine()
  const long = req({ bodyFields: [['comment', 'x'.repeat(500) + '<script>alert(1)</script>' + 'y'.repeat(500)]] })
  const m = e.scan(long).matches[0]!
  t.ok(m.excerpt.length <= 80, 'excerpt is short')
  t.match(m.excerpt, /\\x3cscript/, 'markup is escaped')
  t.notMatch(m.excerpt, /[<>"']/)

  const secrets: Array<[string, ThreatInput, string]> = [
    ['password field', req({ bodyFields: [['password', "' or 1=1--"]] }), 'password'],
    ['token in query', req({ query: "reset_token=%27+or+1%3D1--" }), 'reset_token'],
    ['pwd field', req({ bodyFields: [['pwd', '<script>x</script>']] }), 'pwd'],
    ['cookie value', req({ cookieHeader: 'pref=%3Cscript%3Ealert(1)%3C/script%3E' }), 'pref'],
  ]
  for (const [name, input, param] of secrets) {
    const r = e.scan(input)
    t.ok(r.blocked, `${name}: still inspected and scored`)
    t.ok(r.matches.length > 0 && r.matches.every((x) => x.excerpt === '[redacted]' && x.param === param), `${name}: excerpt redacted`)
    t.notOk(JSON.stringify(r).includes('1=1') || JSON.stringify(r).includes('script'), `${name}: value appears nowhere in the result`)
  }
})

t.test('body inspection is capped', async (t) => {
  const e = engine({ maxBodyInspect: 100 })
  const late = req({ bodyFields: [['a', 'x'.repeat(200)], ['b', '<script>alert(1)</script>']] })
  const r = e.scan(late)
  t.ok(r.truncated, 'over the cap: truncated')
  t.notOk(r.blocked, 'content past the cap is not inspected')
  const inside = e.scan(req({ bodyFields: [['a', '<script>alert(1)</script>' + 'x'.repeat(200)]] }))
  t.ok(inside.blocked && inside.truncated, 'the part under the cap is inspected')
  t.notOk(e.scan(req({ bodyFields: [['a', 'short']] })).truncated)
  t.ok(e.scan(req({ bodyTruncated: true })).truncated, 'truncation reported by the caller is passed on')
})

t.test('exclusions', async (t) => {
  const xss = req({ path: '/admin/cms/page', bodyFields: [['content', '<iframe src="https://video.example/embed"></iframe>'], ['title', 'News']] })
  const table: Array<[string, ThreatSettings['exclusions'], number | undefined, boolean]> = [
    ['no exclusion', [], 0, true],
    ['by parameter under a path', [{ pathPrefix: '/admin/cms', params: ['content'] }], 0, false],
    ['by parameter, other path', [{ pathPrefix: '/blog', params: ['content'] }], 0, true],
    ['by parameter, other param', [{ pathPrefix: '/admin/cms', params: ['title'] }], 0, true],
    ['by family', [{ families: ['xss'] }], 0, false],
    ['by other family', [{ families: ['sqli'] }], 0, true],
    ['by rule id', [{ ruleIds: ['xss-004', 'xss-008'] }], 0, false],
    ['by one of two rule ids', [{ ruleIds: ['xss-004'] }], 0, true],
    ['by site name', [{ site: 'ballejaune', families: ['xss'] }], 0, false],
    ['by site host, other site', [{ site: 'openresa.test', families: ['xss'] }], 0, true],
    ['by site host', [{ site: 'openresa.test', families: ['xss'] }], 1, false],
    ['family and param must both hold', [{ families: ['sqli'], params: ['content'] }], 0, true],
    ['whole path', [{ pathPrefix: '/admin' }], 0, false],
    ['path prefix is segment-wise', [{ pathPrefix: '/adm' }], 0, true],
    ['path prefix is matched on the canonical path', [{ pathPrefix: '/ADMIN/cms/' }], 0, false],
  ]
  for (const [name, exclusions, site, blocked] of table) {
    t.equal(engine({ exclusions }).scan(xss, site).blocked, blocked, name)
  }
  // PHP array fields are covered by their base name.
  t.notOk(engine({ exclusions: [{ params: ['content'] }] }).scan(req({ bodyFields: [['content[fr]', '<svg onload=x>']] })).blocked)
  // Exclusions match the canonical path, so another spelling of the same path is covered the same way.
  const spelled = { ...xss, path: '/%61dmin//CMS/page' }
  t.notOk(engine({ exclusions: [{ pathPrefix: '/admin/cms', params: ['content'] }] }).scan(spelled).blocked)
  // A dot-dot in the path is its own finding, which a parameter exclusion does not hide.
  const dotted = { ...xss, path: '/admin/cms/../cms/page' }
  const r = engine({ exclusions: [{ pathPrefix: '/admin/cms', params: ['content'] }] }).scan(dotted)
  t.same(r.matches.map((m) => m.ruleId), ['trav-002'])
})

t.test('bad exclusions are config errors', async (t) => {
  const bad: Array<[string, ThreatSettings['exclusions'], RegExp]> = [
    ['unknown rule', [{ ruleIds: ['sqli-999'] }], /unknown rule id 'sqli-999'/],
    ['unknown site', [{ site: 'nowhere.test' }], /no site is named or serves 'nowhere.test'/],
  ]
  for (const [name, exclusions, message] of bad) {
    let caught: unknown
    try {
      engine({ exclusions })
    } catch (err) {
      caught = err
    }
    t.ok(isRampartError(caught) && caught.code === 'RAMPART_ERR_CONFIG_CONFLICT', `${name}: RampartError`)
    t.match((caught as Error | undefined)?.message, message, `${name}: message`)
  }
})

t.test('onError decides what an engine failure means', async (t) => {
  const broken: ThreatRule = {
    id: 'xss-001', family: 'xss', paranoia: 1, score: 5, kind: 'text', description: 'throws',
    pattern: { exec() { throw new Error('boom') }, test() { throw new Error('boom') }, source: 'x', global: false, sticky: false } as unknown as RegExp,
  }
  const input = req({ query: 'q=%3Cb%3E' })
  const open = engine({ onError: 'open' }, [broken]).scan(input)
  t.ok(open.error instanceof Error, 'the error is reported')
  t.notOk(open.blocked, 'fail open lets the request through')
  const closed = engine({ onError: 'closed' }, [broken]).scan(input)
  t.ok(closed.blocked, 'fail closed blocks')
  t.notOk(engine({ onError: 'closed', mode: 'detect' }, [broken]).scan(input).blocked, 'detect mode never blocks, even closed')
})

t.test('User-Agent results are memoised without changing them', async (t) => {
  const e = engine()
  const ua = req({ userAgent: 'Mozilla/5.0 sqlmap/1.7' })
  const first = e.scan(ua)
  const again = e.scan(ua)
  t.same(again, first)
  t.ok(first.blocked)
  // An exclusion on one site still applies to a memoised header.
  const ex = compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', exclusions: [{ site: 'openresa.test', params: ['user-agent'] }] }, SITES)
  t.ok(ex.scan(ua, 0).blocked)
  t.notOk(ex.scan(ua, 1).blocked)
  t.ok(ex.scan(ua, 0).blocked)
})
