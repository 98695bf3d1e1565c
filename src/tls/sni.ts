/**
 * Host-name matching for SNI and for site routing. Pure.
 *
 * `*.a.test` matches exactly one extra label: `x.a.test`, not `a.test` and not `y.x.a.test` (as browsers treat
 * certificates). Case and IDN do not matter: names are compared in lower-case ASCII (punycode). A trailing dot is
 * ignored. Exact names win over wildcards.
 */
import { domainToASCII } from 'node:url'

/** Lower-case ASCII form of a host name, or undefined when it is not a valid name. */
export function canonicalHost(name: string): string | undefined {
  if (name.length === 0 || name.length > 253) return undefined
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name
  // Fast path: already lower-case ASCII letters, digits, dots and hyphens.
  if (/^[a-z0-9.-]+$/.test(trimmed)) return trimmed
  const ascii = domainToASCII(trimmed)
  return ascii === '' ? undefined : ascii
}

export function hostMatchesPattern(host: string, pattern: string): boolean {
  const h = canonicalHost(host)
  if (h === undefined) return false
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1) // ".a.test"
    if (!h.endsWith(suffix)) return false
    const label = h.slice(0, h.length - suffix.length)
    return label.length > 0 && !label.includes('.')
  }
  return h === pattern
}

export interface HostTable<T> {
  /** The value for this host, exact names before wildcards; undefined when none matches. */
  lookup(host: string): T | undefined
}

/** Compiles `[pattern, value]` pairs (patterns already canonical) into a two-map lookup. First entry wins. */
export function compileHostTable<T>(entries: ReadonlyArray<readonly [string, T]>): HostTable<T> {
  const exact = new Map<string, T>()
  const wildcard = new Map<string, T>() // key: the parent domain, e.g. "a.test" for "*.a.test"
  for (const [pattern, value] of entries) {
    if (pattern.startsWith('*.')) {
      const parent = pattern.slice(2)
      if (!wildcard.has(parent)) wildcard.set(parent, value)
    } else if (!exact.has(pattern)) {
      exact.set(pattern, value)
    }
  }
  return {
    lookup(host: string): T | undefined {
      const h = canonicalHost(host)
      if (h === undefined) return undefined
      const hit = exact.get(h)
      if (hit !== undefined) return hit
      const dot = h.indexOf('.')
      if (dot <= 0) return undefined
      return wildcard.get(h.slice(dot + 1))
    },
  }
}
