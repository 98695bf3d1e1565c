/**
 * Checks that span fields, run after the schema passed. Pure: works on the validated config only.
 * File-level checks (certificate files, key match, expiry) live in `load.ts` because they read files.
 */
import type { RampartConfig } from './schema.js'
import type { PathSegment } from './validate.js'
import type { ErrorCode } from '../errors.js'
import { hostMatchesPattern } from '../tls/sni.js'
import { checkHeadersConfig } from '../headers/policy.js'
import { checkCookiesConfig } from '../cookies/rewrite.js'
import { checkRateLimits } from './sections/rate-limits.js'
import { checkLockout } from './sections/lockout.js'
import { checkThreatsSection, checkAbuseSection } from './sections/threats.js'
import { checkAccessSection } from './sections/access.js'

export interface CrossProblem {
  at: readonly PathSegment[]
  path: string
  message: string
  code: ErrorCode
  severity: 'error' | 'warning'
}

export function crossCheck(config: RampartConfig): CrossProblem[] {
  const out: CrossProblem[] = []
  const err = (at: PathSegment[], path: string, message: string, code: ErrorCode = 'RAMPART_ERR_CONFIG_CONFLICT') =>
    out.push({ at, path, message, code, severity: 'error' })
  const warn = (at: PathSegment[], path: string, message: string, code: ErrorCode = 'RAMPART_ERR_CONFIG_CONFLICT') =>
    out.push({ at, path, message, code, severity: 'warning' })

  // A host (with its path prefix) belongs to exactly one site.
  const owner = new Map<string, number>()
  config.sites.forEach((site, i) => {
    site.hosts.forEach((host, j) => {
      const key = `${host} ${site.pathPrefix}`
      const first = owner.get(key)
      if (first !== undefined) {
        err(['sites', i, 'hosts', j], `sites[${i}].hosts[${j}]`,
          `host '${host}'${site.pathPrefix !== '/' ? ` with pathPrefix '${site.pathPrefix}'` : ''} is already served by sites[${first}]`,
          'RAMPART_ERR_CONFIG_HOST_DUPLICATE')
      } else {
        owner.set(key, i)
      }
    })
  })
  const names = new Map<string, number>()
  config.sites.forEach((site, i) => {
    if (!site.name) return
    const first = names.get(site.name)
    if (first !== undefined) err(['sites', i, 'name'], `sites[${i}].name`, `site name '${site.name}' is already used by sites[${first}]`)
    else names.set(site.name, i)
  })

  const siteHosts = config.sites.flatMap((s) => s.hosts)
  config.tls.certificates.forEach((cert, i) => {
    cert.hosts.forEach((host, j) => {
      const served = siteHosts.some((h) => h === host || hostMatchesPattern(host.replace(/^\*\./, 'x.'), h) ||
        (host.startsWith('*.') && h.endsWith(host.slice(1))))
      if (!served) {
        err(['tls', 'certificates', i, 'hosts', j], `tls.certificates[${i}].hosts[${j}]`,
          `host '${host}' is not a host of any site`, 'RAMPART_ERR_CONFIG_CERT_HOST_UNKNOWN')
      }
    })
  })
  const defaults = config.tls.certificates.map((c, i) => (c.default ? i : -1)).filter((i) => i >= 0)
  if (defaults.length > 1) {
    err(['tls', 'certificates', defaults[1]!, 'default'], `tls.certificates[${defaults[1]}].default`,
      `only one certificate can be the default (tls.certificates[${defaults[0]}] already is)`)
  }
  const certHosts = config.tls.certificates.flatMap((c) => c.hosts)
  config.sites.forEach((site, i) => {
    site.hosts.forEach((host, j) => {
      const probe = host.startsWith('*.') ? `x${host.slice(1)}` : host
      if (!certHosts.some((p) => hostMatchesPattern(probe, p))) {
        warn(['sites', i, 'hosts', j], `sites[${i}].hosts[${j}]`,
          `no certificate lists host '${host}'; clients will get the default certificate`)
      }
    })
  })

  if (config.tls.profile === 'modern' && config.tls.minVersion === 'TLSv1.2') {
    err(['tls', 'minVersion'], 'tls.minVersion', "the 'modern' profile is TLS 1.3 only; remove minVersion or use profile 'intermediate'")
  }
  if (config.listen.http.acme.mode === 'folder' && !config.listen.http.acme.folder) {
    err(['listen', 'http', 'acme'], 'listen.http.acme.folder', "acme mode 'folder' needs 'folder'")
  }
  if (config.listen.http.enabled && config.listen.https.port !== 0 && config.listen.https.port === config.listen.http.port &&
      config.listen.https.host === config.listen.http.host) {
    err(['listen', 'http', 'port'], 'listen.http.port', 'the HTTP and HTTPS listeners cannot share a port')
  }
  // Response hardening: header grammar (CSP, Referrer-Policy…) and cookie rules, with every site's name resolved.
  const siteRefs = config.sites.map((s) => ({ name: s.name ?? s.hosts[0]!, hosts: s.hosts, cookies: s.cookies }))
  for (const p of checkHeadersConfig(config.headers, siteRefs)) out.push({ ...p, at: [...p.at] })
  for (const p of checkCookiesConfig(config.cookies, siteRefs)) out.push({ ...p, at: [...p.at] })
  // Protections that refer to sites by name, and need a shared store to be shared.
  const siteNames = siteRefs.map((s) => s.name)
  for (const p of checkRateLimits(config.rateLimits, siteNames)) out.push({ ...p, at: [...p.at] })
  if (config.lockout) {
    const sharedStore = config.store.redis !== undefined && config.store.redis !== ''
    for (const p of checkLockout(config.lockout, { siteNames, sharedStore })) out.push({ ...p, at: [...p.at] })
  }
  if (config.workers !== 1 && !(config.store.redis !== undefined && config.store.redis !== '') &&
      (config.rateLimits.length > 0 || config.lockout !== undefined)) {
    warn(['workers'], 'workers', 'several workers with the memory store: each worker counts rate limits and lockouts on its own; set store.redis to share them')
  }
  for (const p of checkThreatsSection(config.threats, siteRefs)) out.push({ ...p, at: [...p.at] })
  for (const p of checkAbuseSection(config.abuse)) out.push({ ...p, at: [...p.at] })
  for (const p of checkAccessSection(config.access, siteRefs)) out.push({ ...p, at: [...p.at] })
  return out
}
