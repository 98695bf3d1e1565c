/** Body field extraction for form, JSON and multipart bodies. Pure; tables with malformed and truncated inputs. */
import t from 'tap'
import { compileFieldSpec, extractFields, bodyKind, boundaryOf, normalizeIdentifier, MAX_VALUES_PER_FIELD } from '../../src/body/fields.js'

const spec = compileFieldSpec(['email', 'user.email', 'username', 'user[email]'])
const get = (body: string | Buffer, contentType: string | undefined, truncated = false) =>
  Object.fromEntries(extractFields(spec, Buffer.isBuffer(body) ? body : Buffer.from(body), contentType, { truncated }))

const FORM = 'application/x-www-form-urlencoded'
const JSON_T = 'application/json; charset=utf-8'

function multipart(boundary: string, parts: Array<{ name: string; value: string; filename?: string; type?: string }>, close = true): string {
  let out = 'preamble ignored\r\n'
  for (const p of parts) {
    out += `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}\r\n`
    if (p.type) out += `Content-Type: ${p.type}\r\n`
    out += `\r\n${p.value}\r\n`
  }
  return close ? `${out}--${boundary}--\r\nepilogue` : out
}

t.test('content types', async (t) => {
  const table: Array<[string | undefined, string | undefined]> = [
    ['application/x-www-form-urlencoded', 'form'],
    ['Application/X-WWW-Form-Urlencoded; charset=UTF-8', 'form'],
    ['application/json', 'json'],
    ['application/vnd.api+json', 'json'],
    ['multipart/form-data; boundary=x', 'multipart'],
    ['text/plain', undefined],
    ['application/jsonx', undefined],
    [undefined, undefined],
  ]
  for (const [ct, want] of table) t.equal(bodyKind(ct), want, String(ct))
  t.equal(boundaryOf('multipart/form-data; boundary=----abc123'), '----abc123')
  t.equal(boundaryOf('multipart/form-data; boundary="a b;c"'), 'a b;c')
  t.equal(boundaryOf('multipart/form-data'), undefined)
})

t.test('form bodies', async (t) => {
  const table: Array<[string, string, boolean, Record<string, string[]>]> = [
    ['plain', 'username=bob&password=secret', false, { username: ['bob'] }],
    ['plus and percent decoding', 'email=bob%2Bclub%40example.com&x=1+2', false, { email: ['bob+club@example.com'] }],
    ['UTF-8 percent-encoded', 'username=J%C3%A9r%C3%B4me', false, { username: ['Jérôme'] }],
    ['PHP-style bracket names are literal', 'user%5Bemail%5D=a%40b.test', false, { 'user[email]': ['a@b.test'] }],
    ['repeated field keeps every value', 'email=a@x&email=b@x', false, { email: ['a@x', 'b@x'] }],
    ['malformed percent escapes do not throw', 'username=%E0%A4%A&email=%', false, { username: ['\uFFFD%A'], email: ['%'] }],
    ['nothing wanted', 'a=1&b=2', false, {}],
    ['truncated: the last pair may be cut, so it is dropped', 'username=bob&email=a@exam', true, { username: ['bob'] }],
    ['truncated inside the first pair: nothing', 'username=bo', true, {}],
  ]
  for (const [name, body, truncated, want] of table) t.same(get(body, FORM, truncated), want, name)
  const many = Array.from({ length: 20 }, (_, i) => `email=${i}`).join('&')
  t.equal(extractFields(spec, Buffer.from(many), FORM).get('email')!.length, MAX_VALUES_PER_FIELD, 'values per field are capped')
})

t.test('JSON bodies', async (t) => {
  const table: Array<[string, string | Buffer, Record<string, string[]>]> = [
    ['top level', '{"username":"bob","password":"x"}', { username: ['bob'] }],
    ['dotted path', '{"user":{"email":"a@b.test","name":"x"}}', { 'user.email': ['a@b.test'] }],
    ['a key containing dots', '{"user.email":"lit@b.test"}', { 'user.email': ['lit@b.test'] }],
    ['numbers count, objects and booleans do not', '{"username":12345,"email":{"x":1},"user":{"email":true}}', { username: ['12345'] }],
    ['array of strings gives several values', '{"email":["a@x","b@x"]}', { email: ['a@x', 'b@x'] }],
    ['path through an array is not followed', '{"user":[{"email":"a@x"}]}', {}],
    ['inherited properties are not read', '{"user":{"__proto__":{"email":"x"}},"email":"e"}', { email: ['e'] }],
    ['BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"email":"a@x"}')]), { email: ['a@x'] }],
    ['invalid JSON', '{"email":"a@x"', {}],
    ['not an object', '"email"', {}],
    ['null', 'null', {}],
  ]
  for (const [name, body, want] of table) t.same(get(body, JSON_T), want, name)
  t.same(get('{"email":"a@x"}', JSON_T, true), {}, 'a truncated JSON document yields nothing')
  t.same(get('{"email":"a@x"}', 'application/problem+json'), { email: ['a@x'] }, '+json media types')
})

t.test('multipart bodies', async (t) => {
  const ct = 'multipart/form-data; boundary=XyZ'
  const table: Array<[string, string, Record<string, string[]>]> = [
    ['text fields', multipart('XyZ', [{ name: 'username', value: 'bob' }, { name: 'password', value: 'p' }]), { username: ['bob'] }],
    ['file parts are skipped', multipart('XyZ', [{ name: 'email', value: 'not-this', filename: 'a.txt', type: 'text/plain' }, { name: 'email', value: 'this@x' }]), { email: ['this@x'] }],
    ['value with CRLF inside', multipart('XyZ', [{ name: 'username', value: 'line1\r\nline2' }]), { username: ['line1\r\nline2'] }],
    ['empty value', multipart('XyZ', [{ name: 'username', value: '' }]), { username: [''] }],
    ['UTF-8 value', multipart('XyZ', [{ name: 'username', value: 'Zoë' }]), { username: ['Zoë'] }],
    ['unclosed last part (truncated) is ignored', multipart('XyZ', [{ name: 'email', value: 'a@x' }, { name: 'username', value: 'bo' }], false), { email: ['a@x'] }],
    ['no delimiter at all', 'username=bob', {}],
  ]
  for (const [name, body, want] of table) t.same(get(body, ct), want, name)
  t.same(get(multipart('XyZ', [{ name: 'username', value: 'bob' }]), 'multipart/form-data'), {}, 'no boundary in the content type')
  t.same(get(multipart('other', [{ name: 'username', value: 'bob' }]), ct), {}, 'another boundary')
  const quoted = '--b\r\nContent-Disposition: form-data; name="user%22x"\r\n\r\nv\r\n--b\r\ncontent-disposition: form-data; name=username\r\n\r\nbob\r\n--b--'
  t.same(Object.fromEntries(extractFields(compileFieldSpec(['user"x', 'username']), Buffer.from(quoted), 'multipart/form-data; boundary=b')),
    { 'user"x': ['v'], username: ['bob'] }, 'escaped quote in a name; unquoted name; header case')
})

t.test('unsupported or empty', async (t) => {
  t.same(get('username=bob', 'text/plain'), {})
  t.same(get('username=bob', undefined), {})
  t.same(get('', FORM), {})
  t.same(Object.fromEntries(extractFields(compileFieldSpec([]), Buffer.from('username=bob'), FORM)), {}, 'no wanted fields: nothing parsed')
})

t.test('normalizeIdentifier', async (t) => {
  const table: Array<[string, string]> = [
    ['  Bob@Example.COM \t', 'bob@example.com'],
    ['Jose\u0301', 'jos\u00e9'], // NFD → NFC
    ['ALICE', 'alice'],
    ['', ''],
  ]
  for (const [input, want] of table) t.equal(normalizeIdentifier(input), want, JSON.stringify(input))
})
