/**
 * Hop-by-hop header handling (RFC 9110 §7.6.1). Pure. These headers describe one connection and must not be
 * forwarded, in either direction; neither may any header the Connection header names.
 */

export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
])

type Headers = Record<string, string | string[] | number | undefined>

/** Deletes hop-by-hop headers and those named in Connection, in place. */
export function stripHopByHop(headers: Headers): void {
  const connection = headers['connection']
  if (connection !== undefined) {
    const list = Array.isArray(connection) ? connection.join(',') : String(connection)
    for (const name of list.split(',')) {
      const n = name.trim().toLowerCase()
      if (n) delete headers[n]
    }
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name]
}
