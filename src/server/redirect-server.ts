/**
 * The plain-HTTP listener. Every request gets a 308 (or 301) to the same path on HTTPS, for hosts Rampart serves
 * and nothing else; a missing, malformed or foreign Host gets 400 (never an open redirect).
 * `/.well-known/acme-challenge/<token>` can be served from a webroot folder or passed to the site's upstream, so an
 * existing certbot setup keeps renewing.
 * Client limits are the HTTPS listener's: connection caps (counted for this listener alone), header and request
 * timeouts checked at the same interval.
 */
import http from 'node:http'
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Logger } from 'pino'
import type { GatewayState } from './gateway.js'
import { buildHttpsRedirect } from '../http/redirect.js'
import { parseHostHeader } from '../http/host.js'
import { normalizeIp } from '../net/cidr.js'
import { forwardRequestHeaders } from '../proxy/forward-headers.js'
import { endToEndHeaders } from '../proxy/hop-by-hop.js'
import { exchangeUpstream } from '../proxy/forwarder.js'
import { randomUUID } from 'node:crypto'
import { capConnections, connectionsCheckingInterval } from './tls-server.js'

const ACME_PREFIX = '/.well-known/acme-challenge/'
const ACME_TOKEN = /^[A-Za-z0-9_-]{1,256}$/

export interface RedirectServerOptions {
  readonly state: GatewayState
  readonly logger: Logger
  readonly baseDir: string
  /** Extra headers for every answer (the response policy's plain-HTTP set: never HSTS). */
  readonly ownHeaders?: () => ReadonlyArray<readonly [string, string]>
}

export function createRedirectServer(o: RedirectServerOptions): http.Server {
  const cfg = o.state.plan.config
  const server = http.createServer({
    maxHeaderSize: cfg.limits.maxHeaderSize,
    headersTimeout: cfg.limits.headersTimeout,
    requestTimeout: cfg.limits.requestTimeout,
    keepAliveTimeout: cfg.limits.keepAliveTimeout,
    connectionsCheckingInterval: connectionsCheckingInterval(cfg.limits),
  }, (req, res) => {
    const plan = o.state.plan
    const http_ = plan.config.listen.http
    const reqId = randomUUID()
    const url = req.url ?? ''
    const finish = (status: number, headers: Record<string, string>, body: string): void => {
      for (const [k, v] of o.ownHeaders?.() ?? []) res.setHeader(k, v)
      res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body), [plan.requestIdHeader]: reqId })
      res.end(req.method === 'HEAD' ? undefined : body)
      if (plan.accessLog) {
        o.logger.info({ type: 'access', reqId, clientIp: normalizeIp(req.socket.remoteAddress ?? ''), method: req.method,
          host: req.headers.host, path: url.split('?')[0], status, listener: 'http' }, 'request')
      }
    }
    if (http_.acme.mode !== 'off' && url.startsWith(ACME_PREFIX)) {
      return void serveAcme(req, res, o, reqId, finish)
    }
    const decision = buildHttpsRedirect(req.headers.host, url, (h) => plan.router.knowsHost(h),
      http_.redirect.httpsPort ?? 443)
    if (!decision.ok) {
      return finish(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' },
        decision.reason === 'bad-target' ? 'Bad request target\n' : 'Unknown or invalid Host\n')
    }
    finish(http_.redirect.status, { location: decision.location, 'content-type': 'text/plain; charset=utf-8' },
      `Redirecting to ${decision.location}\n`)
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy()
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
    socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
  })
  capConnections(server, cfg)
  return server
}

async function serveAcme(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  o: RedirectServerOptions,
  reqId: string,
  finish: (status: number, headers: Record<string, string>, body: string) => void,
): Promise<void> {
  const plan = o.state.plan
  const acme = plan.config.listen.http.acme
  const url = req.url ?? ''
  const host = parseHostHeader(req.headers.host)
  if (!host || !plan.router.knowsHost(host.name)) {
    return finish(400, { 'content-type': 'text/plain; charset=utf-8' }, 'Unknown or invalid Host\n')
  }
  if (acme.mode === 'folder') {
    const token = url.slice(ACME_PREFIX.length).split('?')[0] ?? ''
    if (!ACME_TOKEN.test(token) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      return finish(404, { 'content-type': 'text/plain' }, 'Not found\n')
    }
    try {
      const dir = resolve(o.baseDir, acme.folder ?? '.')
      const body = await readFile(join(dir, '.well-known', 'acme-challenge', token), 'utf8')
      return finish(200, { 'content-type': 'text/plain' }, body)
    } catch {
      return finish(404, { 'content-type': 'text/plain' }, 'Not found\n')
    }
  }
  // upstream mode: pass the challenge to the site's app unchanged (it may run certbot --webroot itself).
  const site = plan.router.route(host.name, url.split('?')[0] ?? '/')
  if (!site) return finish(400, { 'content-type': 'text/plain' }, 'Unknown or invalid Host\n')
  const headers = forwardRequestHeaders(req.headers, {
    remoteIp: normalizeIp(req.socket.remoteAddress ?? ''), peerTrusted: false, host: req.headers.host ?? '',
    listenerPort: plan.config.listen.http.port, proto: 'http', requestIdHeader: plan.requestIdHeader, requestId: reqId,
  }, site.hostMode)
  const picked = site.balancer.pick(Date.now())
  if (!picked) return finish(503, { 'content-type': 'text/plain' }, 'Service Unavailable\n')
  const call = exchangeUpstream(picked.target, { method: req.method ?? 'GET', path: url, headers, body: null }, {
    head(status, upstream) {
      const answer = endToEndHeaders(upstream)
      try {
        for (const k in answer) res.setHeader(k, answer[k]!)
      } catch {
        // A header Node refuses to send: nothing went out yet.
        for (const k of res.getHeaderNames()) res.removeHeader(k)
        call.cancel()
        return finish(502, { 'content-type': 'text/plain' }, 'Bad Gateway\n')
      }
      res.statusCode = status
    },
    data(chunk) {
      if (res.destroyed || res.write(chunk)) return true
      res.once('drain', () => call.resume())
      return false
    },
    end: () => res.end(),
    error(_err, afterHead) {
      if (afterHead) res.destroy()
      else if (!call.cancelled) finish(502, { 'content-type': 'text/plain' }, 'Bad Gateway\n')
    },
  })
  res.once('close', () => { if (!res.writableEnded) call.cancel() })
}
