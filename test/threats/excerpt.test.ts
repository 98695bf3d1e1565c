import t from 'tap'
import { EXCERPT_LENGTH, REDACTED, escapeText, excerpt, isSecretName } from '../../src/threats/excerpt.js'

t.test('escapeText makes text inert', async (t) => {
  const table: Array<[string, string]> = [
    ['plain text', 'plain text'],
    ['<script>', '\\x3cscript\\x3e'],
    ['a"b\'c`d&e', 'a\\x22b\\x27c\\x60d\\x26e'],
    ['back\\slash', 'back\\\\slash'],
    ['line\nbreak\ttab', 'line\\x0abreak\\x09tab'],
    ['bidi\u202eoverride', 'bidi\\u{202e}override'],
    ['été', 'été'],
  ]
  for (const [input, want] of table) t.equal(escapeText(input), want, JSON.stringify(input))
})

t.test('excerpt truncates around the match', async (t) => {
  t.equal(excerpt('short'), 'short')
  const long = 'x'.repeat(200) + 'ATTACK' + 'y'.repeat(200)
  const e = excerpt(long, 200)
  t.ok(e.startsWith('…') && e.endsWith('…'), 'cut on both sides is marked')
  t.ok(e.includes('ATTACK'), 'the match is inside the window')
  t.equal(e.length, EXCERPT_LENGTH + 2)
  t.equal(excerpt('a'.repeat(100), 0).length, EXCERPT_LENGTH + 1, 'start of text: cut only at the end')
  const emoji = '😀'.repeat(40)
  const cut = excerpt(emoji, 0)
  t.notOk(/[\ud800-\udbff](?![\udc00-\udfff])/.test(cut), 'never splits a surrogate pair at the end')
})

t.test('isSecretName', async (t) => {
  for (const n of ['password', 'Password', 'new_password', 'passwd', 'pwd', 'pass', 'user_pass', 'secret', 'client_secret', 'token', 'csrf_token', 'api_key', 'apiKey', 'auth', 'Authorization', 'authorisation_code', 'x-auth']) {
    t.ok(isSecretName(n), n)
  }
  for (const n of ['username', 'email', 'comment', 'court', 'q', 'author', 'author_name', undefined]) t.notOk(isSecretName(n), String(n))
  t.equal(REDACTED, '[redacted]')
})
