/**
 * CIDR sets, compiled once from config and matched per request.
 *
 * Contract: `compileCidrSet(list)` throws on an invalid entry (config validation reports it earlier, with a line).
 * `set.has(ip)` accepts IPv4, IPv6 and IPv4-mapped IPv6 (`::ffff:10.0.0.1` matches `10.0.0.0/8`) and is false for
 * anything unparsable. Pure: no sockets, no I/O.
 */
import ipaddr from 'ipaddr.js'

type Parsed = ipaddr.IPv4 | ipaddr.IPv6

export interface CidrSet {
  readonly size: number
  has(ip: string): boolean
  readonly source: readonly string[]
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128). Returns undefined when invalid. */
export function parseCidr(text: string): [Parsed, number] | undefined {
  try {
    if (text.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(text)
      return [unmap(addr), addr.kind() === 'ipv6' && unmap(addr).kind() === 'ipv4' ? bits - 96 : bits]
    }
    if (!ipaddr.isValid(text)) return undefined
    const addr = unmap(ipaddr.parse(text))
    return [addr, addr.kind() === 'ipv4' ? 32 : 128]
  } catch {
    return undefined
  }
}

export function isValidCidr(text: string): boolean {
  return parseCidr(text) !== undefined
}

function unmap(addr: Parsed): Parsed {
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address()
  }
  return addr
}

/** Parses a client address (no CIDR). IPv4-mapped IPv6 becomes IPv4. Undefined when unparsable. */
export function parseIp(ip: string): Parsed | undefined {
  if (!ipaddr.isValid(ip)) return undefined
  try {
    return unmap(ipaddr.parse(ip))
  } catch {
    return undefined
  }
}

/** Normal textual form of an address: IPv4 dotted, IPv6 RFC 5952 compact. Unparsable input comes back unchanged. */
/** An IPv4 address in canonical dotted-quad form (no leading zeros): already normal, nothing to parse. */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/

/** Whether `ip` is an IPv4 address written canonically, as sockets report them: the common case, with no parsing. */
export function isCanonicalIpv4(ip: string): boolean {
  return CANONICAL_V4.test(ip)
}

export function normalizeIp(ip: string): string {
  if (CANONICAL_V4.test(ip)) return ip
  const parsed = parseIp(ip)
  return parsed ? parsed.toString() : ip
}

export function compileCidrSet(list: readonly string[]): CidrSet {
  const v4: Array<[ipaddr.IPv4, number]> = []
  const v6: Array<[ipaddr.IPv6, number]> = []
  for (const entry of list) {
    const parsed = parseCidr(entry)
    if (!parsed) throw new Error(`invalid CIDR: ${entry}`)
    if (parsed[0].kind() === 'ipv4') v4.push(parsed as [ipaddr.IPv4, number])
    else v6.push(parsed as [ipaddr.IPv6, number])
  }
  // A small cache keeps the hot path to one Map lookup for repeat clients; bounded so it cannot grow without limit.
  const cache = new Map<string, boolean>()
  const CACHE_MAX = 4096
  return {
    size: list.length,
    source: Object.freeze([...list]),
    has(ip: string): boolean {
      if (v4.length === 0 && v6.length === 0) return false
      const hit = cache.get(ip)
      if (hit !== undefined) return hit
      const addr = parseIp(ip)
      let result = false
      if (addr) {
        if (addr.kind() === 'ipv4') {
          for (const [range, bits] of v4) if ((addr as ipaddr.IPv4).match(range, bits)) { result = true; break }
        } else {
          for (const [range, bits] of v6) if ((addr as ipaddr.IPv6).match(range, bits)) { result = true; break }
        }
      }
      if (cache.size >= CACHE_MAX) cache.clear()
      cache.set(ip, result)
      return result
    },
  }
}

export const EMPTY_CIDR_SET: CidrSet = compileCidrSet([])
