/**
 * Request-target checks shared by the HTTPS gateway and the WebSocket upgrade path: origin-form target, a valid
 * Host (and, for HTTP/2, an :authority that agrees with it), and the site that serves it. Pure.
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
  if (url.charCodeAt(0) !== 47) return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_REQUEST' }
  if (authority !== undefined && hostHeader !== undefined && hostHeader !== authority) {
    return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_HOST' }
  }
  const hostValue = authority ?? hostHeader
  const host = parseHostHeader(hostValue)
  if (!host || hostValue === undefined) return { ok: false, code: 'RAMPART_ERR_HTTP_BAD_HOST' }
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const site = plan.router.route(host.name, path)
  if (!site) return { ok: false, code: 'RAMPART_ERR_HTTP_NO_SITE' }
  return { ok: true, site, host: hostValue, path }
}
