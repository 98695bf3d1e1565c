/**
 * The HTTPS gateway: a Fastify instance with one catch-all route that forwards to the site's upstream.
 *
 * Order per request (DESIGN.md): request id → target and Host checks → site routing → client IP → protections
 * (registered by their own plugins as `onRequest`/`preHandler` hooks) → forward → response policy → access log.
 * Everything per request reads the current `Plan` from `state`, so a reload swaps behaviour without a restart.
 * Bodies are never parsed here: the content-type parser hands the raw stream to the forwarder.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { METHODS } from 'node:http'
import type { Readable } from 'node:stream'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import type { Plan, CompiledSite } from './plan.js'
import { createTlsServer, MAX_HEADER_LINES, type CertificateHolder, type HttpsServer } from './tls-server.js'
import { resolveTarget } from './resolve.js'
import { requestIdFor } from '../http/request-id.js'
import { errorPage } from '../http/pages.js'
import { normalizeIp } from '../net/cidr.js'
import { resolveClientIp } from '../net/client-ip.js'
import { forwardRequestHeaders } from '../proxy/forward-headers.js'
import { endToEndHeaders } from '../proxy/hop-by-hop.js'
import { sendHead } from '../proxy/response-head.js'
import { exchangeUpstream, type UpstreamCall, type UpstreamHeaders, type ClassifiedError, type UpstreamTarget } from '../proxy/forwarder.js'
import type { TargetState } from '../upstream/balancer.js'
import { BodyLimit } from '../proxy/body-limit.js'
import { readBodyPrefix } from '../proxy/body-prefix.js'
import type { Answer, Protection } from './protection.js'
import type { RequestLimits } from '../protections/rate-limits.js'
import type { Metrics } from '../metrics/registry.js'
import { ERRORS, type ErrorCode } from '../errors.js'
import { isPromise } from '../maybe-promise.js'
import { accessLineWriter, type AccessValue } from '../log/access-line.js'

export interface GatewayState {
  plan: Plan
}

/** Per-request facts, set once in onRequest and read by every later stage. */
export interface RequestState {
  site: CompiledSite
  /** The Host (or :authority) exactly as sent. */
  host: string
  /** Path without the query, as sent (still percent-encoded). */
  path: string
  remoteIp: string
  clientIp: string
  peerTrusted: boolean
  upstreamStart: number
  upstreamMs: number
  /** The upstream target chosen for this request. */
  target: TargetState<UpstreamTarget> | undefined
  /** Negotiated TLS version of the client connection, e.g. TLSv1.3. */
  tls: string | undefined
  /** Why the request ended without an upstream answer (catalogued code), for logs and metrics. */
  errorCode: ErrorCode | undefined
  errorKind: string | undefined
  /** Content-Length of a proxied answer, when the upstream sent one (for the access log). */
  responseLength: number | undefined
  /** Completion (hooks, metrics, access log) ran: once, on finish or when the response was cut. */
  completed: boolean
  /**
   * What the rate limits keep between their stages for this request (body-keyed limits, RateLimit fields), undefined
   * until they store something. A field here instead of a WeakMap: it is read on every request, and weak maps cost
   * the garbage collector on every young collection.
   */
  rateLimits: RequestLimits | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    rampart: RequestState
  }
}

const EMPTY = Buffer.alloc(0)
const ALL_METHODS = METHODS.filter((m) => m !== 'CONNECT')

export interface GatewayOptions {
  readonly state: GatewayState
  readonly certs: CertificateHolder
  readonly logger: Logger
  readonly metrics?: Metrics
}

export interface Gateway {
  readonly app: FastifyInstance
  readonly server: HttpsServer
  /** Ends a request with a protection's answer (own-response headers applied). */
  sendAnswer(reply: FastifyReply, request: FastifyRequest, answer: Answer): void
}

export function buildGateway(options: GatewayOptions): Gateway {
  const { state, certs, logger, metrics } = options
  const config = state.plan.config
  let server: HttpsServer | undefined
  // Access lines are built from known fields, never headers or bodies: redaction has nothing to find in them, and
  // pino's per-line work would cost more than writing it. Same destination and line format as the logger.
  const writeAccess = accessLineWriter(logger)

  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // One logger for all requests: a per-request child logger costs more than it gives; ids are logged explicitly.
    childLoggerFactory: (parent: Logger) => parent,
    requestIdHeader: false,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) =>
      requestIdFor(req.headers[state.plan.requestIdHeader], state.plan.trustIncomingId),
    serverFactory: (handler: unknown) => {
      server = createTlsServer(config, certs, handler as never)
      return server as never
    },
    http2: config.listen.https.http2 as false,
    return503OnClosing: true,
    forceCloseConnections: false,
    clientErrorHandler: clientError,
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 8192 },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance

  app.decorateRequest('rampart', null as unknown as RequestState)
  // A proxy forwards every method Node's parser accepts (WebDAV's PROPFIND and friends included), body allowed.
  const known = new Set(app.supportedMethods)
  for (const m of ALL_METHODS) if (!known.has(m)) app.addHttpMethod(m, { hasBody: true })

  // Bodies stream through untouched: no parsing, whatever the content type (or none).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req: FastifyRequest, payload: unknown, done: (err: Error | null, body?: unknown) => void) => {
    done(null, payload)
  })

  app.addHook('onRequest', function admit(request, reply, done) {
    const plan = state.plan
    const raw = request.raw
    const headers = raw.headers
    // Node hands over pipelined HTTP/1.1 requests at once; one queued behind an answer still being written has no
    // socket yet. It waits for its turn: if the answer before it closes the connection (a refusal, or Node's own
    // 400 for a missing Host), the turn never comes and the request is never forwarded. Those are the bytes a
    // desync would smuggle.
    if (raw.httpVersionMajor === 1 && reply.raw.socket === null) {
      reply.raw.once('socket', () => admit.call(this, request, reply, done))
      return
    }
    if ((raw.socket as RefusableSocket | null)?.[REFUSED] === true) return sendError(reply, request, 'RAMPART_ERR_HTTP_BAD_REQUEST')
    if (raw.rawHeaders.length > 2 * MAX_HEADER_LINES ||
        (raw.httpVersionMajor === 2 && headerListSize(raw.rawHeaders) > plan.config.limits.maxHeaderSize)) {
      // HTTP/1.1: more lines than the parser keeps (it would drop the rest silently). HTTP/2: nghttp2 does not
      // enforce the header list size Rampart advertises.
      return sendError(reply, request, 'RAMPART_ERR_HTTP_HEADERS_TOO_LARGE')
    }
    if (countHost(raw.rawHeaders) > 1) return sendError(reply, request, 'RAMPART_ERR_HTTP_BAD_HOST')
    const target = resolveTarget(plan, raw.url ?? '', headers.host, headers[':authority'] as string | undefined)
    if (!target.ok) return sendError(reply, request, target.code)

    const declared = headers['content-length']
    if (declared !== undefined && Number(declared) > plan.maxBodySize) {
      return sendError(reply, request, 'RAMPART_ERR_HTTP_BODY_TOO_LARGE')
    }
    if ((raw.method === 'GET' || raw.method === 'HEAD') &&
        ((declared !== undefined && declared !== '0') || headers['transfer-encoding'] !== undefined)) {
      // A body on GET/HEAD is a classic desync vector and legacy apps never expect one: refuse it.
      return sendError(reply, request, 'RAMPART_ERR_HTTP_BAD_REQUEST')
    }

    const remoteIp = normalizeIp(raw.socket?.remoteAddress ?? '')
    const peerTrusted = plan.trusted.size > 0 && plan.trusted.has(remoteIp)
    request.rampart = {
      site: target.site,
      host: target.host,
      path: target.path,
      remoteIp,
      clientIp: peerTrusted ? resolveClientIp(remoteIp, headers['x-forwarded-for'], plan.trusted) : remoteIp,
      peerTrusted,
      upstreamStart: 0,
      upstreamMs: -1,
      tls: (raw.socket as Partial<TLSSocket> | null)?.getProtocol?.() ?? undefined,
      target: undefined,
      errorCode: undefined,
      errorKind: undefined,
      responseLength: undefined,
      completed: false,
      rateLimits: undefined,
    }
    // Protections, in plan order. Each may end the request with an answer; the upstream is then never contacted.
    const guards = plan.protections.onRequest
    if (guards.length === 0) return done()
    runGuards(guards, 0, request, reply, done)
  })

  /**
   * Runs `onRequest` guards from `i` on. Synchronous answers are taken synchronously; the first guard that returns a
   * promise (a store round trip) continues the walk when it settles. No promise is made when no guard needs one.
   */
  function runGuards(guards: readonly Protection[], i: number, request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    for (; i < guards.length; i++) {
      const result = guards[i]!.onRequest!(request, reply)
      if (result === undefined) continue
      if (isPromise(result)) {
        const next = i + 1
        result.then((answer) => {
          try {
            if (answer) sendAnswer(reply, request, answer)
            else runGuards(guards, next, request, reply, done)
          } catch (err) {
            done(err as Error)
          }
        }, done)
        return
      }
      return sendAnswer(reply, request, result)
    }
    done()
  }

  // Body stage: only for requests some protection wants the body of. The body is read up to the largest limit
  // asked for; the exact bytes are forwarded afterwards (the rest, if any, still streams).
  app.addHook('preHandler', (request, reply, done) => {
    if (state.plan.protections.body.length === 0) return done()
    bodyStage(request, reply).then((answered) => {
      if (!answered) done()
    }, done)
  })

  /** Reads the body prefix the protections asked for and runs their `onBody`. Resolves true when it answered. */
  async function bodyStage(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const guards = state.plan.protections.body
    let limit = 0
    let wanting: Protection[] | undefined
    for (const g of guards) {
      const n = g.bodyLimit!(request)
      if (n > 0) {
        limit = Math.max(limit, n)
        ;(wanting ??= []).push(g)
      }
    }
    if (!wanting) return false
    const stream = bodyStream(request)
    if (!stream) {
      for (const g of wanting) {
        const answer = await g.onBody!(request, EMPTY, false)
        if (answer) {
          sendAnswer(reply, request, answer)
          return true
        }
      }
      return false
    }
    const prefix = await readBodyPrefix(stream, limit)
    if (prefix.error) {
      request.rampart.errorKind = 'request-body'
      sendError(reply, request, prefix.error === 'too-large' ? 'RAMPART_ERR_HTTP_BODY_TOO_LARGE' : 'RAMPART_ERR_HTTP_BAD_REQUEST')
      return true
    }
    request.body = prefix.forward
    for (const g of wanting) {
      const answer = await g.onBody!(request, prefix.head, prefix.truncated)
      if (answer) {
        sendAnswer(reply, request, answer)
        return true
      }
    }
    return false
  }

  app.route({ method: ALL_METHODS, url: '*', handler: proxyHandler })

  /** The request body as a stream, whether Fastify's parser handed it over or it is still on the raw request. */
  function bodyStream(request: FastifyRequest): Readable | null {
    if (request.body) return request.body as Readable
    const h = request.raw.headers
    return (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined
      ? (request.raw as unknown as Readable) : null
  }

  function proxyHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const plan = state.plan
    const st = request.rampart
    const site = st.site
    const raw = request.raw
    const incoming = raw.headers
    const headers = forwardRequestHeaders(incoming, {
      remoteIp: st.remoteIp,
      peerTrusted: st.peerTrusted,
      host: st.host,
      listenerPort: (raw.socket as Socket | null)?.localPort ?? plan.httpsPort,
      proto: 'https',
      requestIdHeader: plan.requestIdHeader,
      requestId: request.id,
    }, site.hostMode)

    // Fastify hands bodies of POST/PUT/PATCH… to the catch-all parser; for other methods (DELETE, OPTIONS…) the
    // body is still unread on the raw request. Either way it streams on, untouched. A protection that read the
    // body left a Buffer (or a stream replaying what it read) with the same bytes.
    let body: Readable | Buffer | null = Buffer.isBuffer(request.body) ? request.body : bodyStream(request)
    if (body && !Buffer.isBuffer(body) && incoming['content-length'] === undefined) {
      const limited = new BodyLimit(plan.maxBodySize)
      const source: Readable = body
      source.on('error', (err) => limited.destroy(err))
      body = source.pipe(limited)
    }
    const now = Date.now()
    const picked = site.balancer.pick(now)
    if (!picked) {
      st.errorKind = 'no-healthy-target'
      if (body && !Buffer.isBuffer(body)) {
        body.on('error', () => undefined) // the answer is decided; a body failing now must not escape as uncaught
        body.resume()
      }
      sendError(reply, request, 'RAMPART_ERR_UPSTREAM_UNAVAILABLE')
      return reply
    }
    const forward = { method: raw.method ?? 'GET', path: raw.url ?? '/', headers, body }
    const out = reply.raw
    // The answer is written straight to Node's response as undici delivers it: the head in one writeHead when the
    // first body byte (or the end) is due, then each chunk written, with backpressure. Fastify's stream sending
    // would add a body stream, a pipe and two end-of-stream watchers per request for nothing a proxy needs; its
    // onResponse hook still runs on finish.
    let call: UpstreamCall | undefined
    let tap: ResponseTap | undefined
    // The body streams to the client now; it did at some point (the head was accepted).
    let streaming = false
    let streamed = false
    // The head to send with the first body byte; undefined once sent (or when there is none).
    let pendingHead: UpstreamHeaders | undefined
    const resume = (): void => call?.resume()
    // A client that is gone (an HTTP/2 RST_STREAM, a closed connection) costs the upstream nothing more: a request
    // not sent yet is never sent, one in flight is aborted and its pool connection freed. Otherwise a rapid reset
    // turns each cancelled stream into an upstream request, and a closed session's requests hold upstream
    // connections until sites[].timeouts.headers.
    const gone = clientGone(reply)
    if (!gone) {
      out.once('close', () => {
        if (!out.writableEnded) call?.cancel()
        tap?.finish()
        // A cut response never finishes, so Fastify never runs onResponse for it: complete it here.
        if (streamed && !out.writableFinished) completed(request, reply)
      })
    }

    const send = (target: TargetState<UpstreamTarget>, attempt: number): void => {
      st.target = target
      target.inFlight++
      let counted = true
      const settle = (): void => {
        if (counted) {
          counted = false
          target.inFlight--
        }
      }
      const thisCall: UpstreamCall = exchangeUpstream(target.target, forward, {
        head(status, upstream) {
          settle()
          site.balancer.success(target)
          const staged = onUpstreamHead(request, reply, thisCall, status, upstream)
          if (staged === undefined) return
          pendingHead = staged
          streaming = true
          streamed = true
          if (state.plan.protections.upstreamBody.length > 0) tap = responseTap(request, status, staged)
        },
        data(chunk) {
          if (!streaming) return true // a HEAD, 204 or 304 answer: whatever follows is dropped
          if (pendingHead !== undefined && !flushHead()) return true
          tap?.data(chunk)
          if (out.destroyed || out.write(chunk)) return true
          out.once('drain', resume)
          return false
        },
        end() {
          if (!streaming) return
          if (pendingHead !== undefined && !flushHead()) return
          streaming = false
          tap?.finish()
          if (!out.destroyed) out.end()
        },
        error(err, afterHead) {
          if (afterHead) {
            // A dropped body (HEAD, 204, 304), an answer already replaced, or a client gone: nothing more to do.
            if (!streaming) return
            streaming = false
            tap?.finish()
            if (!thisCall.cancelled) onBodyError(request, reply, err)
            return
          }
          settle()
          if (thisCall.cancelled) {
            st.errorKind = 'client-gone'
            return
          }
          // Refused or never connected: the request did not reach that target, so another one may take it (once),
          // provided the body can be sent again (none, or one a protection already holds in memory).
          const retryable = (err.kind === 'refused' || err.kind === 'connect-timeout') && (body === null || Buffer.isBuffer(body))
          if (retryable && attempt === 0 && site.balancer.states.length > 1) {
            noteFailure(request, err)
            const other = site.balancer.pick(Date.now())
            if (other && other !== target && !reply.sent) return send(other, 1)
          }
          onUpstreamError(request, reply, err)
        },
      })
      call = thisCall
      if (gone) thisCall.cancel()
    }

    /**
     * Sends the pending head. When Node refuses one of its fields (invalid bytes), nothing has reached the client:
     * the upstream is dropped and a 502 page goes out instead, as for any answer Rampart cannot pass on.
     */
    const flushHead = (): boolean => {
      const head = pendingHead!
      pendingHead = undefined
      if (out.destroyed || sendHead(out, out.statusCode, head) === undefined) return true
      streaming = false
      tap = undefined // the observers never see an answer the client did not get
      refuseAnswer(request, reply, call, 'invalid-header')
      return false
    }
    st.upstreamStart = performance.now()
    send(picked, 0)
    return reply
  }

  /**
   * The head of a proxied answer: checked and passed through the response stage. Returns the headers to send with
   * the first body byte when the body is to stream to the client; undefined when it is not: dropped (HEAD, 204,
   * 304: the answer ends at its head, sent here), or the answer was replaced by an error page, or the client is gone.
   */
  function onUpstreamHead(
    request: FastifyRequest, reply: FastifyReply, call: UpstreamCall, status: number, upstream: UpstreamHeaders,
  ): UpstreamHeaders | undefined {
    const st = request.rampart
    st.upstreamMs = performance.now() - st.upstreamStart
    // The client may have gone while the upstream was thinking. (Not `request.raw.destroyed`: Node destroys a
    // request stream once its body has been read, long before the response is due.)
    if (reply.sent || clientGone(reply)) {
      call.cancel()
      return undefined
    }
    if (status < 100 || status > 599) {
      refuseAnswer(request, reply, call, 'invalid-status')
      return undefined
    }
    const headers = endToEndHeaders(upstream) as UpstreamHeaders
    const location = headers['location']
    if (typeof location === 'string') headers['location'] = st.site.location.rewrite(location, st.host)
    const out = reply.raw
    let staged: UpstreamHeaders
    try {
      staged = responseStage(request, status, headers)
    } catch (err) {
      // A protection failed on this answer: nothing was written, so the client gets a 502 page, not a hung request.
      logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', reqId: request.id, err }, 'response stage failed')
      refuseAnswer(request, reply, call, 'response-stage')
      return undefined
    }
    if (request.raw.method === 'HEAD' || status === 204 || status === 304) {
      // RFC 9112 §6.3: these answers end at their head, whatever the upstream wrote after it. undici drops such a
      // connection, and calls a 304's Content-Length (the representation's size) a mismatch: neither is the client's.
      // A 204 never has a Content-Length (RFC 9110 §8.6); HTTP/2 clients reset a stream that has one.
      if (status === 204) staged['content-length'] = undefined
      if (sendHead(out, status, staged) !== undefined) {
        // An upstream header Node refuses to send (invalid bytes): nothing was written, so answer 502 instead.
        refuseAnswer(request, reply, call, 'invalid-header')
        return undefined
      }
      reply.hijack()
      out.end()
      return undefined
    }
    // The status is known now (metrics and the access log read it even if the client goes before the first byte).
    out.statusCode = status
    return staged
  }

  /** An upstream answer Rampart cannot pass on, of which nothing was sent: the exchange is dropped, the client gets a 502 page. */
  function refuseAnswer(request: FastifyRequest, reply: FastifyReply, call: UpstreamCall | undefined, kind: string): void {
    call?.cancel()
    request.rampart.errorKind = kind
    sendError(reply, request, 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE')
  }

  /** The upstream body failed while it streamed to the client. */
  function onBodyError(request: FastifyRequest, reply: FastifyReply, err: ClassifiedError): void {
    const st = request.rampart
    const out = reply.raw
    const cause = (err.cause as NodeJS.ErrnoException).code
    st.errorKind = `response-${cause ?? 'error'}`
    const code: ErrorCode = cause === 'UND_ERR_BODY_TIMEOUT' ? 'RAMPART_ERR_UPSTREAM_TIMEOUT' : 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE'
    if (!out.headersSent) {
      // Not a byte reached the client (the head waits for the first body byte): answer like any failed upstream.
      return sendError(reply, request, code)
    }
    // The head is out: the client gets the faithful part, then an aborted connection, or an HTTP/2 stream reset
    // with INTERNAL_ERROR (destroying without an error resets with NO_ERROR, which reads as a complete answer).
    st.errorCode = code
    out.destroy(err.cause)
  }

  /** Counts an upstream failure: metrics, and passive health for failures that say "this target is not there". */
  function noteFailure(request: FastifyRequest, err: ClassifiedError): void {
    const st = request.rampart
    if (err.code === 'RAMPART_ERR_HTTP_BAD_REQUEST') return
    metrics?.upstreamError(st.site.name, err.kind)
    if (st.target && (err.kind === 'refused' || err.kind === 'reset' || err.kind === 'connect-timeout' || err.kind === 'unreachable')) {
      if (st.site.balancer.failure(st.target, Date.now())) {
        logger.warn({ code: 'RAMPART_ERR_UPSTREAM_UNREACHABLE', site: st.site.name, target: st.target.label, ejectForMs: st.site.config.passive.ejectFor },
          'upstream target ejected after consecutive failures')
        metrics?.setUpstreamHealthy(st.site.name, st.target.label, false)
      }
    }
  }

  function onUpstreamError(request: FastifyRequest, reply: FastifyReply, err: ClassifiedError): void {
    const st = request.rampart
    st.errorKind = err.kind
    noteFailure(request, err)
    const status = (ERRORS[err.code] as { status?: number }).status ?? 502
    const level = status >= 500 ? 'warn' : 'info'
    logger[level]({
      code: err.code, kind: err.kind, reqId: request.id, site: st.site.name, upstream: st.target?.label,
      err: { message: err.cause.message, code: (err.cause as NodeJS.ErrnoException).code },
    }, ERRORS[err.code].message)
    if (reply.sent) return
    sendError(reply, request, err.code)
  }

  function sendError(reply: FastifyReply, request: FastifyRequest, code: ErrorCode): void {
    const page = errorPage(code, request.id)
    if (request.rampart) request.rampart.errorCode = code
    else (reply as unknown as { rampartErrorCode?: ErrorCode }).rampartErrorCode = code
    reply
      .code(page.status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header(state.plan.requestIdHeader, request.id)
    if (page.status === 400 || page.status === 414 || page.status === 431) {
      reply.header('connection', 'close')
      const socket = request.raw.socket as RefusableSocket | null
      if (socket && request.raw.httpVersionMajor === 1) socket[REFUSED] = true
    }
    for (const p of state.plan.protections.ownResponse) p.onOwnResponse!(reply, request)
    reply.send(page.body)
  }

  function sendAnswer(reply: FastifyReply, request: FastifyRequest, answer: Answer): void {
    if (answer.code && request.rampart) request.rampart.errorCode = answer.code
    if (answer.page && answer.code) return sendError(reply, request, answer.code)
    if (answer.asUpstream && request.rampart) return sendAsUpstream(reply, request, answer)
    reply.code(answer.status).header('cache-control', 'no-store').header(state.plan.requestIdHeader, request.id)
    if (answer.contentType) reply.header('content-type', answer.contentType)
    for (const [k, v] of answer.headers ?? []) reply.header(k, v)
    for (const p of state.plan.protections.ownResponse) p.onOwnResponse!(reply, request)
    reply.send(answer.body)
  }

  /** An answer sent exactly the way a proxied one is (see `Answer.asUpstream`). */
  function sendAsUpstream(reply: FastifyReply, request: FastifyRequest, answer: Answer): void {
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body
    const headers: UpstreamHeaders = {}
    const date = new Date().toUTCString()
    for (const [name, value] of answer.headers ?? []) headers[name] = name === 'date' ? date : value
    if (answer.contentType !== undefined && headers['content-type'] === undefined) headers['content-type'] = answer.contentType
    if (headers['content-length'] === undefined) headers['content-length'] = String(body.length)
    if (headers['date'] === undefined) headers['date'] = date
    const refused = sendHead(reply.raw, answer.status, responseStage(request, answer.status, headers))
    if (refused !== undefined) throw refused
    reply.hijack()
    reply.raw.end(body)
  }

  /**
   * The response stage every answer in the application's name goes through, proxied or sent as if: the protections'
   * `onUpstreamHeaders` (lockout outcome, RateLimit fields, header policy, cookies), then the request id. Returns
   * the headers to send (an undefined value: not sent). Nothing is written to the response here.
   */
  function responseStage(request: FastifyRequest, status: number, upstream: UpstreamHeaders): UpstreamHeaders {
    let headers = upstream
    for (const p of state.plan.protections.upstreamHeaders) headers = p.onUpstreamHeaders!(headers, request, status) ?? headers
    headers[state.plan.requestIdHeader] = request.id
    const length = headers['content-length']
    request.rampart.responseLength = typeof length === 'string' ? Number(length) : undefined
    return headers
  }

  /**
   * Lets protections see the first bytes of a response body as it streams past, without holding it back. Undefined
   * when no protection wants any. `finish` runs the observers once: when enough was seen, at the end, or when the
   * body stops early (an error, a cut).
   */
  function responseTap(request: FastifyRequest, status: number, headers: UpstreamHeaders): ResponseTap | undefined {
    const observers: Protection[] = []
    let want = 0
    for (const p of state.plan.protections.upstreamBody) {
      const n = p.responseBodyBytes!(request, status, headers)
      if (n > 0) {
        observers.push(p)
        want = Math.max(want, n)
      }
    }
    if (observers.length === 0) return undefined
    const chunks: Buffer[] = []
    let seen = 0
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      const head = Buffer.concat(chunks, Math.min(seen, want))
      for (const p of observers) {
        try {
          p.onUpstreamBody!(request, status, headers, head)
        } catch (err) {
          logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', protection: p.name, err }, 'response observer failed')
        }
      }
    }
    return {
      data(chunk) {
        if (done) return
        chunks.push(chunk)
        seen += chunk.length
        if (seen >= want) finish()
      },
      finish,
    }
  }

  app.setNotFoundHandler((request, reply) => sendError(reply, request, 'RAMPART_ERR_HTTP_BAD_REQUEST'))
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    let code: ErrorCode
    if (error.statusCode === 413 || error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') code = 'RAMPART_ERR_HTTP_BODY_TOO_LARGE'
    else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) code = 'RAMPART_ERR_HTTP_BAD_REQUEST'
    else {
      code = 'RAMPART_ERR_HTTP_INTERNAL'
      logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', reqId: request.id, err: error }, ERRORS.RAMPART_ERR_LIFECYCLE_UNCAUGHT.message)
    }
    if (reply.sent) return
    sendError(reply, request, code)
  })

  app.addHook('onResponse', (request, reply, done) => {
    completed(request, reply)
    done()
  })

  /** Runs once per request, when its response finished or was cut: completion hooks, metrics, the access log. */
  function completed(request: FastifyRequest, reply: FastifyReply): void {
    const st = request.rampart as RequestState | null
    if (st) {
      if (st.completed) return
      st.completed = true
    }
    const plan = state.plan
    for (const p of plan.protections.complete) {
      try {
        p.onComplete!(request, reply)
      } catch (err) {
        logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', protection: p.name, err }, 'completion hook failed')
      }
    }
    if (metrics) {
      metrics.request(st?.site.name ?? '-', reply.statusCode, reply.elapsedTime / 1000, request.raw.httpVersionMajor === 2 ? 'h2' : 'h1')
    }
    if (plan.accessLog) writeAccess(accessLogLine(request, reply), 'request')
  }

  if (!server) throw new Error('server factory was not called')
  return { app, server, sendAnswer }
}


/** A protection's view of a response body as it streams (see `responseTap`). */
interface ResponseTap {
  data(chunk: Buffer): void
  finish(): void
}

const REFUSED = Symbol('rampart.refused')
type RefusableSocket = Socket & { [REFUSED]?: true }

/** HTTP/2 header list size as SETTINGS_MAX_HEADER_LIST_SIZE counts it: name + value + 32 per field. */
function headerListSize(rawHeaders: readonly string[]): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) n += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32
  return n
}

function countHost(rawHeaders: readonly string[]): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.length === 4 && rawHeaders[i]!.toLowerCase() === 'host') n++
  return n
}

function clientGone(reply: FastifyReply): boolean {
  const res = reply.raw as unknown as { destroyed?: boolean; stream?: { destroyed?: boolean } }
  return res.destroyed === true || res.stream?.destroyed === true
}

/** One JSON access-log line. Never headers or bodies: nothing here can carry a secret. */
export function accessLogLine(request: FastifyRequest, reply: FastifyReply): Record<string, AccessValue> {
  const st = request.rampart as RequestState | null
  const raw = request.raw
  const socket = (raw.socket ?? undefined) as (Socket & Partial<TLSSocket>) | undefined
  const contentLength = st?.responseLength ?? reply.getHeader('content-length')
  return {
    type: 'access',
    reqId: request.id,
    clientIp: st?.clientIp ?? normalizeIp(socket?.remoteAddress ?? ''),
    method: raw.method,
    host: st?.host ?? raw.headers.host ?? raw.headers[':authority'] as string | undefined,
    path: st?.path ?? (raw.url ?? '').split('?')[0],
    site: st?.site.name,
    status: reply.statusCode,
    bytes: contentLength === undefined ? undefined : Number(contentLength),
    durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
    upstreamMs: st && st.upstreamMs >= 0 ? Math.round(st.upstreamMs * 1000) / 1000 : undefined,
    protocol: `HTTP/${raw.httpVersion}`,
    tls: st?.tls ?? (typeof socket?.getProtocol === 'function' ? socket.getProtocol() ?? undefined : undefined),
    error: st?.errorCode ?? (reply as unknown as { rampartErrorCode?: ErrorCode }).rampartErrorCode,
    errorKind: st?.errorKind,
  }
}

/** Malformed HTTP/1.1 before a request exists: answer with a bare status and close. Never a stack or detail. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  let status = '400 Bad Request'
  if (err.code === 'HPE_HEADER_OVERFLOW') status = '431 Request Header Fields Too Large'
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = '408 Request Timeout'
  else if (err.code === 'HPE_URI_TOO_LONG') status = '414 URI Too Long'
  const body = `${status}\n`
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
}
