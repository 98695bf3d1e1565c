/**
 * Parsing of the Host header (or HTTP/2 :authority). Pure.
 * Accepts `name`, `name:port`, `[v6]`, `[v6]:port`. Rejects userinfo (`user@host`), empty names, bad ports and
 * characters outside RFC 3986 reg-name — such requests get 400, never a redirect or a proxy attempt.
 */

export interface ParsedHost {
  /** Lower-case host name or IP literal, without brackets or port. */
  readonly name: string
  readonly port: number | undefined
  /** As it should be written back into a URL: `[v6]` keeps its brackets; no port. */
  readonly urlHost: string
}

const REG_NAME = /^[a-z0-9._~!$&'()*+,;=%-]+$/
const V6 = /^[0-9a-f:.]+$/

export function parseHostHeader(value: string | undefined): ParsedHost | undefined {
  if (value === undefined || value.length === 0 || value.length > 261) return undefined
  const v = value.toLowerCase()
  let name: string
  let rest: string
  if (v.startsWith('[')) {
    const end = v.indexOf(']')
    if (end < 0) return undefined
    name = v.slice(1, end)
    if (!V6.test(name) || !name.includes(':')) return undefined
    rest = v.slice(end + 1)
    if (rest !== '' && !rest.startsWith(':')) return undefined
  } else {
    const colon = v.indexOf(':')
    name = colon < 0 ? v : v.slice(0, colon)
    rest = colon < 0 ? '' : v.slice(colon)
    if (name.endsWith('.')) name = name.slice(0, -1)
    if (!REG_NAME.test(name) || name.includes('%')) return undefined
  }
  let port: number | undefined
  if (rest !== '') {
    const digits = rest.slice(1)
    if (!/^\d{1,5}$/.test(digits)) return undefined
    port = Number(digits)
    if (port < 1 || port > 65535) return undefined
  }
  return { name, port, urlHost: v.startsWith('[') ? `[${name}]` : name }
}
