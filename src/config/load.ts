/**
 * Loads a config file: read → validate (pure, see validate.ts) → check the certificate files it names.
 * Returns every problem at once, each with file and line. Used by startup, `rampart check` and reload.
 */
import { readFile } from 'node:fs/promises'
import { dirname, relative, resolve } from 'node:path'
import { validateConfigText, type ConfigProblem } from './validate.js'
import type { RampartConfig } from './schema.js'
import { readCertificates, type CertificateMaterial } from '../tls/certs.js'
import { hostMatchesPattern } from '../tls/sni.js'

export interface LoadedConfig {
  readonly config: RampartConfig
  /** Absolute path of the file, and the directory relative paths in it are resolved from. */
  readonly file: string
  readonly baseDir: string
  readonly certificates: readonly CertificateMaterial[]
  readonly warnings: readonly ConfigProblem[]
}

export type LoadResult = { ok: true; loaded: LoadedConfig } | { ok: false; problems: ConfigProblem[] }

export interface LoadOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Skip reading certificate files (used by `rampart certs --dev`, which is about to create them). */
  readonly skipCertificates?: boolean
  readonly now?: number
}

export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<LoadResult> {
  const file = resolve(path)
  const shown = displayName(file)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return {
      ok: false,
      problems: [{
        file: shown, line: 0, path: '', code: 'RAMPART_ERR_CONFIG_READ', severity: 'error',
        message: code === 'ENOENT' ? 'file not found' : `cannot read file: ${(e as Error).message}`,
      }],
    }
  }
  const result = validateConfigText(text, { file: shown, env: options.env ?? process.env })
  if (!result.ok) return result
  const { config, locate } = result
  const baseDir = dirname(file)
  const warnings = [...result.warnings]
  let certificates: CertificateMaterial[] = []
  if (!options.skipCertificates) {
    const read = await readCertificates(config.tls.certificates, baseDir, {
      ...(options.now !== undefined ? { now: options.now } : {}),
      expiryWarningMs: config.tls.expiryWarning,
    })
    certificates = read.material
    const problems: ConfigProblem[] = []
    for (const p of read.problems) {
      const at = ['tls', 'certificates', p.index, p.field] as const
      const entry: ConfigProblem = {
        file: shown, line: locate(at), path: `tls.certificates[${p.index}].${p.field}`,
        message: p.message, code: p.code, severity: p.severity,
      }
      if (p.severity === 'error') problems.push(entry)
      else warnings.push(entry)
    }
    for (const m of certificates) {
      for (const [j, host] of m.hosts.entries()) {
        const probe = host.startsWith('*.') ? `x${host.slice(1)}` : host
        if (m.sans.length > 0 && !m.sans.some((san) => hostMatchesPattern(probe, san.toLowerCase()))) {
          warnings.push({
            file: shown, line: locate(['tls', 'certificates', m.index, 'hosts', j]),
            path: `tls.certificates[${m.index}].hosts[${j}]`, code: 'RAMPART_ERR_CONFIG_CERT', severity: 'warning',
            message: `certificate ${relative(baseDir, m.certPath)} does not cover '${host}' (its names: ${m.sans.join(', ')})`,
          })
        }
      }
    }
    if (problems.length > 0) return { ok: false, problems: [...problems, ...warnings].sort((a, b) => a.line - b.line) }
  }
  return { ok: true, loaded: { config, file, baseDir, certificates, warnings } }
}

/** Paths in messages are shown relative to the working directory when that is shorter, like compilers do. */
function displayName(file: string): string {
  const rel = relative(process.cwd(), file)
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file
}
