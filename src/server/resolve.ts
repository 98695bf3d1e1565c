/**
 * Request-target checks shared by the HTTPS gateway and the WebSocket upgrade path: origin-form target, a valid
 * Host (and, for HTTP/2, an :authority that agrees with it), and the site that serves it. Pure.
 *
 * Two spellings no client sends but attackers do are refused, because upstreams disagree on what they mean: a `#`
 * (a fragment is never part of a request target; some upstreams cut the path there, others resolve `/x#/../admin`
 * to `/admin`, HAProxy's CVE-2023-45539), and an encoded NUL in the path (`/admin%00.php` is `/admin` to a C
 * runtime; nginx and Apache refuse it too).
 */
import type { Plan, CompiledSite } from './plan.js'
import { parseHostHeader } from '../http/host.js'
import type { ErrorCode } from '../errors.js'

export type Resolved =
  | { ok: true; site: CompiledSite; host: string; path: string }
  | { ok: false; code: ErrorCode }

export function resolveTarget(
  plan: Plan,
  url: string,
  hostHeader: string | undefined,
  authority: string | undefined,
): Resolved {
  if (url.length > plan.maxUriLength) return { ok: false, code: 'RAMPART_ERR_HTTP_URI_TOO_LONG' }
  if (url.charCodeAt(0) !== 47 || url.includes('#')) return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_REQUEST' }
  if (authority !== undefined && hostHeader !== undefined && hostHeader !== authority) {
    return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_HOST' }
  }
  const hostValue = authority ?? hostHeader
  const host = parseHostHeader(hostValue)
  if (!host || hostValue === undefined) return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_HOST' }
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (path.includes('%00')) return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_REQUEST' }
  const site = plan.router.route(host.name, path)
  if (!site) return { ok: false, code: 'RAMPART_ERR_HTTP_NO_SITE' }
  return { ok: true, site, host: hostValue, path }
}
