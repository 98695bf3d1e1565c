/**
 * The HTTPS listener's server object: HTTP/2 with HTTP/1.1 fallback (ALPN), or HTTP/1.1 only.
 *
 * Certificates come from a `CertificateHolder` whose set can be swapped at any time (reload): SNI picks a context
 * from the current set per handshake, and clients without SNI get the current default. Open connections keep the
 * context they were handshaken with, so a reload drops nothing. Client-side limits (header size, header and
 * request timeouts against slowloris, keep-alive) are set here, once.
 */
import http2 from 'node:http2'
import https from 'node:https'
import type { SecureContext, SecureContextOptions } from 'node:tls'
import type { CertificateSet } from '../tls/certs.js'
import { profileContextOptions, tlsProfile } from '../tls/profiles.js'
import type { RampartConfig } from '../config/schema.js'

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
  const common = { ...defaultContextOptions(config, holder), SNICallback }
  let server: HttpsServer
  if (config.listen.https.http2) {
    server = http2.createSecureServer({
      ...common,
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
      maxHeaderListPairs: 128,
      maxSessionMemory: 10,
      settings: {
        maxConcurrentStreams: 128,
        maxHeaderListSize: limits.maxHeaderSize,
        enablePush: false,
      },
    } as http2.SecureServerOptions, handler as never)
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
  return server
}

/** The profile, the default certificate and the shared session settings: what clients without SNI are served. */
function defaultContextOptions(config: RampartConfig, holder: CertificateHolder): SecureContextOptions {
  const first = holder.current.material[holder.current.defaultIndex]!
  return {
    ...profileContextOptions(tlsProfile(config.tls.profile, config.tls.minVersion)),
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
