/**
 * Which site serves a request: by Host (exact names before wildcards), then by the longest matching path prefix.
 * Pure; compiled once per config. A prefix `/app` matches `/app`, `/app/x` and `/app?q`, not `/apple`.
 */
import { compileHostTable, canonicalHost } from '../tls/sni.js'

export interface RoutableSite {
  readonly hosts: readonly string[]
  readonly pathPrefix: string
}

export interface SiteRouter<S> {
  /** `host` without port. Returns undefined when no site serves this host and path. */
  route(host: string, path: string): S | undefined
  /** Whether any site serves this host (for redirect validation). */
  knowsHost(host: string): boolean
}

export function compileSiteRouter<S extends RoutableSite>(sites: readonly S[]): SiteRouter<S> {
  const byPattern = new Map<string, S[]>()
  for (const site of sites) {
    for (const host of site.hosts) {
      const list = byPattern.get(host) ?? []
      list.push(site)
      byPattern.set(host, list)
    }
  }
  for (const list of byPattern.values()) list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length)
  const table = compileHostTable([...byPattern.entries()])
  return {
    route(host: string, path: string): S | undefined {
      const candidates = table.lookup(host)
      if (!candidates) return undefined
      if (candidates.length === 1 && candidates[0]!.pathPrefix === '/') return candidates[0]
      for (const site of candidates) if (prefixMatches(site.pathPrefix, path)) return site
      return undefined
    },
    knowsHost(host: string): boolean {
      return table.lookup(host) !== undefined
    },
  }
}

export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true
  if (!path.startsWith(prefix)) return false
  if (path.length === prefix.length || prefix.endsWith('/')) return true
  const next = path.charCodeAt(prefix.length)
  return next === 47 /* / */ || next === 63 /* ? */
}

export { canonicalHost }
