/**
 * Certificate material: reading PEM files, checking them, and building the secure contexts served by SNI.
 *
 * `readCertificates()` reads and checks every configured pair (file present, PEM parses, key matches the
 * certificate, expiry) and reports problems per entry, so config checking can point at the right line.
 * `CertificateSet` is what the listener uses: one secure context per entry, built once, and an SNI lookup table.
 * A reload builds a complete new set first and swaps it in only if every entry loaded: a broken new certificate
 * keeps the old one.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { CertificateConfig, TlsConfig } from '../config/schema.js'
import { compileHostTable, type HostTable } from './sni.js'
import { profileContextOptions, tlsProfile } from './profiles.js'

export interface CertificateMaterial {
  readonly index: number
  readonly hosts: readonly string[]
  readonly certPath: string
  readonly keyPath: string
  readonly cert: string
  readonly key: string
  readonly subject: string
  readonly sans: readonly string[]
  readonly validTo: Date
  readonly fingerprint256: string
  /** 'ec', 'rsa', 'ed25519'…: Node's name for the key algorithm. */
  readonly keyType: string
}

export interface CertificateProblem {
  readonly index: number
  readonly field: 'cert' | 'key'
  readonly severity: 'error' | 'warning'
  readonly code: 'RAMPART_ERR_CONFIG_CERT' | 'RAMPART_ERR_TLS_EXPIRED' | 'RAMPART_ERR_TLS_EXPIRING'
  readonly message: string
}

export async function readCertificates(
  entries: readonly CertificateConfig[],
  baseDir: string,
  options: { now?: number; expiryWarningMs?: number } = {},
): Promise<{ material: CertificateMaterial[]; problems: CertificateProblem[] }> {
  const now = options.now ?? Date.now()
  const warnWithin = options.expiryWarningMs ?? 21 * 86_400_000
  const material: CertificateMaterial[] = []
  const problems: CertificateProblem[] = []
  for (const [index, entry] of entries.entries()) {
    const certPath = resolve(baseDir, entry.cert)
    const keyPath = resolve(baseDir, entry.key)
    const certPem = await readText(certPath)
    const keyPem = await readText(keyPath)
    const err = (field: 'cert' | 'key', message: string) =>
      problems.push({ index, field, severity: 'error', code: 'RAMPART_ERR_CONFIG_CERT', message })
    if (typeof certPem !== 'string') err('cert', `cannot read certificate file ${entry.cert}: ${certPem.message}`)
    if (typeof keyPem !== 'string') err('key', `cannot read key file ${entry.key}: ${keyPem.message}`)
    if (typeof certPem !== 'string' || typeof keyPem !== 'string') continue
    let x509: X509Certificate
    try {
      x509 = new X509Certificate(certPem)
    } catch {
      err('cert', `${entry.cert} is not a PEM certificate`)
      continue
    }
    let keyObject
    try {
      keyObject = createPrivateKey(keyPem)
    } catch {
      err('key', `${entry.key} is not a PEM private key (encrypted keys are not supported)`)
      continue
    }
    if (!x509.checkPrivateKey(keyObject)) {
      err('key', `key ${entry.key} does not match certificate ${entry.cert}`)
      continue
    }
    const validTo = new Date(x509.validTo)
    const left = validTo.getTime() - now
    if (left <= 0) {
      problems.push({ index, field: 'cert', severity: 'warning', code: 'RAMPART_ERR_TLS_EXPIRED',
        message: `certificate ${entry.cert} expired on ${validTo.toISOString()}` })
    } else if (left <= warnWithin) {
      problems.push({ index, field: 'cert', severity: 'warning', code: 'RAMPART_ERR_TLS_EXPIRING',
        message: `certificate ${entry.cert} expires in ${Math.ceil(left / 86_400_000)} days (${validTo.toISOString()})` })
    }
    material.push({
      index, hosts: entry.hosts, certPath, keyPath, cert: certPem, key: keyPem,
      subject: x509.subject, sans: parseSans(x509.subjectAltName), validTo, fingerprint256: x509.fingerprint256,
      keyType: keyObject.asymmetricKeyType ?? 'unknown',
    })
  }
  // Node.js only applies an SNI-selected certificate in TLS 1.3 when its key type matches the default
  // certificate's (nodejs/node#54235); otherwise clients silently get the default certificate. Refuse the mix.
  const first = material[0]
  for (const m of material) {
    if (first && m.keyType !== first.keyType) {
      problems.push({ index: m.index, field: 'cert', severity: 'error', code: 'RAMPART_ERR_CONFIG_CERT',
        message: `certificate ${entryName(entries, m.index)} has a ${m.keyType.toUpperCase()} key but ${entryName(entries, first.index)} has ${first.keyType.toUpperCase()}; ` +
          'use one key type for every certificate (Node.js serves the default certificate to TLS 1.3 clients otherwise)' })
    }
  }
  return { material, problems }
}

function entryName(entries: readonly CertificateConfig[], index: number): string {
  return entries[index]?.cert ?? `#${index}`
}

async function readText(path: string): Promise<string | Error> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return new Error(code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : String((e as Error).message))
  }
}

function parseSans(text: string | undefined): string[] {
  if (!text) return []
  return text.split(/,\s*/).map((s) => s.replace(/^(DNS|IP Address):/, '')).filter(Boolean)
}

export interface CertificateSet {
  readonly contexts: readonly SecureContext[]
  readonly defaultContext: SecureContext
  readonly defaultIndex: number
  readonly table: HostTable<SecureContext>
  readonly material: readonly CertificateMaterial[]
}

/**
 * Builds the secure contexts. `ticketKeys` are shared by every context (and, in a cluster, every worker), so TLS
 * sessions resume across certificates, reloads and workers.
 */
export function buildCertificateSet(
  material: readonly CertificateMaterial[],
  tls: TlsConfig,
  ticketKeys: Buffer,
): CertificateSet {
  const profile = profileContextOptions(tlsProfile(tls.profile, tls.minVersion))
  const sessionTimeout = Math.max(1, Math.round(tls.sessionTimeout / 1000))
  const contexts = material.map((m) =>
    createSecureContext({ ...profile, cert: m.cert, key: m.key, sessionTimeout, ticketKeys }))
  const entries: Array<readonly [string, SecureContext]> = []
  material.forEach((m, i) => { for (const h of m.hosts) entries.push([h, contexts[i]!]) })
  const declaredDefault = tls.certificates.findIndex((c) => c.default === true)
  const defaultIndex = Math.max(0, material.findIndex((m) => m.index === (declaredDefault >= 0 ? declaredDefault : 0)))
  return {
    contexts,
    defaultContext: contexts[defaultIndex]!,
    defaultIndex,
    table: compileHostTable(entries),
    material,
  }
}

export function newTicketKeys(): Buffer {
  return randomBytes(48)
}
