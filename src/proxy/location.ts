/**
 * Rewrites a Location header that points at the upstream's own address (`http://127.0.0.1:3000/x`) to the public
 * origin the client used (`https://club.example/x`), like nginx's `proxy_redirect default`. Pure.
 * Relative Locations and Locations pointing anywhere else are returned unchanged.
 */

export interface LocationRewriter {
  rewrite(location: string, publicHost: string): string
}

/** `publicHost` is the Host the client sent (with its port, if any), so the client is sent back where it was. */
export function compileLocationRewriter(upstreams: string | readonly string[]): LocationRewriter {
  const prefixes = new Set<string>()
  for (const upstream of typeof upstreams === 'string' ? [upstreams] : upstreams) {
    const u = new URL(upstream)
    const defaultPort = u.protocol === 'https:' ? '443' : '80'
    const port = u.port || defaultPort
    prefixes.add(`${u.protocol}//${u.hostname}:${port}`.toLowerCase())
    if (port === defaultPort) prefixes.add(`${u.protocol}//${u.hostname}`.toLowerCase())
  }
  return {
    rewrite(location: string, publicHost: string): string {
      if (location.charCodeAt(0) === 47 /* / */) return location
      const lower = location.slice(0, 64).toLowerCase()
      for (const prefix of prefixes) {
        if (lower.startsWith(prefix)) {
          const rest = location.slice(prefix.length)
          const next = rest.charCodeAt(0)
          // A browser reads `\` after the authority as `/`, so it ends the origin too (never leak the internal one).
          if (rest === '' || next === 47 || next === 63 || next === 35 || next === 92) {
            return `https://${publicHost}${rest === '' ? '/' : rest}`
          }
        }
      }
      return location
    },
  }
}
