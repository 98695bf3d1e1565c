/**
 * WebSocket (and other HTTP/1.1 Upgrade) proxying. After the usual target, Host and site checks, the upgrade
 * request is re-sent to the upstream with the forwarding headers, and from then on bytes are relayed both ways
 * untouched, as nginx does: the upstream's own 101 answer and every frame pass through unchanged.
 * Failures before the upstream answers get a plain 502/504; after that, either side closing closes the other.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { GatewayState } from '../server/gateway.js'
import { resolveTarget } from '../server/resolve.js'
import { normalizeIp } from '../net/cidr.js'
import { resolveClientIp } from '../net/client-ip.js'
import { forwardRequestHeaders } from './forward-headers.js'
import { ERRORS, type ErrorCode } from '../errors.js'
import { requestIdFor } from '../http/request-id.js'

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

export interface UpgradeGate {
  /** Protections that must also apply to upgrades (access rules, bans). Return a code to refuse. */
  check?(info: { siteIndex: number; path: string; clientIp: string }): ErrorCode | undefined
}

export function handleUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  state: GatewayState,
  logger: Logger,
  gate: UpgradeGate = {},
): void {
  const plan = state.plan
  const started = performance.now()
  const reqId = requestIdFor(req.headers[plan.requestIdHeader], plan.trustIncomingId)
  client.on('error', () => client.destroy())

  const refuse = (code: ErrorCode, kind?: string): void => {
    const status = (ERRORS[code] as { status?: number }).status ?? 400
    const reason = status === 504 ? 'Gateway Timeout' : status === 502 ? 'Bad Gateway' : status === 403 ? 'Forbidden' : 'Bad Request'
    logger.info({ type: 'access', reqId, method: req.method, path: (req.url ?? '').split('?')[0], status, upgrade: true, error: code, errorKind: kind }, 'request')
    if (client.writable) {
      client.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n` +
        `${plan.requestIdHeader}: ${reqId}\r\nConnection: close\r\n\r\n${reason}\n`)
    }
    client.destroy()
  }

  const upgrade = req.headers.upgrade
  if (typeof upgrade !== 'string' || !TOKEN.test(upgrade) || upgrade.toLowerCase() === 'h2c') {
    return refuse('RAMPART_ERR_HTTP_BAD_REQUEST')
  }
  const target = resolveTarget(plan, req.url ?? '', req.headers.host, undefined)
  if (!target.ok) return refuse(target.code)
  const remoteIp = normalizeIp(req.socket.remoteAddress ?? '')
  const peerTrusted = plan.trusted.size > 0 && plan.trusted.has(remoteIp)
  const clientIp = peerTrusted ? resolveClientIp(remoteIp, req.headers['x-forwarded-for'], plan.trusted) : remoteIp
  const denied = gate.check?.({ siteIndex: target.site.index, path: target.path, clientIp })
  if (denied) return refuse(denied)

  const site = target.site
  const headers = forwardRequestHeaders(req.headers, {
    remoteIp, peerTrusted, host: target.host, listenerPort: plan.httpsPort, proto: 'https',
    requestIdHeader: plan.requestIdHeader, requestId: reqId,
  }, site.hostMode)
  headers['connection'] = 'Upgrade'
  headers['upgrade'] = upgrade

  let head_ = `${req.method} ${req.url} HTTP/1.1\r\n`
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) head_ += `${name}: ${String(v)}\r\n`
  }
  head_ += '\r\n'

  const picked = site.balancer.pick(Date.now())
  if (!picked) return refuse('RAMPART_ERR_UPSTREAM_UNAVAILABLE', 'no-healthy-target')
  const u = new URL(picked.target.origin)
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
  const upstream = u.protocol === 'https:'
    ? tls.connect({ host: u.hostname, port, servername: net.isIP(u.hostname) ? undefined : u.hostname,
      rejectUnauthorized: plan.config.proxy.verifyUpstreamTls, ALPNProtocols: ['http/1.1'] })
    : net.connect({ host: u.hostname, port })
  let answered = false
  const connectTimer = setTimeout(() => {
    upstream.destroy()
    if (!answered) refuse('RAMPART_ERR_UPSTREAM_TIMEOUT', 'connect-timeout')
  }, site.config.timeouts.connect)
  upstream.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer))
  // Writes made before the connection is up are queued in order: the request head first, then client bytes.
  upstream.write(head_)
  if (head.length > 0) upstream.write(head)
  upstream.once('data', () => {
    answered = true
    logger.info({ type: 'access', reqId, clientIp, method: req.method, host: target.host, path: target.path, site: site.name,
      status: 101, upgrade: upgrade.toLowerCase(), upstreamMs: Math.round((performance.now() - started) * 1000) / 1000 }, 'request')
  })
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(connectTimer)
    if (!answered) {
      logger.warn({ code: 'RAMPART_ERR_UPSTREAM_WEBSOCKET', reqId, site: site.name, err: { message: err.message, code: err.code } },
        ERRORS.RAMPART_ERR_UPSTREAM_WEBSOCKET.message)
      refuse('RAMPART_ERR_UPSTREAM_UNREACHABLE', err.code === 'ECONNREFUSED' ? 'refused' : 'reset')
    } else {
      client.destroy()
    }
  })
  upstream.on('close', () => {
    clearTimeout(connectTimer)
    if (answered) client.end()
  })
  client.on('close', () => upstream.destroy())
  upstream.pipe(client)
  client.pipe(upstream)
}
