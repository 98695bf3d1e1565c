/**
 * The benchmark's TLS certificate: a self-signed ECDSA P-256 certificate for `localhost`, made at bench time.
 *
 * Contract: `generateBenchCertificate(dir)` writes `localhost.pem` and `localhost-key.pem` (mode 0600) into `dir`
 * and returns their absolute paths. Nothing is committed or reused between runs. P-256 is what a production
 * certificate would typically use today, so handshake and record costs match a real deployment.
 */
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { generate } from 'selfsigned'

export interface BenchCertificate {
  readonly certPath: string
  readonly keyPath: string
}

export async function generateBenchCertificate(dir: string): Promise<BenchCertificate> {
  const notBeforeDate = new Date(Date.now() - 60_000)
  const notAfterDate = new Date(notBeforeDate.getTime() + 90 * 24 * 3600 * 1000)
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  })
  const certPath = resolve(join(dir, 'localhost.pem'))
  const keyPath = resolve(join(dir, 'localhost-key.pem'))
  await writeFile(certPath, pems.cert, { mode: 0o600 })
  await writeFile(keyPath, pems.private, { mode: 0o600 })
  return { certPath, keyPath }
}
