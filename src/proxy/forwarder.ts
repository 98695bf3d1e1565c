/**
 * Forwards one request to the upstream over an undici keep-alive pool and maps the outcome.
 *
 * Why not @fastify/reply-from: it rebuilds the target through WHATWG `URL`, which rewrites the path the legacy app
 * receives (`\` → `/`, dot-segments resolved or refused) and throws on a bad percent-escape; and by default it
 * retries a GET that got 503 up to ten times. A gateway that promises to proxy the app unchanged must send the
 * request target byte for byte and never retry on its own. This module does what reply-from does on top of undici,
 * without those behaviours and with the header work precompiled per site.
 *
 * Errors are classified into catalogued codes: refused/reset → 502, connect or header timeout → 504, an invalid
 * upstream response → 502. The client never sees internal detail.
 */
import { EventEmitter } from 'node:events'
import { Pool } from 'undici'
import type { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { ErrorCode } from '../errors.js'

export type UpstreamHeaders = Record<string, string | string[] | undefined>

export interface UpstreamTarget {
  readonly origin: string
  readonly pool: Pool
}

export interface PoolOptions {
  readonly connections: number
  readonly keepAliveTimeout: number
  readonly connectTimeout: number
  readonly headersTimeout: number
  readonly bodyTimeout: number
  readonly verifyTls: boolean
  readonly maxResponseHeaderSize?: number
}

export function createUpstreamTarget(origin: string, o: PoolOptions): UpstreamTarget {
  const pool = new Pool(origin, {
    connections: o.connections,
    pipelining: 1,
    keepAliveTimeout: o.keepAliveTimeout,
    keepAliveMaxTimeout: Math.max(o.keepAliveTimeout, 600_000),
    connectTimeout: o.connectTimeout,
    headersTimeout: o.headersTimeout,
    bodyTimeout: o.bodyTimeout,
    maxHeaderSize: o.maxResponseHeaderSize ?? 64 * 1024,
    strictContentLength: true,
    connect: { rejectUnauthorized: o.verifyTls },
  })
  return { origin, pool }
}

export interface UpstreamResponse {
  readonly statusCode: number
  readonly headers: UpstreamHeaders
  readonly body: Readable
}

export interface ForwardRequest {
  readonly method: string
  /** The request target exactly as the client sent it (origin-form). */
  readonly path: string
  readonly headers: IncomingHttpHeaders | Record<string, string | string[] | number | undefined>
  readonly body: Readable | Buffer | null
  /** Aborts the request (the client went away): never sent if not sent yet, else its upstream connection is closed. */
  readonly signal?: CancelSignal
}

/**
 * The abort signal of one forwarded request. undici takes an EventEmitter that emits 'abort' as well as an
 * AbortSignal; an AbortController costs several times more to create, once per request, for a signal that almost
 * never fires.
 */
export class CancelSignal extends EventEmitter {
  aborted = false

  abort(): void {
    if (this.aborted) return
    this.aborted = true
    this.emit('abort')
  }
}

/** Sends the request; calls back once with the response head or a classified error. */
export function sendUpstream(
  target: UpstreamTarget,
  req: ForwardRequest,
  done: (err: ClassifiedError | null, res?: UpstreamResponse) => void,
): void {
  target.pool.request(
    {
      method: req.method as 'GET',
      path: req.path,
      headers: req.headers as Record<string, string | string[]>,
      body: req.body,
      signal: req.signal as never,
    },
    (err, data) => {
      if (err) {
        done(classifyUpstreamError(err))
        return
      }
      done(null, {
        statusCode: data.statusCode,
        headers: data.headers as UpstreamHeaders,
        body: data.body,
      })
    },
  )
}

export interface ClassifiedError {
  readonly code: ErrorCode
  /** A short machine-readable kind for logs and metrics: refused, reset, connect-timeout, headers-timeout, ... */
  readonly kind: string
  readonly cause: Error
}

/** Maps undici/Node errors to catalogued codes. Errors caused by the client's request body map to 4xx. */
export function classifyUpstreamError(err: Error): ClassifiedError {
  // An AbortSignal's AbortError is a DOMException, whose `code` is a number.
  const raw = (err as { code?: unknown }).code
  const code = err.name === 'AbortError' ? 'UND_ERR_ABORTED' : typeof raw === 'string' ? raw : ''
  const tagged = (err as { rampartCode?: ErrorCode }).rampartCode
  if (tagged) return { code: tagged, kind: 'request-body', cause: err }
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { code: 'RAMPART_ERR_UPSTREAM_TIMEOUT', kind: 'connect-timeout', cause: err }
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { code: 'RAMPART_ERR_UPSTREAM_TIMEOUT', kind: 'headers-timeout', cause: err }
    case 'UND_ERR_BODY_TIMEOUT':
      return { code: 'RAMPART_ERR_UPSTREAM_TIMEOUT', kind: 'body-timeout', cause: err }
    case 'ECONNREFUSED':
      return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'refused', cause: err }
    case 'UND_ERR_SOCKET':
      // undici's "bad response": an answer it will not take (an unsolicited 100 Continue, bytes with no request in
      // flight). The upstream is there and talking: a bad response, not a reset that should eject it.
      if (err.message === 'bad response' || err.message === 'bad upgrade') {
        return { code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', kind: 'invalid-response', cause: err }
      }
      return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'reset', cause: err }
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
      return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'reset', cause: err }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'unreachable', cause: err }
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { code: 'RAMPART_ERR_HTTP_BAD_REQUEST', kind: 'content-length-mismatch', cause: err }
    case 'UND_ERR_HEADERS_OVERFLOW':
      return { code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', kind: 'headers-overflow', cause: err }
    case 'UND_ERR_ABORTED':
      return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'aborted', cause: err }
    case 'UND_ERR_INVALID_ARG':
      return { code: 'RAMPART_ERR_HTTP_BAD_REQUEST', kind: 'invalid-request', cause: err }
    default:
      if (code.startsWith('HPE_') || err.name === 'HTTPParserError') {
        return { code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', kind: 'invalid-response', cause: err }
      }
      if (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SSL')) {
        return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'tls', cause: err }
      }
      return { code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', kind: 'other', cause: err }
  }
}
