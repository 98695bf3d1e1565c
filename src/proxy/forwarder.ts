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
import { Pool, type Dispatcher } from 'undici'
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

export interface ForwardRequest {
  readonly method: string
  /** The request target exactly as the client sent it (origin-form). */
  readonly path: string
  readonly headers: IncomingHttpHeaders | Record<string, string | string[] | number | undefined>
  readonly body: Readable | Buffer | null
}

/**
 * Where an upstream answer goes as it arrives: no stream in between. Exactly one of `end` or `error` is called,
 * after `head` or instead of it. After `UpstreamCall.cancel()` no head or data arrives, but `end` or `error` still
 * does (an error with `cancelled` set on the call), so the caller's bookkeeping runs once either way.
 */
export interface UpstreamSink {
  /** The final head (informational 1xx heads are not passed on). */
  head(statusCode: number, headers: UpstreamHeaders): void
  /** A body chunk. Return false to pause the upstream until `UpstreamCall.resume()`. */
  data(chunk: Buffer): boolean
  end(): void
  /** The exchange failed: before the head (`afterHead` false: nothing was delivered) or while the body streamed. */
  error(err: ClassifiedError, afterHead: boolean): void
}

const CANCELLED = Object.assign(new Error('the client went away'), { code: 'UND_ERR_ABORTED' })

/**
 * One request to the upstream, delivered to an `UpstreamSink` (undici's dispatch handler interface). Compared with
 * undici's `request()`, no body stream, pipe and end-of-stream watchers are made per request: the answer is
 * written straight to where it goes, with backpressure through `pause`/`resume`.
 */
export class UpstreamCall {
  private controller: Dispatcher.DispatchController | undefined
  private afterHead = false
  private settled = false
  /** The call was cancelled (the client is gone): the sink gets no more head or data. */
  cancelled = false

  constructor(private readonly sink: UpstreamSink) {}

  /** Never sends the request if it is not sent yet; aborts it (closing its upstream connection) if it is. */
  cancel(): void {
    if (this.settled || this.cancelled) return
    this.cancelled = true
    this.controller?.abort(CANCELLED)
  }

  /** Resumes a body the sink paused. */
  resume(): void {
    this.controller?.resume()
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.cancelled) controller.abort(CANCELLED)
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200 || this.cancelled) return
    this.afterHead = true
    this.sink.head(statusCode, headers as UpstreamHeaders)
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.cancelled) return
    if (!this.sink.data(chunk)) controller.pause()
  }

  onResponseEnd(): void {
    this.settled = true
    this.sink.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.settled = true
    this.sink.error(classifyUpstreamError(err), this.afterHead)
  }
}

/** Sends the request; its answer goes to `sink`. The returned call cancels it or resumes a paused body. */
export function exchangeUpstream(target: UpstreamTarget, req: ForwardRequest, sink: UpstreamSink): UpstreamCall {
  const call = new UpstreamCall(sink)
  target.pool.dispatch({
    method: req.method as 'GET',
    path: req.path,
    headers: req.headers as Record<string, string | string[]>,
    body: req.body,
  }, call)
  return call
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
