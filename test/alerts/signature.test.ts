import t from 'tap'
import { signPayload, verifySignature } from '../../src/alerts/signature.js'

const SECRET = 'a-long-enough-test-secret'

t.test('sign and verify', async (t) => {
  const sig = signPayload(SECRET, 1714588200, '{"a":1}')
  t.match(sig, /^sha256=[0-9a-f]{64}$/)
  t.equal(sig, signPayload(SECRET, 1714588200, '{"a":1}'), 'deterministic')
  const table: Array<[string, string, string | undefined, string, string | undefined, number, boolean]> = [
    ['valid', SECRET, '1714588200', '{"a":1}', sig, 1714588200, true],
    ['valid within age', SECRET, '1714588200', '{"a":1}', sig, 1714588200 + 299, true],
    ['too old', SECRET, '1714588200', '{"a":1}', sig, 1714588200 + 301, false],
    ['body changed', SECRET, '1714588200', '{"a":2}', sig, 1714588200, false],
    ['timestamp changed', SECRET, '1714588201', '{"a":1}', sig, 1714588200, false],
    ['other secret', 'another-secret-value-here', '1714588200', '{"a":1}', sig, 1714588200, false],
    ['missing signature', SECRET, '1714588200', '{"a":1}', undefined, 1714588200, false],
    ['missing timestamp', SECRET, undefined, '{"a":1}', sig, 1714588200, false],
    ['malformed timestamp', SECRET, '17e8', '{"a":1}', sig, 1714588200, false],
    ['truncated signature', SECRET, '1714588200', '{"a":1}', sig.slice(0, 20), 1714588200, false],
  ]
  for (const [name, secret, ts, body, s, now, want] of table) t.equal(verifySignature(secret, ts, body, s, now), want, name)
})
