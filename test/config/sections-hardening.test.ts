import t from 'tap'
import { Type } from '@sinclair/typebox'
import { Strict, HostPattern } from '../../src/config/types.js'
import { compileSchema, validateText, formatProblem } from '../../src/config/validate.js'
import { Headers, type HeadersConfig } from '../../src/config/sections/headers.js'
import { Cookies, SiteCookies, type CookiesConfig, type SiteCookiesConfig } from '../../src/config/sections/cookies.js'
import { checkCookiesConfig } from '../../src/cookies/rewrite.js'

const opts = { file: 'rampart.yaml', env: {} }

// ---------------------------------------------------------------------------------------------------------------
// headers

const headersValidator = compileSchema(Strict({ headers: Headers }))
const loadHeaders = (yaml: string) => validateText<{ headers: HeadersConfig }>(yaml, opts, headersValidator)

t.test('headers: defaults', async (t) => {
  const r = loadHeaders('headers: {}')
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.config.headers, {
    hsts: { maxAge: 63072000, includeSubDomains: true, preload: false, mode: 'set' },
    contentSecurityPolicy: { value: "base-uri 'self'; object-src 'none'", mode: 'default' },
    contentSecurityPolicyReportOnly: false,
    xContentTypeOptions: 'nosniff',
    xFrameOptions: 'SAMEORIGIN',
    referrerPolicy: 'strict-origin-when-cross-origin',
    permissionsPolicy: { value: 'camera=(), microphone=(), usb=()', mode: 'default' },
    crossOriginOpenerPolicy: 'same-origin-allow-popups',
    crossOriginResourcePolicy: 'same-site',
    xXssProtection: '0',
    expectCt: false,
    remove: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-generator'],
    overrides: [],
    cspReports: { enabled: false, path: '/.rampart/csp-report', maxBodySize: 16384, ratePerMinute: 60, maxReportsPerBody: 20, maxFieldLength: 512 },
  })
})

t.test('headers: shorthand and object forms', async (t) => {
  const cases: Array<[string, keyof HeadersConfig, unknown]> = [
    ['contentSecurityPolicy: "default-src \'self\'"', 'contentSecurityPolicy', "default-src 'self'"],
    ['xFrameOptions: { value: SAMEORIGIN, mode: default }', 'xFrameOptions', { value: 'SAMEORIGIN', mode: 'default' }],
    ['xFrameOptions: { value: DENY }', 'xFrameOptions', { value: 'DENY', mode: 'set' }],
    ['xFrameOptions: false', 'xFrameOptions', false],
    ['xXssProtection: 0', 'xXssProtection', 0],
    ['xXssProtection: { value: 0 }', 'xXssProtection', { value: 0, mode: 'set' }],
    ['hsts: false', 'hsts', false],
    ['hsts: { preload: true }', 'hsts', { preload: true, maxAge: 63072000, includeSubDomains: true, mode: 'set' }],
    ['hsts: "max-age=600"', 'hsts', 'max-age=600'],
    ['remove: [X-Powered-By]', 'remove', ['x-powered-by']],
  ]
  for (const [yaml, key, want] of cases) {
    const r = loadHeaders(`headers:\n  ${yaml}`)
    t.ok(r.ok, yaml)
    if (r.ok) t.same(r.config.headers[key], want, yaml)
  }
})

t.test('headers: an override changes only what it names', async (t) => {
  const r = loadHeaders('headers:\n  overrides:\n    - { pathPrefix: /widget, xFrameOptions: false }')
  t.ok(r.ok)
  if (r.ok) t.same(r.config.headers.overrides, [{ pathPrefix: '/widget', xFrameOptions: false }])
})

t.test('headers: schema errors', async (t) => {
  const cases: Array<[string, string | RegExp]> = [
    ['headers:\n  xFrameOptions: 0', 'rampart.yaml:2 headers.xFrameOptions: must be a string or true or false or a mapping'],
    ['headers:\n  hsts: { maxAge: 1.5 }', 'rampart.yaml:2 headers.hsts.maxAge: must be an integer'],
    ['headers:\n  referer: no-referrer', /^rampart\.yaml:2 headers\.referer: unknown key 'referer'/],
    ['headers:\n  cspReports: { ratePerMinute: 0 }', 'rampart.yaml:2 headers.cspReports.ratePerMinute: must be >= 1'],
    ['headers:\n  overrides:\n    - { pathPrefix: "/a b" }', /^rampart\.yaml:3 headers\.overrides\[0\]\.pathPrefix: must match pattern/],
  ]
  for (const [yaml, want] of cases) {
    const r = loadHeaders(yaml)
    t.notOk(r.ok, yaml)
    if (r.ok) continue
    const msgs = r.problems.map(formatProblem)
    t.equal(msgs.length, 1, `${yaml}: ${msgs.join(' | ')}`)
    if (typeof want === 'string') t.equal(msgs[0], want)
    else t.match(msgs[0], want)
  }
})

// ---------------------------------------------------------------------------------------------------------------
// cookies

const TestSite = Strict({
  name: Type.String(),
  hosts: Type.Array(HostPattern()),
  cookies: Type.Optional(SiteCookies),
})
const cookiesValidator = compileSchema(Strict({ cookies: Cookies, sites: Type.Array(TestSite, { default: [] }) }))

interface Doc {
  cookies: CookiesConfig
  sites: Array<{ name: string; hosts: string[]; cookies?: SiteCookiesConfig }>
}

const SITES_YAML = `
sites:
  - name: ballejaune
    hosts: [ballejaune.test, "*.ballejaune.test"]
  - name: openresa
    hosts: [openresa.test]`

const loadCookies = (yaml: string) =>
  validateText<Doc>(yaml, opts, cookiesValidator, (c) => checkCookiesConfig(c.cookies, c.sites))

t.test('cookies: defaults', async (t) => {
  const r = loadCookies('cookies: {}')
  t.ok(r.ok)
  if (r.ok) {
    t.same(r.config.cookies, {
      enabled: true, secure: true, httpOnly: true, sameSite: 'Lax', domain: 'keep-if-inside', except: {}, onError: 'closed',
    })
  }
})

t.test('cookies: accepted forms', async (t) => {
  const cases: Array<[string, Partial<CookiesConfig>]> = [
    ['cookies:\n  path: /', { path: '/' }],
    ['cookies:\n  path: { rewrite: [{ from: /app, to: / }] }', { path: { rewrite: [{ from: '/app', to: '/' }] } }],
    ['cookies:\n  except: { XSRF-TOKEN: { httpOnly: false } }', { except: { 'XSRF-TOKEN': { httpOnly: false } } }],
    ['cookies:\n  except:\n    - { match: "wordpress_logged_in_*", sameSite: Strict }\n    - { match: "/^wp_/i", httpOnly: false }',
      { except: [{ match: 'wordpress_logged_in_*', sameSite: 'Strict' }, { match: '/^wp_/i', httpOnly: false }] }],
    ['cookies:\n  domain: drop', { domain: 'drop' }],
    [`cookies:\n  domain: ballejaune.test\nsites:\n  - { name: b, hosts: [club.ballejaune.test] }`, { domain: 'ballejaune.test' }],
    ['cookies:\n  sameSite: "off"', { sameSite: 'off' }],
  ]
  for (const [yaml, want] of cases) {
    const r = loadCookies(yaml.includes('sites:') ? yaml : yaml + SITES_YAML)
    t.ok(r.ok, yaml)
    if (!r.ok) { t.comment(r.problems.map(formatProblem).join('\n')); continue }
    for (const [k, v] of Object.entries(want)) t.same(r.config.cookies[k as keyof CookiesConfig], v, `${yaml}: ${k}`)
  }
})

t.test('cookies: a site section has no defaults of its own', async (t) => {
  const r = loadCookies(`cookies: {}
sites:
  - name: a
    hosts: [a.test]
    cookies: { sameSite: Strict }`)
  t.ok(r.ok)
  if (r.ok) t.same(r.config.sites[0]!.cookies, { sameSite: 'Strict' })
})

t.test('cookies: errors with exact messages', async (t) => {
  const cases: Array<[string, string | RegExp]> = [
    ['cookies:\n  sameSite: lax', 'rampart.yaml:2 cookies.sameSite: must be one of: "Strict", "Lax", "None", "off"'],
    ['cookies:\n  secured: true', /^rampart\.yaml:2 cookies\.secured: unknown key 'secured'/],
    ['cookies:\n  onError: ignore', 'rampart.yaml:2 cookies.onError: must be one of: "open", "closed"'],
    ['cookies:\n  path: app', 'rampart.yaml:2 cookies.path: must match pattern "^/"'],
    ['cookies:\n  path: { set: /, rewrite: [{ from: /a, to: / }] }', 'rampart.yaml:2 cookies.path: give either set or rewrite, not both'],
    ['cookies:\n  path: {}', 'rampart.yaml:2 cookies.path: needs set or at least one rewrite rule'],
    ['cookies:\n  path: { rewrite: [{ from: /a }] }', "rampart.yaml:2 cookies.path.rewrite[0]: missing required key 'to'"],
    ['cookies:\n  domain: openresa.test', "rampart.yaml:2 cookies.domain: domain 'openresa.test' covers none of the hosts of site 'ballejaune' (ballejaune.test, *.ballejaune.test)"],
    ['cookies:\n  domain: "not a domain"', "rampart.yaml:2 cookies.domain: 'not a domain' must be drop, keep-if-inside or a domain name like club.example"],
    ['cookies:\n  domain: test', "rampart.yaml:2 cookies.domain: 'test' must be drop, keep-if-inside or a domain name like club.example"],
    ['cookies:\n  except: { "bad name": { httpOnly: false } }', "rampart.yaml:2 cookies.except.bad name: 'bad name' is not a valid cookie name"],
    ['cookies:\n  except: { XSRF-TOKEN: { httpOnyl: false } }', /^rampart\.yaml:2 cookies\.except\.XSRF-TOKEN\.httpOnyl: unknown key 'httpOnyl'/],
    ['cookies:\n  except:\n    - { match: "a b*" }', "rampart.yaml:3 cookies.except[0].match: 'a b*' is not a valid cookie name or glob"],
    ['cookies:\n  except:\n    - { match: "/x/g" }', "rampart.yaml:3 cookies.except[0].match: regex flags may only be i and u, not 'g'"],
    ['cookies:\n  except:\n    - { match: "/(/" }', /^rampart\.yaml:3 cookies\.except\[0\]\.match: '\/\(\/' is not a valid regular expression \(Invalid regular expression: /],
    ['cookies:\n  except:\n    - { httpOnly: false }', "rampart.yaml:3 cookies.except[0]: missing required key 'match'"],
    ['cookies:\n  except:\n    - { match: x, domain: elsewhere.test }', "rampart.yaml:3 cookies.except[0].domain: domain 'elsewhere.test' covers none of the hosts of site 'ballejaune' (ballejaune.test, *.ballejaune.test)"],
  ]
  for (const [yaml, want] of cases) {
    const r = loadCookies(yaml + SITES_YAML)
    t.notOk(r.ok, yaml)
    if (r.ok) continue
    const msgs = r.problems.filter((p) => p.severity === 'error').map(formatProblem)
    // A top-level fixed domain can fail for each site; the first is what the case is about.
    if (!yaml.includes('domain:')) t.equal(msgs.length, 1, `${yaml}: ${msgs.join(' | ')}`)
    if (typeof want === 'string') t.equal(msgs[0], want)
    else t.match(msgs[0], want)
  }
})

t.test('cookies: site-level problems point at the site', async (t) => {
  const r = loadCookies(`cookies: {}
sites:
  - name: ballejaune
    hosts: [ballejaune.test]
  - name: openresa
    hosts: [openresa.test]
    cookies:
      domain: ballejaune.test
      except: { "x y": { httpOnly: false } }`)
  t.notOk(r.ok)
  if (!r.ok) {
    t.same(r.problems.map(formatProblem), [
      "rampart.yaml:8 sites[1].cookies.domain: domain 'ballejaune.test' covers none of the hosts of site 'openresa' (openresa.test)",
      "rampart.yaml:9 sites[1].cookies.except.x y: 'x y' is not a valid cookie name",
    ])
  }
})

t.test('cookies: a top-level mistake is reported once, not once per site', async (t) => {
  const r = loadCookies(`cookies:\n  except:\n    - { match: "/x/g" }${SITES_YAML}`)
  t.notOk(r.ok)
  if (!r.ok) t.equal(r.problems.length, 1)
})
