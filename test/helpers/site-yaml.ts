/**
 * The config most gateway tests start from: an HTTPS listener on 127.0.0.1, the HTTP listener off, and one site on
 * `a.test` served with the `site.pem` / `site-key.pem` certificate (the caller makes it, e.g. `certs: { site:
 * ['a.test'] }` for `startGateway`). Only the preamble: protections and other sections go in `extra`.
 */

export interface SiteYamlOptions {
  /** The site's upstream: a URL, or a port on 127.0.0.1. */
  readonly upstream: string | number
  /** HTTPS port; 0 lets the system pick. Default 0. */
  readonly port?: number
  /** Writes `http2: true` on the HTTPS listener (as `LISTEN_HTTPS_ONLY` does); omitted otherwise. */
  readonly http2?: boolean
  /** `false` turns the admin listener off; a string is its YAML flow mapping. Omitted: no `admin` line. */
  readonly admin?: false | string
  /** CIDRs for `trustedProxies`; omitted: no `trustedProxies` line. */
  readonly trustedProxies?: readonly string[]
  /** The site's `name`; omitted: the site has none. */
  readonly name?: string
  /** More top-level YAML, appended as is after the `sites` block. */
  readonly extra?: string
}

/** Renders the preamble described above, ending with a newline. */
export function oneSiteYaml(o: SiteYamlOptions): string {
  const upstream = typeof o.upstream === 'number' ? `http://127.0.0.1:${o.upstream}` : o.upstream
  const admin = o.admin === undefined ? '' : `  admin: ${o.admin === false ? '{ enabled: false }' : o.admin}\n`
  return `listen:
  https: { host: 127.0.0.1, port: ${o.port ?? 0}${o.http2 ? ', http2: true' : ''} }
  http: { enabled: false }
${admin}${o.trustedProxies ? `trustedProxies: [${o.trustedProxies.join(', ')}]\n` : ''}tls:
  certificates:
    - { hosts: [a.test], cert: site.pem, key: site-key.pem }
sites:
  - ${o.name === undefined ? '' : `name: ${o.name}\n    `}hosts: [a.test]
    upstream: ${upstream}
${o.extra ?? ''}`
}
