/**
 * Request matchers for rate limits and login routes: by site, method and path (exact or prefix).
 *
 * Contract: `compileMatch(spec)` is called once at startup; `matcher(site, method, normalizedPath)` runs per
 * request and allocates nothing. Paths are compared after `normalizePath`, computed once per request by the caller:
 * an attacker must not dodge a login lockout by posting to `/Login`, `/login/`, `//login`, `/./login` or `/%6Cogin`
 * when the application serves all of them as `/login`. Comparison ignores case and a trailing slash; matching a
 * little too much is the safe side for a protection.
 *
 * Pure.
 */

export interface MatchSpec {
  /** Site name (a `sites[].name`, or the first host of an unnamed site). Absent: every site. */
  readonly site?: string | undefined
  /** One method or several. Absent: every method. */
  readonly method?: string | readonly string[] | undefined
  /** Exact path. */
  readonly path?: string | undefined
  /** Path prefix (`/api` matches `/api` and `/api/...`, not `/apix`). */
  readonly pathPrefix?: string | undefined
}

export type Matcher = (site: string | undefined, method: string, normalizedPath: string) => boolean

const UNRESERVED = /%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])/g

/**
 * Canonical form of a request path for matching: query and `;params` cut, percent-encoded unreserved characters
 * decoded, `//` collapsed, `.` and `..` segments resolved, lower-cased, trailing slash removed (except for `/`).
 * Encoded slashes (`%2F`) stay encoded: they are data, not separators.
 */
export function normalizePath(raw: string): string {
  let p = raw
  const q = p.indexOf('?')
  if (q >= 0) p = p.slice(0, q)
  const h = p.indexOf('#')
  if (h >= 0) p = p.slice(0, h)
  if (p.includes('%')) p = p.replace(UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16)))
  const out: string[] = []
  for (let seg of p.split('/')) {
    const semi = seg.indexOf(';')
    if (semi >= 0) seg = seg.slice(0, semi)
    if (seg === '' || seg === '.') continue
    if (seg === '..') {
      out.pop()
      continue
    }
    out.push(seg)
  }
  return `/${out.join('/')}`.toLowerCase()
}

function normalizeSpecPath(path: string): string {
  return normalizePath(path)
}

export function compileMatch(spec: MatchSpec): Matcher {
  const site = spec.site
  const methods = spec.method === undefined
    ? undefined
    : new Set((typeof spec.method === 'string' ? [spec.method] : spec.method).map((m) => m.toUpperCase()))
  const exact = spec.path !== undefined ? normalizeSpecPath(spec.path) : undefined
  const prefix = spec.pathPrefix !== undefined ? normalizeSpecPath(spec.pathPrefix) : undefined
  const prefixSlash = prefix === undefined || prefix === '/' ? undefined : `${prefix}/`
  return (reqSite, method, path) => {
    if (site !== undefined && reqSite !== site) return false
    if (methods !== undefined && !methods.has(method)) return false
    if (exact !== undefined && path !== exact) return false
    if (prefix !== undefined && prefix !== '/' && path !== prefix && !path.startsWith(prefixSlash!)) return false
    return true
  }
}
