/**
 * Threat detection, wired: the engine (`src/threats/engine.ts`) applied to live requests, after the rate limits and
 * the login lockout.
 *
 * Per request:
 * - Requests without a body worth reading (GET, HEAD, no body, or a content type other than form, JSON or
 *   multipart) are scanned in `onRequest`: decoded path, query names and values, Cookie values, User-Agent,
 *   Referer. They never enter the body stage, so they keep streaming.
 * - Form, JSON and multipart bodies wait for the body stage: the gateway buffers up to `threats.maxBodyInspect`
 *   bytes (the exact bytes are forwarded), the text fields are listed (`inspectableFields`) and the whole request
 *   is scanned once, so scores of the URL and the body add up. A longer body is inspected up to the cap and the
 *   result is flagged `truncated`.
 * - A result with matches is an audit line (`type: "threat"`, `audit: true`; code `RAMPART_ERR_THREAT_BLOCKED` or
 *   `RAMPART_ERR_THREAT_DETECTED`; rule ids, families, score, parameter names, short escaped excerpts with secrets
 *   redacted, client address, site, request id; never a body or a cookie value), an alert to the webhook, a
 *   `detections` observation for the abuse signals, and a count in `rampart_protection_events_total`
 *   (`protection="threats"`, outcome `blocked` / `detected`; `truncated` and `error` too).
 * - `block` mode answers a blocked request with Rampart's 403 page carrying the request id; the upstream never sees
 *   it. `detect` mode forwards everything.
 *
 * Fails: `threats.onError`. If inspection fails (the engine or the body listing throws), `open` forwards the
 * request, `closed` refuses it in block mode (detect mode never refuses). Logged as `RAMPART_ERR_THREAT_ENGINE`
 * with `failMode` and `action`.
 */
import { multipartParts } from '../body/multipart.js'
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import type { Answer, Protection } from '../server/protection.js'
import type { Store } from '../store/types.js'
import { compileThreatEngine, type ThreatEngine } from '../threats/engine.js'
import type { ThreatInput, ThreatResult } from '../threats/types.js'
import { buildThreatEvent } from '../alerts/event.js'
import { bodyKind, boundaryOf } from '../body/fields.js'
import { forEachQueryParam } from '../threats/parse.js'
import { siteName } from '../server/plan.js'
import { acquireAlertChannel, type AlertChannel } from './alerts.js'
import { abuseWatch, type AbuseWatch } from './bans.js'
import { ERRORS } from '../errors.js'

export interface ThreatContext {
  readonly logger: Logger
  readonly store: Store
  readonly metrics?: { protectionEvent(protection: string, outcome: string): void } | undefined
  readonly now?: () => number
}

export interface ThreatCounters {
  scanned: number
  /** Requests that went through the body stage. */
  bodies: number
  detected: number
  blocked: number
  truncated: number
  errors: number
}

export interface ThreatProtection extends Protection {
  readonly engine: ThreatEngine
  readonly counters: Readonly<ThreatCounters>
  readonly alerts: AlertChannel
}

const BLOCKED: Answer = Object.freeze({ status: 403, body: '', page: true, code: 'RAMPART_ERR_THREAT_BLOCKED' })

export function compileThreatProtection(config: RampartConfig, ctx: ThreatContext): ThreatProtection | undefined {
  const settings = config.threats
  if (settings.mode === 'off') return undefined
  const { logger } = ctx
  const now = ctx.now ?? (() => Date.now())
  const event = (outcome: string): void => ctx.metrics?.protectionEvent('threats', outcome)
  const sites = config.sites.map((s) => ({ name: siteName(s), hosts: s.hosts }))
  const engine = compileThreatEngine(settings, sites)
  const block = settings.mode === 'block'
  const cap = settings.maxBodyInspect
  const channel: AlertChannel = acquireAlertChannel(config, ctx)
  const abuse: AbuseWatch | undefined = abuseWatch(config, ctx)
  const awaitingBody = new WeakSet<FastifyRequest>()
  const counters: ThreatCounters = { scanned: 0, bodies: 0, detected: 0, blocked: 0, truncated: 0, errors: 0 }

  function baseInput(request: FastifyRequest): ThreatInput {
    const raw = request.raw
    const url = raw.url ?? ''
    const q = url.indexOf('?')
    const h = raw.headers
    const cookie = h.cookie
    return {
      path: request.rampart.path,
      query: q === -1 ? '' : url.slice(q + 1),
      cookieHeader: Array.isArray(cookie) ? cookie.join('; ') : cookie,
      userAgent: h['user-agent'],
      referer: h.referer,
    }
  }

  function failed(request: FastifyRequest, error: unknown): Answer | undefined {
    counters.errors++
    event('error')
    const refuse = block && settings.onError === 'closed'
    logger.error({
      code: 'RAMPART_ERR_THREAT_ENGINE', failMode: settings.onError, action: refuse ? 'refuse' : 'pass', mode: settings.mode,
      reqId: request.id, site: request.rampart.site.name, clientIp: request.rampart.clientIp,
      err: { message: (error as Error | undefined)?.message ?? String(error) },
    }, ERRORS.RAMPART_ERR_THREAT_ENGINE.message)
    if (refuse) {
      counters.blocked++
      event('blocked')
    }
    return refuse ? BLOCKED : undefined
  }

  function report(request: FastifyRequest, result: ThreatResult): Answer | undefined {
    if (result.error !== undefined) return failed(request, result.error)
    if (result.truncated) {
      counters.truncated++
      event('truncated')
    }
    if (result.matches.length === 0) {
      if (result.truncated) {
        logger.debug({ protection: 'threats', reqId: request.id, capBytes: cap }, 'body inspected up to maxBodyInspect only')
      }
      return undefined
    }
    const st = request.rampart
    const at = now()
    const alert = buildThreatEvent(result, {
      clientIp: st.clientIp, site: st.site.name, requestId: request.id, method: request.raw.method, path: st.path,
      threshold: settings.threshold, now: at,
    })
    const code = result.blocked ? 'RAMPART_ERR_THREAT_BLOCKED' : 'RAMPART_ERR_THREAT_DETECTED'
    if (result.blocked) counters.blocked++
    else counters.detected++
    event(result.blocked ? 'blocked' : 'detected')
    // `at`: the event's time (pino's own `time` is the write time).
    const { time, ...fields } = alert
    logger.warn({ code, audit: true, mode: settings.mode, reqId: request.id, ...fields, at: time }, ERRORS[code].message)
    channel.send(alert)
    abuse?.observeDetection(st.clientIp, st.site.name)
    return result.blocked ? BLOCKED : undefined
  }

  return {
    name: 'threats',
    engine,
    counters,
    alerts: channel,
    onRequest(request) {
      if (wantsBody(request)) {
        awaitingBody.add(request)
        return undefined
      }
      counters.scanned++
      let result: ThreatResult
      try {
        result = engine.scan(baseInput(request), request.rampart.site.index)
      } catch (err) {
        return failed(request, err)
      }
      return result.matches.length === 0 && !result.truncated && result.error === undefined ? undefined : report(request, result)
    },
    bodyLimit: (request) => (awaitingBody.has(request) ? cap : 0),
    onBody(request, head, truncated) {
      if (!awaitingBody.has(request)) return undefined
      awaitingBody.delete(request)
      counters.scanned++
      counters.bodies++
      let result: ThreatResult
      try {
        const fields = inspectableFields(head, request.raw.headers['content-type'])
        result = engine.scan({ ...baseInput(request), bodyFields: fields, bodyTruncated: truncated }, request.rampart.site.index)
      } catch (err) {
        return failed(request, err)
      }
      return report(request, result)
    },
    describe: () => ({
      mode: settings.mode,
      paranoia: settings.paranoia,
      threshold: settings.threshold,
      detectors: settings.detectors,
      rules: engine.rules.length,
      exclusions: settings.exclusions.length,
      maxBodyInspect: cap,
      failMode: settings.onError,
      alerts: channel.describe(),
    }),
    async close() {
      await channel.release()
    },
  }
}

/** True when the request carries a body the scan reads: not GET/HEAD, a form, JSON or multipart type, not empty. */
export function wantsBody(request: FastifyRequest): boolean {
  const raw = request.raw
  const method = raw.method
  if (method === 'GET' || method === 'HEAD') return false
  const h = raw.headers
  if (h['content-length'] === '0') return false
  return bodyKind(h['content-type']) !== undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Listing the text fields of a buffered body. Pure: a Buffer and a content type in, [name, value] pairs out.
// ---------------------------------------------------------------------------------------------------------------

export type BodyField = readonly [name: string, value: string]

/** Deepest JSON nesting that still lengthens field names; deeper values keep the name of that level. */
export const MAX_JSON_NAME_DEPTH = 32

/**
 * The text fields of a form, JSON or multipart body, as an application would read them, in body order:
 * - form: every `name=value` pair, form-decoded (`+` is a space; a pair without `=` has an empty value);
 * - JSON: every string value, named by the dotted path of object keys (`user.bio`; array items keep their array's
 *   name), and every key that needs a look is listed as a value of its own parent;
 * - multipart: every text part by its name; for a file part, its file name (path traversal hides there), never
 *   its content.
 * The body may be cut at any byte: a cut form pair, JSON document or multipart part yields what it holds so far,
 * so the part that was read is inspected. Other content types yield nothing. Linear in the body length.
 */
export function inspectableFields(body: Buffer, contentType: string | undefined): BodyField[] {
  if (body.length === 0) return []
  switch (bodyKind(contentType)) {
    case 'form': return formFields(body.toString('utf8'))
    case 'json': return jsonFields(body.toString('utf8'))
    case 'multipart': {
      const boundary = boundaryOf(contentType)
      return boundary === undefined ? [] : multipartFields(body, boundary)
    }
    default: return []
  }
}

/** Decoded like the query string (`forEachQueryParam`), so a field reads the same in a URL and in a form body. */
function formFields(text: string): BodyField[] {
  const out: BodyField[] = []
  forEachQueryParam(text, (name, value) => out.push([name, value]))
  return out
}

/** `"…"` contents starting after the opening quote; returns the decoded text and the index after the closing quote. */
function readJsonString(text: string, start: number): { value: string; end: number } {
  let j = start
  let escaped = false
  const n = text.length
  while (j < n) {
    const c = text.charCodeAt(j)
    if (c === 92) {
      escaped = true
      j += 2
      continue
    }
    if (c === 34) break
    j++
  }
  const raw = text.slice(start, Math.min(j, n))
  let value = raw
  if (escaped) {
    try {
      value = JSON.parse(`"${raw}"`) as string
    } catch {
      // A malformed or cut escape: inspect the text as sent; the normaliser decodes \uXXXX itself.
    }
  }
  return { value, end: j + 1 }
}

/**
 * A tolerant scan of a JSON text: string tokens are read where they stand, so a document cut at the inspection cap
 * (or not quite valid) still yields its strings. Names are built incrementally per nesting level, so the cost
 * stays linear however deep the document.
 */
function jsonFields(text: string): BodyField[] {
  const out: BodyField[] = []
  // Per open container: is it an object, the name of values directly inside it.
  const isObject: boolean[] = []
  const names: string[] = []
  const parentNames: string[] = []
  let expectKey = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 34) {
      const { value, end } = readJsonString(text, i + 1)
      i = end
      const depth = isObject.length
      if (depth > 0 && isObject[depth - 1] && expectKey) {
        expectKey = false
        const parent = parentNames[depth - 1]!
        // A key is data too (`{"<script>": 1}`); it is inspected under its parent's name.
        if (!isPlainKey(value)) out.push([parent, value])
        names[depth - 1] = depth > MAX_JSON_NAME_DEPTH ? parent : parent === '' ? value : `${parent}.${value}`
        continue
      }
      out.push([depth > 0 ? names[depth - 1]! : '', value])
      continue
    }
    if (c === 123 || c === 91) {
      const name = isObject.length > 0 ? names[isObject.length - 1]! : ''
      isObject.push(c === 123)
      parentNames.push(name)
      names.push(name)
      expectKey = c === 123
    } else if (c === 125 || c === 93) {
      isObject.pop()
      parentNames.pop()
      names.pop()
      expectKey = false
    } else if (c === 44) {
      const depth = isObject.length
      if (depth > 0 && isObject[depth - 1]) {
        expectKey = true
        names[depth - 1] = parentNames[depth - 1]!
      }
    }
    i++
  }
  return out
}

/** Keys made of letters, digits, `_`, `-` and `.` cannot carry anything a rule looks for. */
function isPlainKey(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46
    if (!ok) return false
  }
  return true
}

const DISPOSITION = /^content-disposition\s*:(.*)$/im
const PART_NAME = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i
const PART_FILENAME = /;\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i
const PART_FILENAME_STAR = /;\s*filename\*\s*=/i

function unquote(quoted: string | undefined, bare: string | undefined): string | undefined {
  if (quoted !== undefined) return quoted.replace(/\\(.)/g, '$1').replace(/%22/g, '"')
  return bare
}

function multipartFields(body: Buffer, boundary: string): BodyField[] {
  const out: BodyField[] = []
  // A part cut by the inspection cap is inspected as far as it arrived.
  for (const part of multipartParts(body, boundary)) {
    const disposition = DISPOSITION.exec(part.headers)?.[1]
    if (disposition === undefined) continue
    const m = PART_NAME.exec(disposition)
    const name = (m ? unquote(m[1], m[2]) : undefined) ?? ''
    const file = PART_FILENAME.exec(disposition)
    if (file) out.push([name, unquote(file[1], file[2]) ?? ''])
    else if (!PART_FILENAME_STAR.test(disposition)) out.push([name, body.toString('utf8', part.contentStart, part.contentEnd)])
  }
  return out
}
