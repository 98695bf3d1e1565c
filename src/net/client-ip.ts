/**
 * Which address is the client. Pure.
 *
 * "Remote IP" is the socket peer. "Client IP" is the address the request came from once trusted proxies are peeled
 * off: when the peer is in `trustedProxies`, X-Forwarded-For is read right to left and the first address that is not
 * a trusted proxy is the client. A peer that is not trusted is the client, whatever headers it sends: a spoofed
 * X-Forwarded-For from the internet is ignored. Malformed entries stop the walk (the last good hop is used).
 */
import { normalizeIp, parseIp, type CidrSet } from './cidr.js'

export function resolveClientIp(remoteIp: string, forwardedFor: string | string[] | undefined, trusted: CidrSet): string {
  const remote = normalizeIp(remoteIp)
  if (forwardedFor === undefined || trusted.size === 0 || !trusted.has(remote)) return remote
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor
  const hops = header.split(',')
  let client = remote
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = stripPort(hops[i]!.trim())
    if (hop === '' || !parseIp(hop)) break
    client = normalizeIp(hop)
    if (!trusted.has(client)) break
  }
  return client
}

/** `1.2.3.4:5678` → `1.2.3.4`; `[2001:db8::1]:443` → `2001:db8::1`; bare IPv6 unchanged. */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']')
    return end > 0 ? hop.slice(1, end) : hop
  }
  const colon = hop.indexOf(':')
  if (colon > 0 && hop.indexOf(':', colon + 1) === -1) return hop.slice(0, colon)
  return hop
}
