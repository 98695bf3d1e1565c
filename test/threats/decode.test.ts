import t from 'tap'
import { decodeEntities, decodeJsEscapes, formDecode, percentDecode } from '../../src/threats/decode.js'
import { decodeValue, isPlainPath, isPlainValue, normalizeValue, squeeze, MAX_DECODE_ROUNDS } from '../../src/threats/normalize.js'

t.test('percentDecode', async (t) => {
  const table: Array<[string, string]> = [
    ['plain', 'plain'],
    ['%27%20OR%201%3D1', "' OR 1=1"],
    ['%C3%A9t%C3%A9', 'été'],
    ['%e2%80%94', '—'],
    ['%u003cscript%u003e', '<script>'],
    ['%zz%2', '%zz%2'], // malformed escapes stay literal
    ['100%', '100%'],
    ['%', '%'],
    ['%c0%ae', '\ufffd\ufffd'], // overlong UTF-8 is not a dot
    ['%252e', '%2e'], // one round only
    ['a%00b', 'a\u0000b'],
  ]
  for (const [input, want] of table) t.equal(percentDecode(input), want, JSON.stringify(input))
  const same = 'no escapes here'
  t.equal(percentDecode(same), same, 'returns the same string when there is nothing to decode')
})

t.test('formDecode turns + into space, then percent-decodes', async (t) => {
  t.equal(formDecode('select+court+3'), 'select court 3')
  t.equal(formDecode('a%2Bb'), 'a+b')
  t.equal(formDecode('%2B33+6'), '+33 6')
})

t.test('decodeEntities', async (t) => {
  const table: Array<[string, string]> = [
    ['&lt;script&gt;', '<script>'],
    ['&#60;&#x3C;&#X3c;', '<<<'],
    ['&#0000060', '<'], // no semicolon, leading zeros
    ['jav&#x09;ascript&colon;', 'jav\tascript:'],
    ['Tom &amp; Jerry', 'Tom & Jerry'],
    ['&unknown; & &#xffffffff; &#xd800;', '&unknown; & &#xffffffff; &#xd800;'], // unknown or invalid stay
    ['R&D', 'R&D'],
  ]
  for (const [input, want] of table) t.equal(decodeEntities(input), want, JSON.stringify(input))
})

t.test('decodeJsEscapes', async (t) => {
  t.equal(decodeJsEscapes('\\u003cscript\\u003e'), '<script>')
  t.equal(decodeJsEscapes('\\x3c\\u{3e}'), '<>')
  t.equal(decodeJsEscapes('C:\\Users\\anne'), 'C:\\Users\\anne', 'Windows paths are left alone')
  t.equal(decodeJsEscapes('\\ud800'), '\\ud800', 'lone surrogates are not produced')
})

t.test('isPlainValue / isPlainPath (fast path)', async (t) => {
  for (const v of ['abc', '2024-05-01', 'GA1.2.3.4', 'anne@example.fr', '10:30', '']) t.ok(isPlainValue(v), v)
  for (const v of ["O'Brien", 'a b', 'a+b', '%27', 'é', 'a/b', '<', 'x;y']) t.notOk(isPlainValue(v), v)
  for (const p of ['/', '/reservations/court/3', '/images/logo.png', '/a-b_c/d@2x.png']) t.ok(isPlainPath(p), p)
  for (const p of ['/..', '/.env', '/wp-config.php.bak', '/a%2e', '/a b', "/o'brien"]) t.notOk(isPlainPath(p), p)
})

t.test('normalizeValue', async (t) => {
  const table: Array<[string, string, string]> = [
    ['case folding', 'SeLeCt', 'select'],
    ['double encoding', '%253Cscript%253E', '<script>'],
    ['triple encoding', '%25252e%25252e%25252f', '../'],
    ['entities after percent', '%26lt%3Bsvg%26gt%3B', '<svg>'],
    ['NFKC fullwidth', '\uff1cscript\uff1e', '<script>'],
    ['slash lookalikes', '..\u2215etc\u2215passwd', '../etc/passwd'],
    ['NUL and control characters removed', 'scr\u0000ipt\u0001', 'script'],
    ['zero-width removed', 'jav\u200bascript', 'javascript'],
    ['whitespace runs squeezed', 'a \t  b', 'a b'],
    ['newline kept as a separator', 'a \r\n\t b', 'a\nb'],
    ['unicode spaces', 'a\u00a0\u2003b', 'a b'],
    ['JS escapes', '\\u003cimg\\u003e', '<img>'],
  ]
  for (const [name, input, want] of table) t.equal(normalizeValue(input), want, name)
})

t.test('decoding stops after MAX_DECODE_ROUNDS', async (t) => {
  let v = '<'
  for (let i = 0; i < MAX_DECODE_ROUNDS + 2; i++) v = encodeURIComponent(v)
  t.not(decodeValue(v), '<', 'a value encoded more times than the bound is not fully decoded')
  let w = '<'
  for (let i = 0; i < MAX_DECODE_ROUNDS; i++) w = encodeURIComponent(w)
  t.equal(decodeValue(w), '<')
})

t.test('squeeze returns the same string when nothing changes', async (t) => {
  const s = 'nothing to change here'
  t.equal(squeeze(s), s)
  t.equal(squeeze(' a  b '), ' a b ')
})
