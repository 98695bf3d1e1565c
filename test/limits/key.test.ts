/** Rate-limit keys: parsing, subjects, missing and ambiguous parts. Pure; tables. */
import t from 'tap'
import { parseKeyPart, compileKey, subjectsOf, MAX_SUBJECTS } from '../../src/limits/key.js'
import { hashSubject } from '../../src/store/keys.js'

const SECRET = 'key-secret-for-tests'
const h = (v: string) => hashSubject(SECRET, v)

t.test('parseKeyPart', async (t) => {
  const table: Array<[string, unknown]> = [
    ['ip', { kind: 'ip' }],
    ['header:X-Api-Key', { kind: 'header', name: 'x-api-key' }],
    ['body.email', { kind: 'body', field: 'email' }],
    ['body.user.email', { kind: 'body', field: 'user.email' }],
    ['body.user[email]', { kind: 'body', field: 'user[email]' }],
    ['IP', undefined],
    ['header:', undefined],
    ['header:bad header', undefined],
    ['body.', undefined],
    ['cookie:x', undefined],
  ]
  for (const [text, want] of table) t.same(parseKeyPart(text), want, text)
  t.throws(() => compileKey(['ip', 'nope'], SECRET), /invalid rate-limit key part: nope/)
})

t.test('subjectsOf', async (t) => {
  const headers = { 'x-api-key': 'k-123', 'x-multi': ['a', 'b'] }
  const f = (entries: Array<[string, string[]]>) => new Map(entries)
  const table: Array<[string, string | string[], Parameters<typeof subjectsOf>[1], ReturnType<typeof subjectsOf>]> = [
    ['ip stays clear', 'ip', { ip: '192.0.2.1', headers }, ['192.0.2.1']],
    ['IPv6 by /64', 'ip', { ip: '2001:db8:1:2::99', headers }, ['2001:db8:1:2::/64']],
    ['header is hashed', 'header:x-api-key', { ip: '192.0.2.1', headers }, [h('k-123')]],
    ['repeated header is joined as Node joins it', 'header:x-multi', { ip: '192.0.2.1', headers }, [h('a, b')]],
    ['missing header: limit does not apply', 'header:authorization', { ip: '192.0.2.1', headers }, undefined],
    ['body field normalised then hashed', 'body.email', { ip: '192.0.2.1', headers, fields: f([['email', ['  Bob@Example.COM ']]]) }, [h('bob@example.com')]],
    ['body not read yet', 'body.email', { ip: '192.0.2.1', headers }, undefined],
    ['body field absent', 'body.email', { ip: '192.0.2.1', headers, fields: f([['other', ['x']]]) }, undefined],
    ['body field blank', 'body.email', { ip: '192.0.2.1', headers, fields: f([['email', ['   ']]]) }, undefined],
    ['same value twice counts once', 'body.email', { ip: '192.0.2.1', headers, fields: f([['email', ['a@x.test', 'A@X.test']]]) }, [h('a@x.test')]],
    ['decoy value: both are counted', 'body.email', { ip: '192.0.2.1', headers, fields: f([['email', ['decoy@x.test', 'victim@x.test']]]) }, [h('decoy@x.test'), h('victim@x.test')]],
    ['combination', ['ip', 'body.email'], { ip: '192.0.2.1', headers, fields: f([['email', ['a@x.test']]]) }, [`192.0.2.1|${h('a@x.test')}`]],
    ['combination with a missing part', ['ip', 'body.email'], { ip: '192.0.2.1', headers }, undefined],
    ['too many distinct values: ambiguous', 'body.email', { ip: '192.0.2.1', headers, fields: f([['email', ['1', '2', '3', '4', '5']]]) }, 'ambiguous'],
    ['product over the cap: ambiguous', ['body.a', 'body.b'], { ip: '192.0.2.1', headers, fields: f([['a', ['1', '2', '3']], ['b', ['x', 'y']]]) }, 'ambiguous'],
  ]
  for (const [name, spec, input, want] of table) t.same(subjectsOf(compileKey(spec, SECRET), input), want, name)
  t.equal(MAX_SUBJECTS, 4)
})

t.test('compileKey reports whether the body is needed', async (t) => {
  t.same(compileKey('ip', SECRET).bodyFields, [])
  t.equal(compileKey('ip', SECRET).needsBody, false)
  t.same(compileKey(['ip', 'body.email', 'body.user.name'], SECRET).bodyFields, ['email', 'user.name'])
  t.equal(compileKey(['header:x', 'body.email'], SECRET).needsBody, true)
})
