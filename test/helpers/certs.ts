/**
 * Test certificates, made at test time (no private key is ever committed): a throw-away CA and leaf certificates
 * signed by it, so clients can verify the chain and assert which certificate the server presented.
 */
import { generate } from 'selfsigned'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface TestCa { readonly cert: string; readonly key: string }
export interface TestCert { readonly cert: string; readonly key: string; readonly certPath: string; readonly keyPath: string }

const caPromises = new Map<'ec' | 'rsa', Promise<TestCa>>()

/** One CA per key type (the signing library needs the CA's key type to match the leaf's). */
export function testCa(keyType: 'ec' | 'rsa' = 'ec'): Promise<TestCa> {
  let caPromise = caPromises.get(keyType)
  caPromise ??= (async () => {
    const pems = await generate([{ name: 'commonName', value: `Rampart Test CA (${keyType})` }], {
      keyType, curve: 'P-256', keySize: 2048, algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - 86_400_000), notAfterDate: new Date(Date.now() + 30 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      ],
    })
    return { cert: pems.cert, key: pems.private }
  })()
  caPromises.set(keyType, caPromise)
  return caPromise
}

export interface LeafOptions {
  readonly keyType?: 'ec' | 'rsa'
  readonly days?: number
  readonly commonName?: string
}

/** A leaf certificate for `hosts`, signed by the test CA, written to `<dir>/<name>.pem` and `<name>-key.pem`. */
export async function makeCert(dir: string, name: string, hosts: readonly string[], o: LeafOptions = {}): Promise<TestCert> {
  const ca = await testCa(o.keyType ?? 'ec')
  const days = o.days ?? 30
  const now = Date.now()
  const pems = await generate([{ name: 'commonName', value: o.commonName ?? hosts[0] ?? 'localhost' }], {
    keyType: o.keyType ?? 'ec', curve: 'P-256', keySize: 2048, algorithm: 'sha256',
    notBeforeDate: new Date(now - 86_400_000 * (days < 0 ? 30 : 1)),
    notAfterDate: new Date(now + days * 86_400_000),
    ca: { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((h) => ({ type: 2 as const, value: h })) },
    ],
  })
  const certPath = join(dir, `${name}.pem`)
  const keyPath = join(dir, `${name}-key.pem`)
  writeFileSync(certPath, pems.cert)
  writeFileSync(keyPath, pems.private, { mode: 0o600 })
  return { cert: pems.cert, key: pems.private, certPath, keyPath }
}
