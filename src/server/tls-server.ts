/**
 * The HTTPS listener's server object: HTTP/2 with HTTP/1.1 fallback (ALPN), or HTTP/1.1 only.
 *
 * Certificates come from a `CertificateHolder` whose set can be swapped at any time (reload): SNI picks a context
 * from the current set per handshake, and clients without SNI get the current default. Open connections keep the
 * context they were handshaken with, so a reload drops nothing. Client-side limits are set here, once, when the
 * server is created (a reload does not change them; a restart does):
 * - connection caps, in total and per client address, checked on the raw TCP connection before any TLS work;
 * - the TLS handshake timeout, so a connection that never finishes (or never starts) its ClientHello is closed;
 * - no TLS renegotiation;
 * - header size, header and request timeouts against slowloris, keep-alive, and how often Node checks them;
 * - for HTTP/2, which has no request timeout of its own, a stream whose body is unfinished after the request
 *   timeout is reset; a session that cancels streams in bulk (rapid reset) is ended.
 */
import { constants as cryptoConstants } from 'node:crypto'
import http2 from 'node:http2'
import https from 'node:https'
import type { Server as NetServer, Socket } from 'node:net'
import type { SecureContext, SecureContextOptions } from 'node:tls'
import type { CertificateSet } from '../tls/certs.js'
import { profileContextOptions, tlsProfile } from '../tls/profiles.js'
import type { RampartConfig } from '../config/schema.js'
import { compileCidrSet, type CidrSet } from '../net/cidr.js'
import { ipSubject } from '../store/keys.js'
import { ConnectionLimiter, type ConnectionCap } from './connection-limits.js'

/** Header lines a request may carry (HTTP/1.1; HTTP/2 has maxHeaderListPairs, the same number). */
export const MAX_HEADER_LINES = 128

export interface CertificateHolder {
  current: CertificateSet
  readonly ticketKeys: Buffer
}

export type HttpsServer = http2.Http2SecureServer | https.Server

export interface ServerLimits {
  readonly maxHeaderSize: number
  readonly headersTimeout: number
  readonly requestTimeout: number
  readonly keepAliveTimeout: number
}

export function createTlsServer(
  config: RampartConfig,
  holder: CertificateHolder,
  handler: (req: never, res: never) => void,
): HttpsServer {
  const SNICallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const set = holder.current
    cb(null, set.table.lookup(servername) ?? set.defaultContext)
  }
  const limits = config.limits
  const common = { ...defaultContextOptions(config, holder), SNICallback, handshakeTimeout: limits.handshakeTimeout }
  let server: HttpsServer
  if (config.listen.https.http2) {
    server = http2.createSecureServer({
      ...common,
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      maxHeaderListPairs: MAX_HEADER_LINES,
      maxSessionMemory: 10,
      settings: {
        maxConcurrentStreams: 128,
        maxHeaderListSize: limits.maxHeaderSize,
        enablePush: false,
      },
    } as http2.SecureServerOptions, handler as never)
    resetUnfinishedStreams(server, limits.requestTimeout)
    endRapidResets(server)
  } else {
    server = https.createServer({
      ...common,
      ALPNProtocols: ['http/1.1'],
      maxHeaderSize: limits.maxHeaderSize,
    }, handler as never)
  }
  // For HTTP/1.1 (directly, or as the HTTP/2 server's fallback) Node reads these from the server object.
  const s = server as unknown as Record<string, unknown>
  s['headersTimeout'] = limits.headersTimeout
  s['requestTimeout'] = limits.requestTimeout
  s['keepAliveTimeout'] = limits.keepAliveTimeout
  s['maxHeaderSize'] = limits.maxHeaderSize
  // Node keeps only the first maxHeadersCount header lines and drops the rest silently; one more than the gateway
  // accepts lets it see an overflow and refuse it (431), as HTTP/2's maxHeaderListPairs does.
  s['maxHeadersCount'] = MAX_HEADER_LINES + 1
  s['connectionsCheckingInterval'] = connectionsCheckingInterval(limits)
  // A TLS error (garbage, handshake timeout, a refused renegotiation, a fatal alert) leaves a socket nothing can
  // use. Node hands it to the HTTP layer's 'clientError', whose answer is plaintext HTTP that cannot go through a
  // broken TLS layer: without these the raw connection would stay open, and counted, until the peer goes away.
  // (HTTP parse errors do not come this way: they still get their 400/408/431 answer.)
  const destroy = function (this: Socket): void { this.destroy() }
  server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy())
  server.on('secureConnection', (socket: Socket) => socket.on('error', destroy))
  capConnections(server, config)
  return server
}

/** How often Node checks the header and request timeouts (its default is 30 s, which would make them that late). */
export function connectionsCheckingInterval(limits: RampartConfig['limits']): number {
  return Math.min(1000, Math.max(100, Math.floor(Math.min(limits.headersTimeout, limits.requestTimeout) / 4)))
}

/** Emitted on a listener for each connection its caps refused, with a `ConnectionRefusal`. */
export const CONNECTION_REFUSED = 'connectionRefused'

export interface ConnectionRefusal {
  /** Client address as the cap counted it (IPv6: its /64). */
  readonly ip: string
  readonly cap: ConnectionCap
}

/**
 * Applies `limits.maxConnections` and `limits.maxConnectionsPerIp` to `server`'s TCP connections. A refused socket
 * is destroyed before the listener's own 'connection' handlers (TLS, HTTP) see it, so a flood costs no crypto and
 * no parser; the server emits `CONNECTION_REFUSED` for it (for metrics and logs). Peers in `trustedProxies` (a
 * load balancer carrying many clients) count towards the total only.
 */
export function capConnections(server: NetServer, config: RampartConfig): void {
  const limiter = new ConnectionLimiter({ total: config.limits.maxConnections, perKey: config.limits.maxConnectionsPerIp })
  const trusted: CidrSet = compileCidrSet(config.trustedProxies)
  const handlers = server.listeners('connection') as Array<(socket: Socket) => void>
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    const remote = socket.remoteAddress ?? ''
    const ip = ipSubject(remote)
    const admission = limiter.admit(ip, trusted.size > 0 && trusted.has(remote))
    if (!admission.ok) {
      socket.destroy()
      server.emit(CONNECTION_REFUSED, { ip, cap: admission.cap } satisfies ConnectionRefusal)
      return
    }
    socket.once('close', admission.release)
    for (const handler of handlers) handler.call(server, socket)
  })
}

/** Streams a client may cancel in one second before its session is ended. Browsers cancel a few, not hundreds. */
const MAX_CLIENT_RESETS_PER_SECOND = 100

/**
 * Ends an HTTP/2 session (GOAWAY ENHANCE_YOUR_CALM, then close) whose client cancels streams faster than
 * MAX_CLIENT_RESETS_PER_SECOND: the "rapid reset" attack, where each stream costs the client one frame and the
 * gateway a request. Left to Node, the session stops reading after about a thousand resets but stays open,
 * holding its connection until shutdown.
 */
function endRapidResets(server: http2.Http2SecureServer): void {
  server.on('session', (session: http2.ServerHttp2Session) => {
    let windowStart = 0
    let resets = 0
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      stream.once('aborted', () => {
        const now = performance.now()
        if (now - windowStart > 1000) {
          windowStart = now
          resets = 0
        }
        if (++resets <= MAX_CLIENT_RESETS_PER_SECOND || session.destroyed) return
        session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
        session.destroy(undefined, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
      })
    })
  })
}

/** Resets an HTTP/2 stream whose request body is still arriving after `requestTimeout` (HTTP/1.1's rule, for h2). */
function resetUnfinishedStreams(server: http2.Http2SecureServer, requestTimeout: number): void {
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    if (stream.endAfterHeaders) return
    const timer = setTimeout(() => {
      if (!stream.destroyed && stream.state.remoteClose !== 1) stream.close(http2.constants.NGHTTP2_CANCEL)
    }, requestTimeout)
    stream.once('close', () => clearTimeout(timer))
  })
}

/**
 * The profile, the default certificate and the shared session settings: what clients without SNI are served.
 * Renegotiation is refused here for every connection (OpenSSL keeps the options of the context a connection starts
 * with when SNI switches it to a site's context): a client-initiated TLS 1.2 renegotiation makes the server redo
 * the handshake's crypto on demand, which Node would allow three times per connection.
 */
function defaultContextOptions(config: RampartConfig, holder: CertificateHolder): SecureContextOptions {
  const first = holder.current.material[holder.current.defaultIndex]!
  return {
    ...profileContextOptions(tlsProfile(config.tls.profile, config.tls.minVersion)),
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
    cert: first.cert,
    key: first.key,
    sessionTimeout: Math.max(1, Math.round(config.tls.sessionTimeout / 1000)),
    ticketKeys: holder.ticketKeys,
  }
}

/** Replaces the context served to clients without SNI; SNI clients read `holder.current` on each handshake. */
export function applyDefaultContext(server: HttpsServer, config: RampartConfig, holder: CertificateHolder): void {
  server.setSecureContext(defaultContextOptions(config, holder))
}
