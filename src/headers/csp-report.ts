/**
 * Reads CSP violation reports sent by browsers into normalized, bounded records. Pure: the HTTP endpoint (body
 * limit, rate limit, logging) wires it in.
 *
 * Two wire formats exist: `application/csp-report` (the `report-uri` directive: one `{"csp-report": {...}}` object
 * with kebab-case keys) and `application/reports+json` (the Reporting API behind `report-to`: an array of
 * `{type, url, user_agent, body: {...}}` with camelCase keys, possibly mixed with other report types). Some browsers
 * send either as `application/json`; the shape decides.
 *
 * Contract: never throws. Anything that is not a report gives `{ ok: false }` with the HTTP status to answer.
 * Output is bounded: at most `maxReports` records per body, every string cut to `maxFieldLength`, control
 * characters replaced. URLs lose their credentials, fragment and (unless `keepQuery`) query string: a document URL
 * can carry a password-reset or session token, and these records end up in logs.
 */
import type { ErrorCode } from '../errors.js'

export type CspReportFormat = 'report-uri' | 'report-to'

export interface CspViolation {
  readonly format: CspReportFormat
  readonly documentURI: string
  readonly referrer: string
  readonly blockedURI: string
  readonly violatedDirective: string
  readonly effectiveDirective: string
  readonly originalPolicy: string
  readonly disposition: 'enforce' | 'report'
  readonly sourceFile: string
  readonly lineNumber: number | undefined
  readonly columnNumber: number | undefined
  readonly statusCode: number | undefined
  readonly sample: string
  /** Only the Reporting API sends it. */
  readonly userAgent: string
}

export interface CspReportLimits {
  /** Bytes; larger bodies are refused with 413. */
  readonly maxBodySize: number
  /** Records read from one body; the rest are counted in `skipped`. */
  readonly maxReports: number
  /** Longest string kept from any field. */
  readonly maxFieldLength: number
  /** Keep query strings of URLs. Off by default: they can hold tokens. */
  readonly keepQuery?: boolean
}

export type CspReportResult =
  | { readonly ok: true; readonly reports: CspViolation[]; readonly skipped: number }
  | { readonly ok: false; readonly status: 400 | 413 | 415; readonly code: ErrorCode; readonly reason: string }

/** Which format a Content-Type announces; `json` means "decide by shape". Undefined: not a report. */
export function cspReportContentType(contentType: string | undefined): CspReportFormat | 'json' | undefined {
  if (contentType === undefined) return undefined
  const semi = contentType.indexOf(';')
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
  if (type === 'application/csp-report') return 'report-uri'
  if (type === 'application/reports+json') return 'report-to'
  if (type === 'application/json') return 'json'
  return undefined
}

const decoder = new TextDecoder('utf-8', { fatal: false })

export function parseCspReports(body: string | Uint8Array, contentType: string | undefined, limits: CspReportLimits): CspReportResult {
  const kind = cspReportContentType(contentType)
  if (kind === undefined) {
    return fail(415, 'RAMPART_ERR_CSP_REPORT_INVALID', 'content type must be application/csp-report, application/reports+json or application/json')
  }
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
  if (size > limits.maxBodySize) return fail(413, 'RAMPART_ERR_HTTP_BODY_TOO_LARGE', `body is ${size} bytes, more than ${limits.maxBodySize}`)
  const text = typeof body === 'string' ? body : decoder.decode(body)
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return fail(400, 'RAMPART_ERR_CSP_REPORT_INVALID', 'body is not JSON')
  }
  const format: CspReportFormat | undefined = kind !== 'json' ? kind : Array.isArray(data) ? 'report-to' : isObject(data) && 'csp-report' in data ? 'report-uri' : undefined
  const n = new Normalizer(limits)
  if (format === 'report-uri') {
    const inner = isObject(data) ? data['csp-report'] : undefined
    if (!isObject(inner)) return fail(400, 'RAMPART_ERR_CSP_REPORT_INVALID', 'body has no "csp-report" object')
    const v = n.fromReportUri(inner)
    if (!v) return fail(400, 'RAMPART_ERR_CSP_REPORT_INVALID', 'report names no directive')
    return { ok: true, reports: [v], skipped: 0 }
  }
  if (format === 'report-to') {
    if (!Array.isArray(data)) return fail(400, 'RAMPART_ERR_CSP_REPORT_INVALID', 'body is not an array of reports')
    const reports: CspViolation[] = []
    let skipped = 0
    for (const item of data) {
      const v = reports.length < limits.maxReports && isObject(item) && item.type === 'csp-violation' && isObject(item.body)
        ? n.fromReportTo(item, item.body)
        : undefined
      if (v) reports.push(v)
      else skipped++
    }
    // Other report types (deprecation, intervention...) and reports past the limit are counted, not refused.
    return { ok: true, reports, skipped }
  }
  return fail(400, 'RAMPART_ERR_CSP_REPORT_INVALID', 'body is neither a report-uri nor a report-to report')
}

/** A short key grouping repeats of the same violation (for counting and log throttling). */
export function violationKey(v: CspViolation): string {
  return `${v.effectiveDirective || v.violatedDirective} ${originOf(v.blockedURI)} ${v.sourceFile}`
}

function originOf(uri: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(uri)
  return m ? m[0] : uri
}

function fail(status: 400 | 413 | 415, code: ErrorCode, reason: string): CspReportResult {
  return { ok: false, status, code, reason }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

const CONTROL = /[\x00-\x1f\x7f]/g

/** Values that stand for a kind of content rather than a URL (`blocked-uri: inline`). */
const URI_KEYWORDS = new Set(['inline', 'eval', 'self', 'data', 'blob', 'wasm-eval', 'trusted-types-policy', 'trusted-types-sink'])

class Normalizer {
  readonly #max: number
  readonly #keepQuery: boolean

  constructor(limits: CspReportLimits) {
    this.#max = limits.maxFieldLength
    this.#keepQuery = limits.keepQuery ?? false
  }

  fromReportUri(r: Record<string, unknown>): CspViolation | undefined {
    const violated = this.directive(r['violated-directive'])
    const effective = this.directive(r['effective-directive']) || violated.split(' ')[0]!
    if (!effective) return undefined
    return {
      format: 'report-uri',
      documentURI: this.uri(r['document-uri']),
      referrer: this.uri(r.referrer),
      blockedURI: this.uri(r['blocked-uri']),
      violatedDirective: violated || effective,
      effectiveDirective: effective,
      originalPolicy: this.str(r['original-policy']),
      disposition: r.disposition === 'report' ? 'report' : 'enforce',
      sourceFile: this.uri(r['source-file']),
      lineNumber: this.num(r['line-number']),
      columnNumber: this.num(r['column-number']),
      statusCode: this.num(r['status-code']),
      sample: this.str(r['script-sample']),
      userAgent: '',
    }
  }

  fromReportTo(item: Record<string, unknown>, b: Record<string, unknown>): CspViolation | undefined {
    const effective = this.directive(b.effectiveDirective)
    if (!effective) return undefined
    return {
      format: 'report-to',
      documentURI: this.uri(b.documentURL ?? item.url),
      referrer: this.uri(b.referrer),
      blockedURI: this.uri(b.blockedURL),
      violatedDirective: effective,
      effectiveDirective: effective,
      originalPolicy: this.str(b.originalPolicy),
      disposition: b.disposition === 'report' ? 'report' : 'enforce',
      sourceFile: this.uri(b.sourceFile),
      lineNumber: this.num(b.lineNumber),
      columnNumber: this.num(b.columnNumber),
      statusCode: this.num(b.statusCode),
      sample: this.str(b.sample),
      userAgent: this.str(item.user_agent),
    }
  }

  str(v: unknown): string {
    if (typeof v !== 'string') return ''
    const cut = v.length > this.#max ? v.slice(0, this.#max) : v
    return cut.replace(CONTROL, ' ')
  }

  directive(v: unknown): string {
    if (typeof v !== 'string') return ''
    const d = v.trim().toLowerCase().slice(0, 256).replace(CONTROL, ' ')
    return /^[a-z][a-z0-9-]*(\s|$)/.test(d) ? d.slice(0, this.#max) : ''
  }

  uri(v: unknown): string {
    if (typeof v !== 'string' || v === '') return ''
    const raw = v.length > 4 * this.#max ? v.slice(0, 4 * this.#max) : v
    if (URI_KEYWORDS.has(raw.toLowerCase())) return raw.toLowerCase()
    let out: string
    try {
      const u = new URL(raw)
      u.username = ''
      u.password = ''
      u.hash = ''
      if (!this.#keepQuery) u.search = ''
      out = u.href
    } catch {
      // Not an absolute URL (a bare scheme like `data` or a relative path): keep what precedes any query or fragment.
      out = this.#keepQuery ? raw.replace(/#.*$/s, '') : raw.replace(/[?#].*$/s, '')
    }
    return this.str(out)
  }

  num(v: unknown): number | undefined {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : NaN
    return Number.isSafeInteger(n) && n >= 0 ? n : undefined
  }
}
