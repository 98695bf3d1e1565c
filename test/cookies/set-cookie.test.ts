import t from 'tap'
import fc from 'fast-check'
import {
  parseSetCookie, serializeSetCookie, getAttribute, scanSetCookie, CookieScan, ATTR, isValidCookieName, type SetCookie,
} from '../../src/cookies/set-cookie.js'

type Attr = [string, string | undefined]

t.test('parses real Set-Cookie lines', async (t) => {
  const cases: Array<{ line: string; name: string; value: string; attrs: Attr[] }> = [
    { line: 'PHPSESSID=9b0f3c2a1d; path=/', name: 'PHPSESSID', value: '9b0f3c2a1d', attrs: [['path', '/']] },
    {
      line: 'id=a3fWa; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly',
      name: 'id', value: 'a3fWa', attrs: [['Expires', 'Wed, 21 Oct 2026 07:28:00 GMT'], ['Secure', undefined], ['HttpOnly', undefined]],
    },
    { line: 'token="a b,c"; Path=/', name: 'token', value: '"a b,c"', attrs: [['Path', '/']] },
    { line: 'flash=; Max-Age=0', name: 'flash', value: '', attrs: [['Max-Age', '0']] },
    { line: 'b64=YWJj==; Path=/', name: 'b64', value: 'YWJj==', attrs: [['Path', '/']] },
    { line: '  lang  =  fr  ;  Path = /x  ;secure', name: 'lang', value: 'fr', attrs: [['Path', '/x'], ['secure', undefined]] },
    { line: 'a=1;;; ; Foo ;Bar=baz;', name: 'a', value: '1', attrs: [['Foo', undefined], ['Bar', 'baz']] },
    { line: 'cart[items]=3; path=/', name: 'cart[items]', value: '3', attrs: [['path', '/']] },
    { line: '.ASPXAUTH=8A3F; path=/; HttpOnly', name: '.ASPXAUTH', value: '8A3F', attrs: [['path', '/'], ['HttpOnly', undefined]] },
    { line: 'ASP.NET_SessionId=xkz2; path=/', name: 'ASP.NET_SessionId', value: 'xkz2', attrs: [['path', '/']] },
    { line: 'JSESSIONID=ABC;jsessionid=xyz; Path=/app', name: 'JSESSIONID', value: 'ABC', attrs: [['jsessionid', 'xyz'], ['Path', '/app']] },
    { line: 'a=1; Path=/a; Path=/b', name: 'a', value: '1', attrs: [['Path', '/a'], ['Path', '/b']] },
    { line: 'tab=\tv\t; Partitioned; Priority=High', name: 'tab', value: 'v', attrs: [['Partitioned', undefined], ['Priority', 'High']] },
    { line: 'latin=caf\u00e9', name: 'latin', value: 'caf\u00e9', attrs: [] },
    { line: `big=1; Path=/${'p'.repeat(1100)}; Secure`, name: 'big', value: '1', attrs: [['Secure', undefined]] },
    { line: 'x=1; =junk; Secure', name: 'x', value: '1', attrs: [['Secure', undefined]] },
  ]
  for (const c of cases) {
    const r = parseSetCookie(c.line)
    t.ok(r.ok, c.line)
    if (!r.ok) continue
    t.equal(r.cookie.name, c.name, `${c.line}: name`)
    t.equal(r.cookie.value, c.value, `${c.line}: value`)
    t.same(r.cookie.attributes.map((a) => [a.name, a.value]), c.attrs, `${c.line}: attributes`)
  }
})

t.test('rejects lines browsers ignore or that would break the header', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['a=b\r\nSet-Cookie: evil=1', 'a', 'control character'],
    ['a=b; Path=/\n', 'a', 'control character'],
    ['a=b\u0000c', 'a', 'control character'],
    ['a=b; Domain=x\u007f', 'a', 'control character'],
    ['sess\u0001ion=1', 'sess?ion', 'control character'],
    ['novalue', '', 'missing name'],
    ['=nameless', '', 'missing name'],
    ['  =x', '', 'missing name'],
    ['; Secure', '', 'missing name'],
    ['', '', 'missing name'],
    ['bad name=1', 'bad?name', 'invalid character in name'],
    ['(x)=1', '(x)', 'invalid character in name'],
    ['a"b=1', 'a"b', 'invalid character in name'],
    ['a,b=1', 'a,b', 'invalid character in name'],
    ['caf\u00e9=1', 'caf?', 'invalid character in name'],
    [`long=${'x'.repeat(4100)}`, 'long', 'name and value longer than 4096 characters'],
    ['a=\u2603', 'a', 'character outside Latin-1'],
  ]
  for (const [line, name, reason] of cases) {
    const r = parseSetCookie(line)
    t.same(r, { ok: false, name, reason }, JSON.stringify(line))
  }
})

t.test('getAttribute: case-insensitive, last one wins', async (t) => {
  const r = parseSetCookie('a=1; SameSite=None; samesite=Strict; secure')
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(getAttribute(r.cookie, 'SameSite'), 'Strict')
  t.equal(getAttribute(r.cookie, 'Secure'), true)
  t.equal(getAttribute(r.cookie, 'Domain'), undefined)
})

t.test('scanner: attribute kinds and growth past the initial capacity', async (t) => {
  const scan = new CookieScan(2)
  const line = 'a=1; Secure; HTTPONLY; SameSite=Lax; Domain=x.test; Path=/; Expires=x; Max-Age=1; Partitioned; Priority=Low; Other'
  t.ok(scanSetCookie(line, scan))
  t.same(Array.from(scan.kinds.subarray(0, scan.count)), [
    ATTR.SECURE, ATTR.HTTPONLY, ATTR.SAMESITE, ATTR.DOMAIN, ATTR.PATH, ATTR.EXPIRES, ATTR.MAX_AGE, ATTR.PARTITIONED,
    ATTR.PRIORITY, ATTR.OTHER,
  ])
  t.ok(scanSetCookie('b=2', scan), 'reusable')
  t.equal(scan.count, 0)
})

t.test('serialize', async (t) => {
  const cookie: SetCookie = { name: 'a', value: '"x y"', attributes: [{ name: 'Path', value: '/' }, { name: 'Secure', value: undefined }] }
  t.equal(serializeSetCookie(cookie), 'a="x y"; Path=/; Secure')
  const bad: Array<[SetCookie, string]> = [
    [{ name: 'a b', value: '1', attributes: [] }, 'invalid cookie name'],
    [{ name: 'a', value: '1\r\n', attributes: [] }, 'invalid value for cookie a'],
    [{ name: 'a', value: '1;x', attributes: [] }, 'invalid value for cookie a'],
    [{ name: 'a', value: '1', attributes: [{ name: 'Path', value: '/\n' }] }, 'invalid attribute on cookie a'],
    [{ name: 'a', value: '1', attributes: [{ name: '', value: 'x' }] }, 'invalid attribute on cookie a'],
  ]
  for (const [c, msg] of bad) t.throws(() => serializeSetCookie(c), { name: 'TypeError', message: msg })
})

t.test('isValidCookieName', async (t) => {
  for (const n of ['PHPSESSID', 'a', 'cart[1]', '__Host-x', 'x.y_z-1']) t.ok(isValidCookieName(n), n)
  for (const n of ['', 'a b', 'a=b', 'a;b', 'a\u00e9', 'a/b']) t.notOk(isValidCookieName(n), n)
})

t.test('property: serialize then parse gives the cookie back', async (t) => {
  const tchar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ[]'.split(''))
  const name = fc.string({ unit: tchar, minLength: 1, maxLength: 20 })
  const octet = fc.constantFrom(...'abcXYZ019!#$%&\'()*+-./:<=>?@[]^_`{|}~ ",\\'.split(''))
  const value = fc.string({ unit: octet, maxLength: 30 }).map((v) => v.trim())
  const attrName = fc.constantFrom('Path', 'Domain', 'Expires', 'Max-Age', 'SameSite', 'Secure', 'HttpOnly', 'Priority', 'X-Custom')
  const attrValue = fc.option(fc.string({ unit: fc.constantFrom(...'abc/.-_ ,:019'.split('')), maxLength: 20 }).map((v) => v.trim()), { nil: undefined })
  const attribute = fc.record({ name: attrName, value: attrValue })
  fc.assert(fc.property(name, value, fc.array(attribute, { maxLength: 6 }), (n, v, attrs) => {
    const cookie: SetCookie = { name: n, value: v, attributes: attrs }
    const r = parseSetCookie(serializeSetCookie(cookie))
    return r.ok && r.cookie.name === n && r.cookie.value === v &&
      JSON.stringify(r.cookie.attributes.map((a) => [a.name, a.value])) === JSON.stringify(attrs.map((a) => [a.name, a.value]))
  }), { numRuns: 500 })
  t.pass('500 random cases')
})
