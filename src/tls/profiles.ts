/**
 * TLS parameters per Mozilla profile (https://ssl-config.mozilla.org, guidelines v5.7).
 *
 * `intermediate`: TLS 1.2 and 1.3. For TLS 1.2 only ECDHE key exchange with AEAD ciphers (GCM, ChaCha20-Poly1305):
 * no CBC, no static-RSA key exchange, no 3DES, no RC4. Mozilla's list also has DHE-RSA suites; we leave them out
 * because every client that can do DHE+AEAD can do ECDHE, and finite-field DH parameters are a burden to manage.
 * `modern`: TLS 1.3 only. Node's default cipher list is not used: it still admits CBC suites.
 */
import type { SecureContextOptions } from 'node:tls'

export type TlsProfileName = 'intermediate' | 'modern'

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']

const TLS12_ECDHE_AEAD = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
]

export const CURVES = 'X25519:prime256v1:secp384r1'

export interface TlsProfile {
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3'
  readonly maxVersion: 'TLSv1.3'
  readonly ciphers: string
  readonly ecdhCurve: string
  /** Mozilla: intermediate lets the client choose (all offered suites are strong); modern too. */
  readonly honorCipherOrder: boolean
}

export function tlsProfile(name: TlsProfileName, minVersion?: 'TLSv1.2' | 'TLSv1.3'): TlsProfile {
  const min = name === 'modern' ? 'TLSv1.3' : (minVersion ?? 'TLSv1.2')
  const ciphers = min === 'TLSv1.3' ? TLS13_SUITES : [...TLS13_SUITES, ...TLS12_ECDHE_AEAD]
  return { minVersion: min, maxVersion: 'TLSv1.3', ciphers: ciphers.join(':'), ecdhCurve: CURVES, honorCipherOrder: false }
}

export function profileContextOptions(p: TlsProfile): SecureContextOptions {
  return {
    minVersion: p.minVersion,
    maxVersion: p.maxVersion,
    ciphers: p.ciphers,
    ecdhCurve: p.ecdhCurve,
    honorCipherOrder: p.honorCipherOrder,
  }
}
