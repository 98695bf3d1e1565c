import t from 'tap'
import fc from 'fast-check'
import { compileCookieRewriter, type CookieSite } from '../../src/cookies/rewrite.js'
import { parseSetCookie, getAttribute } from '../../src/cookies/set-cookie.js'
import type { CookiesConfig } from '../../src/config/sections/cookies.js'
import { RampartError } from '../../src/errors.js'

const BALLEJAUNE: CookieSite = { name: 'ballejaune', hosts: ['ballejaune.test', '*.ballejaune.test'] }
const OPENRESA: CookieSite = { name: 'openresa', hosts: ['openresa.test', 'www.openresa.test'] }
const HOST = 'club1.ballejaune.test'

/** The validated defaults of the `cookies` section. */
const DEFAULTS: CookiesConfig = {
  enabled: true, secure: true, httpOnly: true, sameSite: 'Lax', domain: 'keep-if-inside', except: {}, onError: 'closed',
}

const FLAGS = '; Secure; HttpOnly; SameSite=Lax'

interface Case {
  name: string
  cfg?: Partial<CookiesConfig>
  site?: CookieSite
  host?: string
  input: string | string[]
  want: string[]
  dropped?: Array<{ name: string; reason: string }>
}

const CASES: Case[] = [
  // PHP
  { name: 'PHP session', input: 'PHPSESSID=5f0c9a1b2c3d4e5f6a7b8c9d0e; path=/', want: [`PHPSESSID=5f0c9a1b2c3d4e5f6a7b8c9d0e; path=/${FLAGS}`] },
  {
    name: 'PHP session_destroy deletion cookie',
    input: 'PHPSESSID=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT; Max-Age=0; path=/',
    want: [`PHPSESSID=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT; Max-Age=0; path=/${FLAGS}`],
  },
  {
    name: 'PHP session shared across club subdomains',
    input: 'PHPSESSID=abc; path=/; domain=.ballejaune.test; HttpOnly',
    want: ['PHPSESSID=abc; path=/; domain=.ballejaune.test; HttpOnly; Secure; SameSite=Lax'],
  },
  { name: 'PHP array cookie', input: 'cart[items]=3; path=/', want: [`cart[items]=3; path=/${FLAGS}`] },
  {
    name: 'PHP 7.3+ already hardened, stricter SameSite kept, line untouched',
    input: 'PHPSESSID=abc; path=/; secure; HttpOnly; SameSite=Strict',
    want: ['PHPSESSID=abc; path=/; secure; HttpOnly; SameSite=Strict'],
  },
  {
    name: 'PHP setcookie with Expires, Max-Age and the host as Domain',
    input: 'remember=1; expires=Sat, 04-Apr-2026 10:00:00 GMT; Max-Age=2592000; path=/; domain=club1.ballejaune.test',
    want: [`remember=1; expires=Sat, 04-Apr-2026 10:00:00 GMT; Max-Age=2592000; path=/; domain=club1.ballejaune.test${FLAGS}`],
  },
  // ASP.NET
  {
    name: 'ASP.NET session',
    input: 'ASP.NET_SessionId=xkz2b4550qbsnq45ik3afp55; path=/; HttpOnly; SameSite=Lax',
    want: ['ASP.NET_SessionId=xkz2b4550qbsnq45ik3afp55; path=/; HttpOnly; SameSite=Lax; Secure'],
  },
  {
    name: 'ASP.NET forms auth',
    input: '.ASPXAUTH=8A3F0C1D; expires=Mon, 11-May-2026 12:00:00 GMT; path=/; HttpOnly',
    want: ['.ASPXAUTH=8A3F0C1D; expires=Mon, 11-May-2026 12:00:00 GMT; path=/; HttpOnly; Secure; SameSite=Lax'],
  },
  {
    name: 'ASP.NET anti-forgery token',
    input: '__RequestVerificationToken=Cf-abc_1; path=/; HttpOnly',
    want: ['__RequestVerificationToken=Cf-abc_1; path=/; HttpOnly; Secure; SameSite=Lax'],
  },
  {
    name: 'ASP.NET Core, lower-case attribute names',
    input: '.AspNetCore.Cookies=CfDJ8; path=/; samesite=lax; httponly',
    want: ['.AspNetCore.Cookies=CfDJ8; path=/; samesite=lax; httponly; Secure'],
  },
  {
    name: 'Azure ARR affinity with SameSite=None is raised to the floor',
    input: 'ARRAffinity=abc; Path=/; HttpOnly; SameSite=None; Domain=club1.ballejaune.test',
    want: ['ARRAffinity=abc; Path=/; HttpOnly; Domain=club1.ballejaune.test; Secure; SameSite=Lax'],
  },
  // Java
  { name: 'Tomcat session under a context path', input: 'JSESSIONID=7A1B2C3D4E5F; Path=/shop; HttpOnly', want: ['JSESSIONID=7A1B2C3D4E5F; Path=/shop; HttpOnly; Secure; SameSite=Lax'] },
  {
    name: 'Tomcat context path rewritten like proxy_cookie_path',
    cfg: { path: { rewrite: [{ from: '/shop', to: '/' }] } },
    input: 'JSESSIONID=7A1B; Path=/shop; HttpOnly',
    want: ['JSESSIONID=7A1B; HttpOnly; Path=/; Secure; SameSite=Lax'],
  },
  {
    name: 'path rewrite keeps the rest of the path',
    cfg: { path: { rewrite: [{ from: '/shop', to: '/store' }] } },
    input: 'JSESSIONID=7A1B; Path=/shop/cart/; HttpOnly',
    want: ['JSESSIONID=7A1B; HttpOnly; Path=/store/cart/; Secure; SameSite=Lax'],
  },
  {
    name: 'path rewrite to / from a trailing-slash path',
    cfg: { path: { rewrite: [{ from: '/shop', to: '/' }] } },
    input: 'JSESSIONID=7A1B; Path=/shop/',
    want: [`JSESSIONID=7A1B; Path=/${FLAGS}`],
  },
  {
    name: 'path rewrite respects segment boundaries',
    cfg: { path: { rewrite: [{ from: '/shop', to: '/' }] } },
    input: 'JSESSIONID=7A1B; Path=/shopping',
    want: [`JSESSIONID=7A1B; Path=/shopping${FLAGS}`],
  },
  {
    name: 'jsessionid path parameter after the pair is an unknown attribute, kept',
    input: 'JSESSIONID=abc;jsessionid=xyz; Path=/app',
    want: [`JSESSIONID=abc; jsessionid=xyz; Path=/app${FLAGS}`],
  },
  {
    name: 'path set to /',
    cfg: { path: '/' },
    input: 'JSESSIONID=abc; Path=/app/; HttpOnly',
    want: ['JSESSIONID=abc; HttpOnly; Path=/; Secure; SameSite=Lax'],
  },
  { name: 'path set adds a missing Path', cfg: { path: { set: '/' } }, input: 'JSESSIONID=abc', want: [`JSESSIONID=abc; Path=/${FLAGS}`] },
  // Rails, Express
  {
    name: 'Rails session',
    input: '_app_session=VGhpcyBpcyBh--0123abcd; path=/; HttpOnly; SameSite=Lax',
    want: ['_app_session=VGhpcyBpcyBh--0123abcd; path=/; HttpOnly; SameSite=Lax; Secure'],
  },
  {
    name: 'Rails session already hardened',
    input: '_app_session=x%3D%3D--abc; path=/; secure; HttpOnly; SameSite=Lax',
    want: ['_app_session=x%3D%3D--abc; path=/; secure; HttpOnly; SameSite=Lax'],
  },
  { name: 'Express session', input: 'connect.sid=s%3Aabc.def; Path=/; HttpOnly', want: ['connect.sid=s%3Aabc.def; Path=/; HttpOnly; Secure; SameSite=Lax'] },
  {
    name: 'Express session already hardened with Expires',
    input: 'connect.sid=s%3Aabc; Path=/; Expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict',
    want: ['connect.sid=s%3Aabc; Path=/; Expires=Thu, 01 Jan 2026 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict'],
  },
  // WordPress
  {
    name: 'WordPress logged-in cookie',
    input: 'wordpress_logged_in_5c016e8f0f95f039102cbe8366c5c7f3=admin%7C1700000000%7Ctok%7Chash; path=/; HttpOnly',
    want: ['wordpress_logged_in_5c016e8f0f95f039102cbe8366c5c7f3=admin%7C1700000000%7Ctok%7Chash; path=/; HttpOnly; Secure; SameSite=Lax'],
  },
  { name: 'WordPress test cookie', input: 'wordpress_test_cookie=WP+Cookie+check; path=/', want: [`wordpress_test_cookie=WP+Cookie+check; path=/${FLAGS}`] },
  {
    name: 'WordPress secure auth cookie on a plugin path',
    input: 'wordpress_sec_5c016e=admin%7C1%7Ct%7Ch; path=/wp-content/plugins; secure; HttpOnly',
    want: ['wordpress_sec_5c016e=admin%7C1%7Ct%7Ch; path=/wp-content/plugins; secure; HttpOnly; SameSite=Lax'],
  },
  {
    name: 'glob exception raises WordPress auth cookies to Strict',
    cfg: { except: [{ match: 'wordpress_logged_in_*', sameSite: 'Strict' }] },
    input: ['wordpress_logged_in_5c01=a; path=/', 'wordpress_test_cookie=1; path=/'],
    want: ['wordpress_logged_in_5c01=a; path=/; Secure; HttpOnly; SameSite=Strict', `wordpress_test_cookie=1; path=/${FLAGS}`],
  },
  {
    name: 'regex exception',
    cfg: { except: [{ match: '/^WP_/i', httpOnly: false }] },
    input: ['wp_pref=1', 'other=1'],
    want: ['wp_pref=1; Secure; SameSite=Lax', `other=1${FLAGS}`],
  },
  // Laravel / XSRF
  {
    name: 'XSRF-TOKEN exception: no HttpOnly, still Secure',
    cfg: { except: { 'XSRF-TOKEN': { httpOnly: false } } },
    input: 'XSRF-TOKEN=eyJpdiI6IjEifQ%3D%3D; expires=Sat, 04-Apr-2026 12:00:00 GMT; Max-Age=7200; path=/; samesite=lax',
    want: ['XSRF-TOKEN=eyJpdiI6IjEifQ%3D%3D; expires=Sat, 04-Apr-2026 12:00:00 GMT; Max-Age=7200; path=/; samesite=lax; Secure'],
  },
  {
    name: 'several cookies per response, order kept (Laravel)',
    cfg: { except: { 'XSRF-TOKEN': { httpOnly: false } } },
    input: ['XSRF-TOKEN=tok; path=/', 'laravel_session=sess; path=/; httponly', 'XSRF-TOKEN=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; path=/'],
    want: [
      'XSRF-TOKEN=tok; path=/; Secure; SameSite=Lax',
      'laravel_session=sess; path=/; httponly; Secure; SameSite=Lax',
      'XSRF-TOKEN=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; path=/; Secure; SameSite=Lax',
    ],
  },
  {
    name: 'exact exception does not match a longer name',
    cfg: { except: { 'XSRF-TOKEN': { httpOnly: false } } },
    input: 'XSRF-TOKEN2=x',
    want: [`XSRF-TOKEN2=x${FLAGS}`],
  },
  // Values, spacing, duplicates
  { name: 'quoted value kept', input: 'token="a b,c"; Path=/', want: [`token="a b,c"; Path=/${FLAGS}`] },
  { name: 'empty value', input: 'flash=; Path=/; Max-Age=0', want: [`flash=; Path=/; Max-Age=0${FLAGS}`] },
  { name: 'Max-Age', input: 'remember_me=1; Max-Age=31536000; Path=/', want: [`remember_me=1; Max-Age=31536000; Path=/${FLAGS}`] },
  { name: 'Priority kept', input: 'SID=abc; Priority=High; Path=/', want: [`SID=abc; Priority=High; Path=/${FLAGS}`] },
  {
    name: 'duplicate SameSite canonicalized to the effective (last) one',
    input: 'a=1; SameSite=None; SameSite=Strict',
    want: ['a=1; Secure; HttpOnly; SameSite=Strict'],
  },
  { name: 'duplicate Path replaced by the set one', cfg: { path: '/' }, input: 'a=1; Path=/x; Path=/y', want: [`a=1; Path=/${FLAGS}`] },
  { name: 'duplicate Domain, last outside: all removed', input: 'a=1; Domain=ballejaune.test; Domain=evil.test', want: [`a=1${FLAGS}`] },
  { name: 'duplicate Domain, last inside: kept once', input: 'a=1; Domain=evil.test; Domain=.ballejaune.test', want: [`a=1; Domain=.ballejaune.test${FLAGS}`] },
  {
    name: 'odd spacing on a compliant line: returned as is',
    input: '  lang =  fr ;  Path = / ;secure;HTTPONLY;  samesite = strict  ',
    want: ['  lang =  fr ;  Path = / ;secure;HTTPONLY;  samesite = strict  '],
  },
  { name: 'odd spacing on a line that changes: normalized', input: 'lang = fr ;Path=/;;', want: [`lang=fr; Path=/${FLAGS}`] },
  { name: 'Secure with a value still counts', input: 'a=1; Secure=yes; HttpOnly; SameSite=Lax', want: ['a=1; Secure=yes; HttpOnly; SameSite=Lax'] },
  { name: 'invalid SameSite value is replaced', input: 'a=1; SameSite=Foo', want: [`a=1${FLAGS}`] },
  { name: 'oversized attribute is dropped when the line is rebuilt', input: `a=1; X=${'v'.repeat(1100)}`, want: [`a=1${FLAGS}`] },
  // Partitioned, prefixes
  {
    name: 'CHIPS cookie with a SameSite=None exception',
    cfg: { except: { '__Host-embed': { sameSite: 'None' } } },
    input: '__Host-embed=1; Path=/; Secure; Partitioned; SameSite=None',
    want: ['__Host-embed=1; Path=/; Secure; Partitioned; SameSite=None; HttpOnly'],
  },
  { name: 'Partitioned gets Secure even with secure: false', cfg: { secure: false }, input: 'p=1; Partitioned; HttpOnly; SameSite=Lax', want: ['p=1; Partitioned; HttpOnly; SameSite=Lax; Secure'] },
  { name: 'secure: false leaves Secure off otherwise', cfg: { secure: false }, input: 'p=1', want: ['p=1; HttpOnly; SameSite=Lax'] },
  { name: '__Secure- gets Secure even with secure: false', cfg: { secure: false }, input: '__Secure-id=1; Path=/', want: ['__Secure-id=1; Path=/; Secure; HttpOnly; SameSite=Lax'] },
  { name: '__Host- loses Domain and gets Path=/', input: '__Host-sid=1; Domain=ballejaune.test; Path=/app', want: [`__Host-sid=1; Path=/${FLAGS}`] },
  { name: '__Host- prefix is case-insensitive', input: '__HOST-sid=1', want: [`__HOST-sid=1; Path=/${FLAGS}`] },
  { name: '__Host- ignores a fixed domain', cfg: { domain: 'ballejaune.test' }, input: '__Host-x=1; Path=/', want: [`__Host-x=1; Path=/${FLAGS}`] },
  // Domain policy
  { name: 'Domain outside the site removed', input: 'tracking=1; Domain=evil.test', want: [`tracking=1${FLAGS}`] },
  { name: 'Domain of another site removed', input: 'a=1; Domain=openresa.test', want: [`a=1${FLAGS}`] },
  { name: 'Domain of a sibling host removed', input: 'a=1; Domain=club2.ballejaune.test', want: [`a=1${FLAGS}`] },
  { name: 'Domain = top-level domain removed', input: 'a=1; Domain=test', want: [`a=1${FLAGS}`] },
  { name: 'empty Domain removed', input: 'a=1; Domain=', want: [`a=1${FLAGS}`] },
  { name: 'Domain suffix trick (evilballejaune.test) removed', host: 'club1.ballejaune.test', input: 'a=1; Domain=llejaune.test', want: [`a=1${FLAGS}`] },
  { name: 'request host with port and capitals', host: 'Club1.BalleJaune.TEST:8443', input: 'a=1; Domain=.ballejaune.test', want: [`a=1; Domain=.ballejaune.test${FLAGS}`] },
  { name: 'host parent is inside for an exact host', site: OPENRESA, host: 'www.openresa.test', input: 'a=1; Domain=openresa.test', want: [`a=1; Domain=openresa.test${FLAGS}`] },
  { name: 'IP host never domain-matches a suffix', host: '10.0.0.1', input: 'a=1; Domain=0.0.1', want: [`a=1${FLAGS}`] },
  { name: 'domain drop', cfg: { domain: 'drop' }, input: 'a=1; Domain=.ballejaune.test; Path=/', want: [`a=1; Path=/${FLAGS}`] },
  { name: 'fixed domain added', cfg: { domain: 'ballejaune.test' }, input: 'a=1; Path=/', want: [`a=1; Path=/; Domain=ballejaune.test${FLAGS}`] },
  { name: 'fixed domain already present (leading dot) kept', cfg: { domain: 'ballejaune.test' }, input: `a=1; Domain=.BalleJaune.test${FLAGS}`, want: [`a=1; Domain=.BalleJaune.test${FLAGS}`] },
  { name: 'fixed domain replaces the upstream one', cfg: { domain: 'ballejaune.test' }, input: 'a=1; Domain=legacy.internal', want: [`a=1; Domain=ballejaune.test${FLAGS}`] },
  { name: 'fixed domain, request host outside it: host-only', cfg: { domain: 'ballejaune.test' }, host: 'localhost', input: 'a=1; Domain=ballejaune.test', want: [`a=1${FLAGS}`] },
  { name: 'per-cookie domain exception', cfg: { domain: 'ballejaune.test', except: { local: { domain: 'drop' } } }, input: ['local=1', 'shared=1'], want: [`local=1${FLAGS}`, `shared=1; Domain=ballejaune.test${FLAGS}`] },
  // SameSite policy
  { name: 'sameSite off keeps None, adds Secure', cfg: { sameSite: 'off' }, input: 'a=1; SameSite=None; HttpOnly', want: ['a=1; SameSite=None; HttpOnly; Secure'] },
  { name: 'sameSite off adds nothing when absent', cfg: { sameSite: 'off' }, input: 'a=1', want: ['a=1; Secure; HttpOnly'] },
  { name: 'sameSite Strict raises Lax', cfg: { sameSite: 'Strict' }, input: 'a=1; SameSite=Lax', want: ['a=1; Secure; HttpOnly; SameSite=Strict'] },
  { name: 'sameSite None floor adds None with Secure', cfg: { sameSite: 'None', secure: false }, input: 'a=1', want: ['a=1; Secure; HttpOnly; SameSite=None'] },
  { name: 'sameSite None floor keeps a stricter Lax', cfg: { sameSite: 'None' }, input: 'a=1; SameSite=Lax', want: ['a=1; SameSite=Lax; Secure; HttpOnly'] },
  // Off, invalid
  { name: 'enabled: false passes lines unchanged', cfg: { enabled: false }, input: ['a=1; Domain=evil.test', 'b=2'], want: ['a=1; Domain=evil.test', 'b=2'] },
  {
    name: 'enabled: false still drops invalid lines',
    cfg: { enabled: false },
    input: ['ok=1', 'a=b\r\nSet-Cookie: x=1'],
    want: ['ok=1'],
    dropped: [{ name: 'a', reason: 'control character' }],
  },
  {
    name: 'invalid lines dropped by name only, valid ones kept in order',
    input: ['bad name=secret', 'ok=1', '=nameless', 'novalue', 'a=b\u0000', '(x)=1', `long=${'x'.repeat(5000)}`, 'last=2'],
    want: [`ok=1${FLAGS}`, `last=2${FLAGS}`],
    dropped: [
      { name: 'bad?name', reason: 'invalid character in name' },
      { name: '', reason: 'missing name' },
      { name: '', reason: 'missing name' },
      { name: 'a', reason: 'control character' },
      { name: '(x)', reason: 'invalid character in name' },
      { name: 'long', reason: 'name and value longer than 4096 characters' },
    ],
  },
]

t.test('real-stack Set-Cookie table', async (t) => {
  t.ok(CASES.length >= 40, `${CASES.length} cases`)
  for (const c of CASES) {
    const rw = compileCookieRewriter({ ...DEFAULTS, ...c.cfg }, c.site ?? BALLEJAUNE)
    const r = rw.rewrite(c.input, c.host ?? HOST)
    t.same(r.values, c.want, c.name)
    t.same(r.dropped, c.dropped ?? [], `${c.name}: dropped`)
    // Every output line is itself a fixed point: rewriting it again changes nothing.
    t.same(rw.rewrite(r.values, c.host ?? HOST).values, r.values, `${c.name}: idempotent`)
  }
})

t.test('site overrides replace top-level fields; site exceptions come first', async (t) => {
  const cfg: CookiesConfig = { ...DEFAULTS, except: { 'XSRF-TOKEN': { httpOnly: false } } }
  const site: CookieSite = {
    ...BALLEJAUNE,
    cookies: { sameSite: 'Strict', domain: 'ballejaune.test', except: { 'XSRF-TOKEN': { sameSite: 'Lax' } } },
  }
  const rw = compileCookieRewriter(cfg, site)
  t.same(rw.rewrite(['s=1', 'XSRF-TOKEN=t'], HOST).values, [
    's=1; Domain=ballejaune.test; Secure; HttpOnly; SameSite=Strict',
    'XSRF-TOKEN=t; Domain=ballejaune.test; Secure; HttpOnly; SameSite=Lax',
  ], 'the site rule wins over the top-level one for the same name')
  const plain = compileCookieRewriter(cfg, OPENRESA)
  t.same(plain.rewrite('s=1', 'openresa.test').values, [`s=1${FLAGS}`], 'other sites keep the top-level settings')
})

t.test('defaults come from the schema when a field is missing', async (t) => {
  const rw = compileCookieRewriter({}, BALLEJAUNE)
  t.same(rw.rewrite('a=1; Domain=evil.test', HOST).values, [`a=1${FLAGS}`])
})

t.test('a single string input and an empty array', async (t) => {
  const rw = compileCookieRewriter(DEFAULTS, BALLEJAUNE)
  t.same(rw.rewrite('a=1', HOST), { values: [`a=1${FLAGS}`], dropped: [] })
  const empty = rw.rewrite([], HOST)
  t.same(empty, { values: [], dropped: [] })
  t.ok(Object.isFrozen(empty.dropped), 'the shared empty dropped list cannot be modified')
})

t.test('never throws: non-strings and failing reads follow onError', async (t) => {
  const throwing = ['ok=1', 'x=1']
  Object.defineProperty(throwing, 1, { get() { throw new Error('boom') } })
  for (const onError of ['closed', 'open'] as const) {
    const rw = compileCookieRewriter({ ...DEFAULTS, onError }, BALLEJAUNE)
    const r = rw.rewrite(throwing, HOST)
    t.same(r.values, [`ok=1${FLAGS}`], `${onError}: good lines kept`)
    t.same(r.dropped, [{ name: '', reason: `rewrite failed (onError: ${onError})` }], `${onError}: the failed line reported`)
    const odd = rw.rewrite([1, null, 'a=1'] as unknown as string[], 42 as unknown as string)
    t.same(odd.values, [`a=1${FLAGS}`])
    t.same(odd.dropped, [{ name: '', reason: 'not a string' }, { name: '', reason: 'not a string' }])
  }
})

t.test('bad config passed without validation throws a RampartError', async (t) => {
  const bad: Array<[Partial<CookiesConfig>, RegExp]> = [
    [{ domain: 'openresa.test' }, /domain 'openresa\.test' covers none of the hosts of site 'ballejaune'/],
    [{ domain: 'not a domain' }, /'not a domain' must be drop, keep-if-inside or a domain name like club\.example/],
    [{ except: [{ match: '/(/' }] }, /'\/\(\/' is not a valid regular expression/],
    [{ path: { set: '/', rewrite: [{ from: '/a', to: '/' }] } }, /give either set or rewrite, not both/],
  ]
  for (const [cfg, msg] of bad) {
    try {
      compileCookieRewriter({ ...DEFAULTS, ...cfg }, BALLEJAUNE)
      t.fail(`should throw: ${JSON.stringify(cfg)}`)
    } catch (err) {
      t.ok(err instanceof RampartError && err.code === 'RAMPART_ERR_CONFIG_INVALID', 'RampartError with RAMPART_ERR_CONFIG_INVALID')
      t.match((err as Error).message, msg)
    }
  }
})

t.test('property: random cookie lines', async (t) => {
  const cfg: CookiesConfig = { ...DEFAULTS, except: { 'XSRF-TOKEN': { httpOnly: false } } }
  const rw = compileCookieRewriter(cfg, BALLEJAUNE)
  const anyChar = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...'abcXYZ019_-.=;, "\t[]()/\\'.split('')) },
    { weight: 1, arbitrary: fc.constantFrom('\r', '\n', '\u0000', '\u007f', '\u00e9', '\u2603') },
  )
  const name = fc.oneof(fc.constantFrom('PHPSESSID', 'XSRF-TOKEN', '__Host-id', '__Secure-id', '__host-x', 'a', 'cart[1]'), fc.string({ unit: anyChar, maxLength: 10 }))
  const value = fc.string({ unit: anyChar, maxLength: 20 })
  const case_ = (s: string) => fc.constantFrom(s, s.toLowerCase(), s.toUpperCase())
  const attribute = fc.oneof(
    case_('Secure'), case_('HttpOnly'), case_('Partitioned'),
    fc.tuple(case_('SameSite'), fc.constantFrom('Strict', 'lax', 'NONE', 'bogus', '')).map(([k, v]) => `${k}=${v}`),
    fc.tuple(case_('Domain'), fc.constantFrom('ballejaune.test', '.ballejaune.test', 'club1.ballejaune.test', 'evil.test', 'test', '', 'CLUB1.BalleJaune.test')).map(([k, v]) => `${k}=${v}`),
    fc.tuple(case_('Path'), fc.constantFrom('/', '/app', '/a/b', '', 'x')).map(([k, v]) => `${k}=${v}`),
    fc.constantFrom('Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'Max-Age=0', 'Priority=High', 'Foo', '=x', ''),
    fc.string({ unit: anyChar, maxLength: 12 }),
  )
  const spacing = fc.constantFrom('; ', ';', ' ; ', ';\t')
  const line = fc.tuple(name, value, fc.array(fc.tuple(spacing, attribute), { maxLength: 8 }))
    .map(([n, v, attrs]) => `${n}=${v}${attrs.map(([s, a]) => s + a).join('')}`)
  const lines = fc.array(fc.oneof({ weight: 4, arbitrary: line }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }), { maxLength: 5 })
  const host = fc.constantFrom('club1.ballejaune.test', 'ballejaune.test', 'Club1.BalleJaune.test:8443', 'openresa.test', '', '[::1]:8443')

  fc.assert(fc.property(lines, host, (input, h) => {
    const r = rw.rewrite(input, h)
    if (r.values.length + r.dropped.length !== input.length) return false
    for (const out of r.values) {
      if (/[\r\n\u0000]/.test(out)) return false
      const p = parseSetCookie(out)
      if (!p.ok) return false
      if (getAttribute(p.cookie, 'Secure') === undefined) return false
      if (p.cookie.name !== 'XSRF-TOKEN' && getAttribute(p.cookie, 'HttpOnly') === undefined) return false
      const ss = getAttribute(p.cookie, 'SameSite')
      if (typeof ss !== 'string' || !['lax', 'strict'].includes(ss.toLowerCase())) return false
      const domain = getAttribute(p.cookie, 'Domain')
      if (domain !== undefined) {
        const d = String(domain).toLowerCase().replace(/^\./, '')
        if (!(d === 'ballejaune.test' || d.endsWith('.ballejaune.test'))) return false
      }
      if (/^__host-/i.test(p.cookie.name) && (domain !== undefined || getAttribute(p.cookie, 'Path') !== '/')) return false
      if (rw.rewrite(out, h).values[0] !== out) return false
    }
    for (const d of r.dropped) if (/[\r\n]/.test(d.name)) return false
    return true
  }), { numRuns: 2000 })
  t.pass('2000 random responses: every line parses, is Secure, HttpOnly unless excepted, SameSite Lax or stricter, Domain inside the site, a fixed point')
})
