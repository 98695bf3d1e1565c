/**
 * Hop-by-hop header handling (RFC 9110 §7.6.1). Pure. These headers describe one connection and must not be
 * forwarded, in either direction; neither may any header the Connection header names.
 */

export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
])

type Headers = Record<string, string | string[] | number | undefined>

/**
 * A copy of `headers` holding only end-to-end fields: no hop-by-hop header, no header the Connection header names,
 * no HTTP/2 pseudo-header (`:path`…), no undefined value, and none of the names in `drop`. Built in one pass into a
 * fresh object, which stays a fast-property object (deleting keys in place would turn it into a slow dictionary).
 */
export function endToEndHeaders(headers: Readonly<Headers>, drop?: ReadonlySet<string>): Headers {
  const named = connectionNamed(headers['connection'])
  const out: Headers = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || name.charCodeAt(0) === 58 /* : */ || HOP_BY_HOP.has(name)) continue
    if (named !== undefined && named.has(name)) continue
    if (drop !== undefined && drop.has(name)) continue
    out[name] = value
  }
  return out
}

/** Names listed in a Connection header, lower-cased; undefined when it lists nothing but keep-alive/close. */
function connectionNamed(connection: string | string[] | number | undefined): Set<string> | undefined {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return undefined
  const list = Array.isArray(connection) ? connection.join(',') : String(connection)
  let named: Set<string> | undefined
  for (const part of list.split(',')) {
    const n = part.trim().toLowerCase()
    if (n !== '' && n !== 'keep-alive' && n !== 'close') (named ??= new Set()).add(n)
  }
  return named
}
