import t from 'tap'
import { Strict } from '../../src/config/types.js'
import { compileSchema, validateText, formatProblem } from '../../src/config/validate.js'
import { Headers, type HeadersConfig } from '../../src/config/sections/headers.js'
import {
  compileHeaderPolicy, checkHeadersConfig, normalizePathForMatch, type CompiledHeaderSet, type HeaderObjectLike, type SiteRef,
} from '../../src/headers/policy.js'
import { RampartError } from '../../src/errors.js'

const SITES: SiteRef[] = [
  { name: 'ballejaune', hosts: ['ballejaune.test', '*.ballejaune.test'] },
  { name: 'openresa', hosts: ['openresa.test'] },
]

const validator = compileSchema(Strict({ headers: Headers }))

function load(yaml: string, sites: SiteRef[] = SITES) {
  return validateText<{ headers: HeadersConfig }>(yaml, { file: 'rampart.yaml', env: {} }, validator,
    (c) => checkHeadersConfig(c.headers, sites))
}

function config(yaml: string): HeadersConfig {
  const r = load(yaml)
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  return r.config.headers
}

function compile(yaml: string, sites: SiteRef[] = SITES) {
  return compileHeaderPolicy(config(yaml), sites)
}

/** Applies a set both ways (in place and as a copy), checks they agree and the copy left its input alone. */
function applied(set: CompiledHeaderSet, upstream: HeaderObjectLike): HeaderObjectLike {
  const h = { ...upstream }
  set.applyTo(h)
  const before = JSON.stringify(upstream)
  const copy = set.applyToCopy(upstream)
  if (JSON.stringify(upstream) !== before) throw new Error('applyToCopy modified its input')
  if (JSON.stringify(Object.entries(copy).sort()) !== JSON.stringify(Object.entries(h).sort())) {
    throw new Error(`applyTo and applyToCopy disagree: ${JSON.stringify(h)} vs ${JSON.stringify(copy)}`)
  }
  return h
}

const DEFAULT_HTTPS: Array<[string, string]> = [
  ['strict-transport-security', 'max-age=63072000; includeSubDomains'],
  ['content-security-policy', "base-uri 'self'; object-src 'none'"],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'SAMEORIGIN'],
  ['referrer-policy', 'strict-origin-when-cross-origin'],
  ['permissions-policy', 'camera=(), microphone=(), usb=()'],
  ['cross-origin-opener-policy', 'same-origin-allow-popups'],
  ['cross-origin-resource-policy', 'same-site'],
  ['x-xss-protection', '0'],
]

t.test('defaults: own headers for Rampart\'s pages, https and http', async (t) => {
  const { policy, warnings } = compile('headers: {}')
  t.same(warnings, [])
  t.same(policy.fallback(true).own, DEFAULT_HTTPS)
  t.same(policy.fallback(false).own, DEFAULT_HTTPS.slice(1), 'no HSTS over plain HTTP')
  t.equal(policy.select(0, '/', true), policy.fallback(true), 'a site without overrides shares the base set')
  t.equal(policy.select(1, '/x', false), policy.fallback(false))
  t.equal(policy.setCount, 2)
})

t.test('defaults: a typical PHP upstream response is hardened', async (t) => {
  const { policy } = compile('headers: {}')
  const upstream: HeaderObjectLike = {
    'content-type': 'text/html; charset=UTF-8',
    'content-length': 1234,
    server: 'Apache/2.4.29 (Ubuntu)',
    'x-powered-by': 'PHP/5.6.40',
    'x-generator': 'Drupal 7',
    'set-cookie': ['PHPSESSID=abc; path=/'],
    'x-frame-options': 'ALLOWALL',
    'content-security-policy': "default-src 'self' https://cdn.test",
    'permissions-policy': 'geolocation=(self)',
  }
  t.same(applied(policy.select(0, '/index.php', true), upstream), {
    'content-type': 'text/html; charset=UTF-8',
    'content-length': 1234,
    'set-cookie': ['PHPSESSID=abc; path=/'],
    'x-frame-options': 'SAMEORIGIN',
    'content-security-policy': "default-src 'self' https://cdn.test",
    'permissions-policy': 'geolocation=(self)',
    'strict-transport-security': 'max-age=63072000; includeSubDomains',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'cross-origin-opener-policy': 'same-origin-allow-popups',
    'cross-origin-resource-policy': 'same-site',
    'x-xss-protection': '0',
  })
})

t.test('modes against upstream values', async (t) => {
  const cases: Array<{ name: string; yaml: string; header: string; upstream: string | string[] | undefined; want: string | string[] | undefined }> = [
    { name: 'set replaces', yaml: 'xFrameOptions: DENY', header: 'x-frame-options', upstream: 'SAMEORIGIN', want: 'DENY' },
    { name: 'set adds', yaml: 'xFrameOptions: DENY', header: 'x-frame-options', upstream: undefined, want: 'DENY' },
    { name: 'set lower-case input is normalized', yaml: 'xFrameOptions: deny', header: 'x-frame-options', upstream: undefined, want: 'DENY' },
    { name: 'object form, mode set by default', yaml: 'xFrameOptions: { value: DENY }', header: 'x-frame-options', upstream: 'SAMEORIGIN', want: 'DENY' },
    { name: 'default keeps upstream', yaml: 'xFrameOptions: { value: SAMEORIGIN, mode: default }', header: 'x-frame-options', upstream: 'DENY', want: 'DENY' },
    { name: 'default fills absence', yaml: 'xFrameOptions: { value: DENY, mode: default }', header: 'x-frame-options', upstream: undefined, want: 'DENY' },
    { name: 'default fills an empty upstream value', yaml: 'xFrameOptions: { value: DENY, mode: default }', header: 'x-frame-options', upstream: '', want: 'DENY' },
    { name: 'default without value uses the built-in one', yaml: 'xFrameOptions: { mode: default }', header: 'x-frame-options', upstream: undefined, want: 'SAMEORIGIN' },
    { name: 'off leaves upstream', yaml: 'xFrameOptions: false', header: 'x-frame-options', upstream: 'ALLOWALL', want: 'ALLOWALL' },
    { name: 'off adds nothing', yaml: 'xFrameOptions: { value: DENY, mode: off }', header: 'x-frame-options', upstream: undefined, want: undefined },
    { name: 'remove strips upstream', yaml: 'xFrameOptions: { mode: remove }', header: 'x-frame-options', upstream: 'DENY', want: undefined },
    { name: 'set replaces an array', yaml: 'contentSecurityPolicy: "default-src \'self\'"', header: 'content-security-policy', upstream: ['a', 'b'], want: "default-src 'self'" },
    { name: 'built-in CSP yields to the upstream\'s', yaml: '{}', header: 'content-security-policy', upstream: ["script-src 'none'"], want: ["script-src 'none'"] },
    { name: 'built-in CSP fills absence', yaml: '{}', header: 'content-security-policy', upstream: undefined, want: "base-uri 'self'; object-src 'none'" },
    { name: 'referrer fallback list', yaml: 'referrerPolicy: "no-referrer, Strict-Origin-When-Cross-Origin"', header: 'referrer-policy', upstream: 'unsafe-url', want: 'no-referrer, strict-origin-when-cross-origin' },
    { name: 'referrer no-referrer-when-downgrade', yaml: 'referrerPolicy: no-referrer-when-downgrade', header: 'referrer-policy', upstream: undefined, want: 'no-referrer-when-downgrade' },
    { name: 'X-XSS-Protection number 0', yaml: 'xXssProtection: 0', header: 'x-xss-protection', upstream: '1; mode=block', want: '0' },
    { name: 'X-XSS-Protection mode=block', yaml: 'xXssProtection: "1;mode=BLOCK"', header: 'x-xss-protection', upstream: undefined, want: '1; mode=block' },
    { name: 'X-XSS-Protection off', yaml: 'xXssProtection: false', header: 'x-xss-protection', upstream: '1', want: '1' },
    { name: 'COOP', yaml: 'crossOriginOpenerPolicy: same-origin', header: 'cross-origin-opener-policy', upstream: 'unsafe-none', want: 'same-origin' },
    { name: 'CORP', yaml: 'crossOriginResourcePolicy: cross-origin', header: 'cross-origin-resource-policy', upstream: undefined, want: 'cross-origin' },
    { name: 'Permissions-Policy set', yaml: 'permissionsPolicy: "geolocation=(self \\"https://maps.test\\"), camera=()"', header: 'permissions-policy', upstream: 'camera=*', want: 'geolocation=(self "https://maps.test"), camera=()' },
    { name: 'CSP report-only', yaml: 'contentSecurityPolicyReportOnly: "default-src \'self\'; report-uri /csp"', header: 'content-security-policy-report-only', upstream: undefined, want: "default-src 'self'; report-uri /csp" },
    { name: 'CSP report-only off by default leaves upstream', yaml: '{}', header: 'content-security-policy-report-only', upstream: 'x', want: 'x' },
    { name: 'HSTS preload', yaml: 'hsts: { preload: true }', header: 'strict-transport-security', upstream: 'max-age=0', want: 'max-age=63072000; includeSubDomains; preload' },
    { name: 'HSTS string form normalized', yaml: 'hsts: "max-age=31536000;includesubdomains"', header: 'strict-transport-security', upstream: undefined, want: 'max-age=31536000; includeSubDomains' },
    { name: 'HSTS without subdomains', yaml: 'hsts: { maxAge: 600, includeSubDomains: false }', header: 'strict-transport-security', upstream: undefined, want: 'max-age=600' },
    { name: 'HSTS default mode keeps upstream', yaml: 'hsts: { mode: default }', header: 'strict-transport-security', upstream: 'max-age=300', want: 'max-age=300' },
    { name: 'HSTS off', yaml: 'hsts: false', header: 'strict-transport-security', upstream: 'max-age=300', want: 'max-age=300' },
    { name: 'HSTS true = built-in', yaml: 'hsts: true', header: 'strict-transport-security', upstream: undefined, want: 'max-age=63072000; includeSubDomains' },
    { name: 'Expect-CT set', yaml: 'expectCt: "max-age=86400, enforce"', header: 'expect-ct', upstream: undefined, want: 'max-age=86400, enforce' },
    { name: 'Expect-CT off by default', yaml: '{}', header: 'expect-ct', upstream: undefined, want: undefined },
  ]
  for (const c of cases) {
    const { policy } = compile(`headers: ${c.yaml.startsWith('{') ? c.yaml : `\n  ${c.yaml}`}`)
    const upstream: HeaderObjectLike = c.upstream === undefined ? {} : { [c.header]: c.upstream }
    const out = applied(policy.select(0, '/', true), upstream)
    t.same(out[c.header], c.want, c.name)
    t.equal(c.header in out, c.want !== undefined, `${c.name}: key present only with a value`)
  }
})

t.test('own headers follow the modes: set and default are sent, off and remove are not', async (t) => {
  const { policy } = compile(`headers:
  xFrameOptions: { value: DENY, mode: default }
  referrerPolicy: false
  xXssProtection: { mode: remove }
  contentSecurityPolicy: "default-src 'self'"`)
  const own = new Map(policy.fallback(true).own)
  t.equal(own.get('x-frame-options'), 'DENY')
  t.equal(own.get('content-security-policy'), "default-src 'self'")
  t.notOk(own.has('referrer-policy'))
  t.notOk(own.has('x-xss-protection'))
})

t.test('leak headers: default list, config casing, arrays, other headers untouched', async (t) => {
  const cases: Array<{ name: string; yaml: string; upstream: HeaderObjectLike; gone: string[]; kept: string[] }> = [
    {
      name: 'default list',
      yaml: '{}',
      upstream: { server: 'IIS', 'x-powered-by': 'ASP.NET', 'x-aspnet-version': '4.0.30319', 'x-aspnetmvc-version': '5.2', 'x-generator': 'WordPress 4.9', 'x-request-id': 'r1' },
      gone: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-generator'],
      kept: ['x-request-id'],
    },
    {
      name: 'odd casing in config',
      yaml: '\n  remove: [SERVER, x-Powered-BY, X-Runtime]',
      upstream: { server: ['a', 'b'], 'x-powered-by': 'Express', 'x-runtime': '0.01', 'x-generator': 'Joomla' },
      gone: ['server', 'x-powered-by', 'x-runtime'],
      kept: ['x-generator'],
    },
    {
      name: 'empty list removes nothing',
      yaml: '\n  remove: []',
      upstream: { server: 'nginx' },
      gone: [],
      kept: ['server'],
    },
  ]
  for (const c of cases) {
    const { policy } = compile(`headers: ${c.yaml}`)
    const out = applied(policy.select(0, '/', true), c.upstream)
    for (const g of c.gone) t.notOk(g in out, `${c.name}: ${g} removed`)
    for (const k of c.kept) t.same(out[k], c.upstream[k], `${c.name}: ${k} kept`)
  }
})

t.test('HSTS is sent on HTTPS only; over HTTP a set-mode HSTS also strips the upstream\'s', async (t) => {
  const { policy } = compile('headers: {}')
  t.equal(applied(policy.select(0, '/', true), {})['strict-transport-security'], 'max-age=63072000; includeSubDomains')
  t.notOk('strict-transport-security' in applied(policy.select(0, '/', false), {}))
  t.notOk('strict-transport-security' in applied(policy.select(0, '/', false), { 'strict-transport-security': 'max-age=1' }))
  t.notOk(policy.fallback(false).own.some(([n]) => n === 'strict-transport-security'))
  const off = compile('headers:\n  hsts: false').policy
  t.equal(applied(off.select(0, '/', false), { 'strict-transport-security': 'max-age=1' })['strict-transport-security'], 'max-age=1')
})

t.test('overrides by site and by path prefix', async (t) => {
  const { policy } = compile(`headers:
  xFrameOptions: DENY
  contentSecurityPolicy: "default-src 'self'"
  overrides:
    - pathPrefix: /widget
      xFrameOptions: { mode: remove }
      contentSecurityPolicy: "default-src 'self'; frame-ancestors https://partner.test"
    - pathPrefix: /widget/admin
      xFrameOptions: DENY
    - site: openresa.test
      referrerPolicy: no-referrer
    - site: openresa
      pathPrefix: /widget
      contentSecurityPolicy: "default-src 'self'; frame-ancestors https://resa-partner.test"
    - pathPrefix: /widget
      crossOriginResourcePolicy: cross-origin
    - pathPrefix: /legacy/
      remove: [server]
    - site: ballejaune
      pathPrefix: /app
      xFrameOptions: SAMEORIGIN
`)
  const cases: Array<[number, string, Record<string, string | undefined>]> = [
    [0, '/', { 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'self'", 'referrer-policy': 'strict-origin-when-cross-origin' }],
    [0, '/widget', { 'x-frame-options': undefined, 'content-security-policy': "default-src 'self'; frame-ancestors https://partner.test", 'cross-origin-resource-policy': 'cross-origin' }],
    [0, '/widget/', { 'x-frame-options': undefined }],
    [0, '/widget/calendar.php?club=4', { 'x-frame-options': undefined }],
    [0, '/widget?x=1', { 'x-frame-options': undefined }],
    [0, '/widget;jsessionid=ABC', { 'x-frame-options': undefined }],
    [0, '/widgets', { 'x-frame-options': 'DENY', 'cross-origin-resource-policy': 'same-site' }],
    [0, '/Widget', { 'x-frame-options': 'DENY' }],
    [0, '/widget/admin', { 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'self'; frame-ancestors https://partner.test" }],
    [0, '/widget/admin/users', { 'x-frame-options': 'DENY' }],
    [0, '/widget/administrator', { 'x-frame-options': undefined }],
    [0, '/app/x', { 'x-frame-options': 'SAMEORIGIN' }],
    [1, '/app/x', { 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' }],
    [1, '/', { 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' }],
    [1, '/widget/x', {
      'referrer-policy': 'no-referrer',
      'x-frame-options': undefined,
      // Site entry beats the global one at the same prefix, even though the global one comes first.
      'content-security-policy': "default-src 'self'; frame-ancestors https://resa-partner.test",
      'cross-origin-resource-policy': 'cross-origin',
    }],
    // Normalized before matching: escapes, dot segments, doubled slashes, backslashes.
    [0, '/%77idget/x', { 'x-frame-options': undefined }],
    [0, '/static/../widget/x', { 'x-frame-options': undefined }],
    [0, '//widget', { 'x-frame-options': undefined }],
    [0, '/widget/..%2fadmin.php', { 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'self'" }],
    [0, '/widget/%2e%2e/index.php', { 'x-frame-options': 'DENY' }],
    [0, '/widget\\..\\index.php', { 'x-frame-options': 'DENY' }],
    [0, '/widget/%61dmin', { 'x-frame-options': 'DENY' }],
    // Unknown site index: the fallback set.
    [7, '/widget', { 'x-frame-options': 'DENY' }],
  ]
  for (const [site, path, want] of cases) {
    const out = applied(policy.select(site, path, true), { 'x-frame-options': 'UPSTREAM', 'content-security-policy': 'upstream' })
    for (const [header, value] of Object.entries(want)) t.equal(out[header], value, `site ${site} ${path}: ${header}`)
  }
  const legacy = applied(policy.select(0, '/legacy/a', true), { server: 'x', 'x-powered-by': 'y' })
  t.notOk('server' in legacy, 'override remove list applies')
  t.equal(legacy['x-powered-by'], 'y', 'override remove list replaces the inherited one')
  t.equal(applied(policy.select(0, '/legacy', true), { server: 'x' }).server, undefined, '/legacy/ does not match /legacy: base list removes Server')
  t.ok(policy.setCount > 2 && policy.setCount <= 20, `distinct sets precomputed (${policy.setCount})`)
  t.equal(policy.select(0, '/widget/x', true), policy.select(0, '/widget/y?z', true), 'same prefix, same precomputed object')
})

t.test('later overrides win at equal specificity', async (t) => {
  const { policy } = compile(`headers:
  overrides:
    - { pathPrefix: /a, referrerPolicy: no-referrer, xFrameOptions: DENY }
    - { pathPrefix: /a, referrerPolicy: same-origin }
`)
  const out = applied(policy.select(0, '/a', true), {})
  t.equal(out['referrer-policy'], 'same-origin')
  t.equal(out['x-frame-options'], 'DENY', 'fields the later entry does not name are inherited')
})

t.test('normalizePathForMatch', async (t) => {
  const cases: Array<[string, string]> = [
    ['/a/b', '/a/b'],
    ['/a//b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../../etc', '/etc'],
    ['/a/%2e%2e/b', '/b'],
    ['/a/%252e%252e/b', '/b'],
    ['/a\\b', '/a/b'],
    ['/a/b?x=/../c', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['/a/b/.', '/a/b/'],
    ['/%zz', '/%zz'],
  ]
  for (const [input, want] of cases) t.equal(normalizePathForMatch(input), want, input)
})

t.test('warnings: Expect-CT, CSP lint, HSTS preload, CSP reports', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['expectCt: "max-age=86400, enforce"', ['headers.expectCt: browsers ignore Expect-CT since 2022; it only adds bytes to every response']],
    ['expectCt: { value: "max-age=0", mode: default }', ['headers.expectCt.value: browsers ignore Expect-CT since 2022; it only adds bytes to every response']],
    ['contentSecurityPolicy: "default-src self; scirpt-src \'none\'"', [
      'headers.contentSecurityPolicy: \'self\' must be quoted ("\'self\'"); unquoted it names a host',
      'headers.contentSecurityPolicy: unknown CSP directive \'scirpt-src\'',
    ]],
    ['contentSecurityPolicy: "img-src *; img-src \'self\'"', ['headers.contentSecurityPolicy: directive \'img-src\' appears twice; browsers ignore the second']],
    ['contentSecurityPolicyReportOnly: "frame-ancestors \'none\'; report-uri /r"', ['headers.contentSecurityPolicyReportOnly: \'frame-ancestors\' is ignored in a report-only policy']],
    ['hsts: { preload: true, maxAge: 86400 }', ['headers.hsts: preload is refused by the browsers\' preload list unless max-age is at least 31536000 and includeSubDomains is on']],
    ['cspReports: { enabled: true }', ['headers.cspReports.enabled: no Content-Security-Policy asks for reports: add \'report-uri /.rampart/csp-report\' to one']],
    ['cspReports: { enabled: true }\n  contentSecurityPolicyReportOnly: "default-src \'self\'; report-uri /.rampart/csp-report"', []],
    ['{}', []],
  ]
  for (const [yaml, want] of cases) {
    const { warnings } = compile(`headers: ${yaml.startsWith('{') ? yaml : `\n  ${yaml}`}`)
    t.same(warnings.sort(), [...want].sort(), yaml)
  }
  const r = load('headers:\n  expectCt: "max-age=86400"')
  t.ok(r.ok)
  if (r.ok) {
    t.same(r.warnings.map(formatProblem), ['rampart.yaml:2 headers.expectCt: browsers ignore Expect-CT since 2022; it only adds bytes to every response (warning)'])
    t.equal(r.warnings[0]!.code, 'RAMPART_ERR_HEADERS_INEFFECTIVE')
  }
})

t.test('config errors: exact messages with file, line and path', async (t) => {
  const REFERRER_ALLOWED = 'no-referrer, no-referrer-when-downgrade, origin, origin-when-cross-origin, same-origin, strict-origin, strict-origin-when-cross-origin, unsafe-url'
  const cases: Array<[string, string | RegExp]> = [
    ['headers:\n  referrerPolicy: bogus', `rampart.yaml:2 headers.referrerPolicy: 'bogus' is not a Referrer-Policy token (allowed: ${REFERRER_ALLOWED})`],
    ['headers:\n  referrerPolicy: "no-referrer, strict-origin-when-cros-origin"', `rampart.yaml:2 headers.referrerPolicy: 'strict-origin-when-cros-origin' is not a Referrer-Policy token (allowed: ${REFERRER_ALLOWED})`],
    ['headers:\n  referrerPolicy: { value: never, mode: default }', `rampart.yaml:2 headers.referrerPolicy.value: 'never' is not a Referrer-Policy token (allowed: ${REFERRER_ALLOWED})`],
    ['headers:\n  xFrameOptions: ALLOWALL', "rampart.yaml:2 headers.xFrameOptions: must be DENY or SAMEORIGIN, not 'ALLOWALL'"],
    ['headers:\n  xFrameOptions: "ALLOW-FROM https://partner.test"', 'rampart.yaml:2 headers.xFrameOptions: ALLOW-FROM is ignored by current browsers; use frame-ancestors in contentSecurityPolicy instead'],
    ['headers:\n  xFrameOptions: true', 'rampart.yaml:2 headers.xFrameOptions: true is not a header value: write the value, or false to leave the header alone'],
    ['headers:\n  xFrameOptions: ""', 'rampart.yaml:2 headers.xFrameOptions: must not be empty (use false to leave the header alone)'],
    ['headers:\n  xFrameOption: DENY', /^rampart\.yaml:2 headers\.xFrameOption: unknown key 'xFrameOption'/],
    ['headers:\n  xFrameOptions: { value: DENY, mod: default }', /^rampart\.yaml:2 headers\.xFrameOptions\.mod: unknown key 'mod'/],
    ['headers:\n  xFrameOptions: { value: DENY, mode: sett }', 'rampart.yaml:2 headers.xFrameOptions.mode: must be one of: "set", "default", "remove", "off"'],
    ['headers:\n  xFrameOptions: 3', 'rampart.yaml:2 headers.xFrameOptions: must be a string or true or false or a mapping'],
    ['headers:\n  xContentTypeOptions: sniff', "rampart.yaml:2 headers.xContentTypeOptions: must be nosniff, not 'sniff'"],
    ['headers:\n  crossOriginOpenerPolicy: same-site', "rampart.yaml:2 headers.crossOriginOpenerPolicy: must be one of same-origin, same-origin-allow-popups, noopener-allow-popups, unsafe-none, not 'same-site'"],
    ['headers:\n  crossOriginResourcePolicy: none', "rampart.yaml:2 headers.crossOriginResourcePolicy: must be one of same-origin, same-site, cross-origin, not 'none'"],
    ['headers:\n  xXssProtection: 2', "rampart.yaml:2 headers.xXssProtection: must be 0, 1, '1; mode=block' or '1; report=<uri>', not '2'"],
    ['headers:\n  permissionsPolicy: "camera \'none\'"', "rampart.yaml:2 headers.permissionsPolicy: 'camera 'none'' is not a Permissions-Policy entry; write feature=(allowlist), e.g. camera=() or geolocation=(self)"],
    ['headers:\n  contentSecurityPolicy: "default-src \'self\', script-src \'self\'"', "rampart.yaml:2 headers.contentSecurityPolicy: contains ',' which starts a second policy; separate directives with ';'"],
    ['headers:\n  contentSecurityPolicy: "default-src \'self\'; \'self\'"', "rampart.yaml:2 headers.contentSecurityPolicy: ''self'' is not a CSP directive name"],
    ['headers:\n  contentSecurityPolicy: " ; "', 'rampart.yaml:2 headers.contentSecurityPolicy: has no directives'],
    ['headers:\n  contentSecurityPolicy: "default-src \'self\'\\u0007"', 'rampart.yaml:2 headers.contentSecurityPolicy: must contain only printable ASCII characters'],
    ['headers:\n  hsts: "includeSubDomains"', "rampart.yaml:2 headers.hsts: needs max-age, like 'max-age=63072000; includeSubDomains'"],
    ['headers:\n  hsts: "max-age=1; always"', "rampart.yaml:2 headers.hsts: must be like 'max-age=63072000; includeSubDomains', not 'max-age=1; always'"],
    ['headers:\n  hsts: { maxAge: -1 }', 'rampart.yaml:2 headers.hsts.maxAge: must be >= 0'],
    ['headers:\n  expectCt: "enforce"', "rampart.yaml:2 headers.expectCt: must be like 'max-age=86400, enforce', not 'enforce'"],
    ['headers:\n  expectCt: { mode: set }', 'rampart.yaml:2 headers.expectCt.value: needs a value: Expect-CT has no built-in one'],
    ['headers:\n  remove: [Server, Content-Length]', "rampart.yaml:2 headers.remove[1]: 'content-length' cannot be removed: clients need it to read the response"],
    ['headers:\n  remove: ["bad header"]', 'rampart.yaml:2 headers.remove[0]: must be an HTTP header name'],
    ['headers:\n  overrides:\n    - { xFrameOptions: DENY }', "rampart.yaml:3 headers.overrides[0]: an override needs 'site', 'pathPrefix' or both"],
    ['headers:\n  overrides:\n    - { site: nowhere.test, xFrameOptions: DENY }', "rampart.yaml:3 headers.overrides[0].site: no site is named 'nowhere.test' or lists it in hosts (sites: ballejaune, openresa)"],
    ['headers:\n  overrides:\n    - { pathPrefix: widget, xFrameOptions: DENY }', /^rampart\.yaml:3 headers\.overrides\[0\]\.pathPrefix: must match pattern/],
    ['headers:\n  overrides:\n    - { pathPrefix: /w, overrides: [] }', /^rampart\.yaml:3 headers\.overrides\[0\]\.overrides: unknown key 'overrides'/],
    ['headers:\n  overrides:\n    - { pathPrefix: /w, referrerPolicy: nope }', `rampart.yaml:3 headers.overrides[0].referrerPolicy: 'nope' is not a Referrer-Policy token (allowed: ${REFERRER_ALLOWED})`],
    ['headers:\n  cspReports: { path: report }', /^rampart\.yaml:2 headers\.cspReports\.path: must match pattern/],
    ['headers:\n  cspReports: { maxBodySize: lots }', 'rampart.yaml:2 headers.cspReports.maxBodySize: must be a size, like 512, 64kb or 1mb'],
  ]
  for (const [yaml, want] of cases) {
    const r = load(yaml)
    t.notOk(r.ok, `rejected: ${yaml}`)
    if (r.ok) continue
    const errors = r.problems.filter((p) => p.severity === 'error').map(formatProblem)
    t.equal(errors.length, 1, `one error for: ${yaml} (${errors.join(' | ')})`)
    if (typeof want === 'string') t.equal(errors[0], want)
    else t.match(errors[0], want)
  }
})

t.test('config: every problem is reported together', async (t) => {
  const r = load('headers:\n  referrerPolicy: bogus\n  xFrameOptions: ALLOWALL\n  xContentTypeOptions: sniff')
  t.notOk(r.ok)
  if (!r.ok) t.same(r.problems.map((p) => p.path), ['headers.referrerPolicy', 'headers.xFrameOptions', 'headers.xContentTypeOptions'])
})

t.test('compileHeaderPolicy throws one RampartError listing every error', async (t) => {
  const cfg = config('headers: {}')
  const bad = { ...cfg, referrerPolicy: 'bogus', xFrameOptions: 'ALLOWALL' } as HeadersConfig
  try {
    compileHeaderPolicy(bad, SITES)
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof RampartError)
    t.equal((err as RampartError).code, 'RAMPART_ERR_HEADERS_INVALID')
    t.match((err as RampartError).message, /headers\.referrerPolicy: 'bogus' is not a Referrer-Policy token/)
    t.match((err as RampartError).message, /headers\.xFrameOptions: must be DENY or SAMEORIGIN, not 'ALLOWALL'/)
  }
})

t.test('applyTo is idempotent and does not touch headers it does not manage', async (t) => {
  const { policy } = compile('headers: {}')
  const set = policy.select(0, '/', true)
  const once = applied(set, { etag: '"abc"', 'cache-control': 'no-store', server: 'x' })
  const twice = applied(set, once)
  t.same(twice, once)
  t.equal(once.etag, '"abc"')
  t.equal(once['cache-control'], 'no-store')
})

t.test('a 304 response gets the same policy', async (t) => {
  const { policy } = compile('headers: {}')
  const out = applied(policy.select(0, '/style.css', true), { etag: '"x"', server: 'Apache' })
  t.equal(out['x-content-type-options'], 'nosniff')
  t.notOk('server' in out)
})
