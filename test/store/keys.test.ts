/** Key layout, subject hashing and address grouping. Pure; table-driven. */
import t from 'tap'
import { createHash, createHmac } from 'node:crypto'
import { makeKey, parseKey, hashSubject, ipSubject } from '../../src/store/keys.js'

const plain = { prefix: 'rampart', hashTags: false }
const tagged = { prefix: 'rampart', hashTags: true }

t.test('key names and hash tags', async (t) => {
  const table: Array<[typeof plain, 'ratelimit' | 'lockout', string, string, string]> = [
    [plain, 'ratelimit', 'per-ip', '192.0.2.1', 'rampart:ratelimit:per-ip:192.0.2.1'],
    [plain, 'lockout', 'club', 'acct:abc', 'rampart:lockout:club:acct:abc'],
    [tagged, 'ratelimit', 'per-ip', '192.0.2.1', 'rampart:ratelimit:per-ip:{192.0.2.1}'],
    [tagged, 'ratelimit', 'reset', '2001:db8::/64|xyz', 'rampart:ratelimit:reset:{2001:db8::/64|xyz}'],
    [tagged, 'lockout', 'club', 'acct:abc', 'rampart:lockout:{club}:acct:abc'],
    [{ prefix: 'gw2', hashTags: false }, 'lockout', 'all', 'ip:10.0.0.1', 'gw2:lockout:all:ip:10.0.0.1'],
  ]
  for (const [layout, protection, name, subject, want] of table) {
    const key = makeKey(layout, protection, name, subject)
    t.equal(key, want, want)
    t.same(parseKey(layout, key), { protection, name, subject }, `parseKey(${want}) round-trips`)
  }
})

t.test('parseKey rejects keys Rampart did not write', async (t) => {
  for (const key of ['other:ratelimit:a:b', 'rampart:session:a:b', 'rampart:lockout', 'rampart:lockout:{x', 'rampart:ratelimit:a:', 'rampart:lockout::x']) {
    t.equal(parseKey(plain, key), undefined, key)
  }
})

t.test('hashSubject: HMAC with a secret, SHA-256 without, 128 bits base64url', async (t) => {
  const withSecret = hashSubject('a-secret-of-16-chars', 'bob@example.com')
  t.equal(withSecret, createHmac('sha256', 'a-secret-of-16-chars').update('bob@example.com').digest().subarray(0, 16).toString('base64url'))
  t.equal(hashSubject(undefined, 'bob@example.com'), createHash('sha256').update('bob@example.com').digest().subarray(0, 16).toString('base64url'))
  t.match(withSecret, /^[A-Za-z0-9_-]{22}$/, '22 base64url characters: safe inside a key and a hash tag')
  t.not(withSecret, hashSubject('another-secret-16ch', 'bob@example.com'), 'the secret changes the hash')
  t.not(withSecret, hashSubject('a-secret-of-16-chars', 'eve@example.com'), 'the value changes the hash')
  t.equal(withSecret, hashSubject('a-secret-of-16-chars', 'bob@example.com'), 'stable: every instance computes the same')
})

t.test('ipSubject groups IPv6 by /64 and keeps IPv4 clear', async (t) => {
  const table: Array<[string, string | RegExp]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['not-an-ip{x}', /^x[A-Za-z0-9_-]{22}$/],
  ]
  for (const [ip, want] of table) {
    if (typeof want === 'string') t.equal(ipSubject(ip), want, ip)
    else t.match(ipSubject(ip), want, `${ip} is hashed, never copied into a key`)
  }
  t.equal(ipSubject('2001:db8:1:2::a'), ipSubject('2001:db8:1:2:ffff::b'), 'two addresses of one /64 share a subject')
  t.not(ipSubject('2001:db8:1:2::a'), ipSubject('2001:db8:1:3::a'), 'neighbouring /64s do not')
})
