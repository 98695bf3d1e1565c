/** The cipher policy itself: no CBC, no static RSA, no 3DES/RC4, only ECDHE + AEAD for TLS 1.2. */
import t from 'tap'
import { getCiphers } from 'node:tls'
import { tlsProfile } from '../../src/tls/profiles.js'

t.test('intermediate: TLS 1.2+, ECDHE with AEAD only', async (t) => {
  const p = tlsProfile('intermediate')
  t.equal(p.minVersion, 'TLSv1.2')
  const suites = p.ciphers.split(':')
  const tls12 = suites.filter((s) => !s.startsWith('TLS_'))
  t.ok(tls12.length >= 4)
  for (const s of tls12) {
    t.match(s, /^ECDHE-(ECDSA|RSA)-/, `${s}: ECDHE key exchange`)
    t.match(s, /(GCM|CHACHA20-POLY1305)/, `${s}: AEAD`)
    t.notMatch(s, /CBC|SHA$|3DES|DES-CBC3|RC4|NULL|EXPORT/, `${s}: no CBC/3DES/RC4`)
  }
  const known = new Set(getCiphers().map((c) => c.toUpperCase()))
  for (const s of tls12) t.ok(known.has(s), `${s} is known to this OpenSSL`)
  t.equal(p.ecdhCurve, 'X25519:prime256v1:secp384r1')
})

t.test('modern: TLS 1.3 only', async (t) => {
  const p = tlsProfile('modern')
  t.equal(p.minVersion, 'TLSv1.3')
  t.ok(p.ciphers.split(':').every((s) => s.startsWith('TLS_')))
  t.equal(tlsProfile('intermediate', 'TLSv1.3').minVersion, 'TLSv1.3', 'minVersion raises intermediate to 1.3')
})
