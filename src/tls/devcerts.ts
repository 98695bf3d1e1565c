/**
 * Self-signed development certificates, so that the first command works on a fresh machine.
 * ECDSA P-256 (what production certificates from Let's Encrypt use today), SHA-256, one SAN per host, 90 days.
 * Keys are written with mode 0600. Nothing here is ever used for a real deployment.
 */
import { generate } from 'selfsigned'
import { mkdir, writeFile, access } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

export interface DevCertRequest {
  readonly hosts: readonly string[]
  readonly certPath: string
  readonly keyPath: string
}

/** One request per configured certificate, paths resolved against the config file's folder. */
export function devCertRequests(
  certificates: ReadonlyArray<{ hosts: readonly string[]; cert: string; key: string }>,
  baseDir: string,
): DevCertRequest[] {
  return certificates.map((c) => ({ hosts: c.hosts, certPath: resolve(baseDir, c.cert), keyPath: resolve(baseDir, c.key) }))
}

export async function generateDevCert(hosts: readonly string[], days = 90): Promise<{ cert: string; key: string }> {
  const now = new Date()
  const pems = await generate([{ name: 'commonName', value: hosts[0] ?? 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + days * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...hosts.map((h) => ({ type: 2 as const, value: h })),
          ...(hosts.includes('localhost') ? [{ type: 7 as const, ip: '127.0.0.1' }, { type: 7 as const, ip: '::1' }] : []),
        ],
      },
    ],
  })
  return { cert: pems.cert, key: pems.private }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/** Writes a certificate for each request whose files are missing (or all, with `force`). Returns what it wrote. */
export async function ensureDevCerts(requests: readonly DevCertRequest[], force = false): Promise<string[]> {
  const written: string[] = []
  for (const r of requests) {
    if (!force && (await exists(r.certPath)) && (await exists(r.keyPath))) continue
    const { cert, key } = await generateDevCert(r.hosts)
    await mkdir(dirname(r.certPath), { recursive: true })
    await mkdir(dirname(r.keyPath), { recursive: true })
    await writeFile(r.keyPath, key, { mode: 0o600 })
    await writeFile(r.certPath, cert, { mode: 0o644 })
    written.push(r.certPath)
  }
  return written
}
