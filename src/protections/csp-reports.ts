/**
 * The CSP report collector: `POST <headers.cspReports.path>` on every site accepts `report-uri`
 * (application/csp-report) and `report-to` (application/reports+json) bodies, logs each violation as a structured
 * `csp-violation` event and counts them, then answers 204. Never proxied.
 *
 * Bounded: the body is read up to `maxBodySize` (413 beyond), each client address may send `ratePerMinute` reports
 * (429 beyond, counted in a fixed one-minute window held in memory, capped in size), identical violations are
 * logged once per minute with a repeat count. Garbage gets 400/415 and is never logged verbatim.
 */
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import type { Answer, Protection } from '../server/protection.js'
import { parseCspReports, violationKey } from '../headers/csp-report.js'
import type { Metrics } from '../metrics/registry.js'

const NO_CONTENT: Answer = { status: 204, body: '' }
const TRACKED_MAX = 10_000

export interface CspCounters {
  violations: number
  rejected: number
  rateLimited: number
}

export function compileCspReports(config: RampartConfig, logger: Logger, metrics?: Metrics, now: () => number = Date.now): { protection: Protection; counters: CspCounters } | undefined {
  const c = config.headers.cspReports
  if (!c.enabled) return undefined
  const counters: CspCounters = { violations: 0, rejected: 0, rateLimited: 0 }
  let windowStart = now()
  const perIp = new Map<string, number>()
  const seen = new Map<string, number>()
  const rollWindow = (): void => {
    const t = now()
    if (t - windowStart >= 60_000) {
      windowStart = t
      perIp.clear()
      for (const [key, repeats] of seen) {
        if (repeats > 0) logger.info({ type: 'csp-violation-repeats', key, repeats }, 'repeated CSP violations in the last minute')
      }
      seen.clear()
    }
  }
  const isReport = (request: FastifyRequest): boolean => request.rampart.path === c.path

  const protection: Protection = {
    name: 'csp-reports',
    onRequest(request) {
      if (!isReport(request)) return undefined
      if (request.raw.method !== 'POST') {
        return { status: 405, headers: [['allow', 'POST']], contentType: 'text/plain; charset=utf-8', body: 'POST CSP reports here\n' }
      }
      rollWindow()
      const ip = request.rampart.clientIp
      const n = (perIp.get(ip) ?? 0) + 1
      if (perIp.size < TRACKED_MAX || perIp.has(ip)) perIp.set(ip, n)
      if (n > c.ratePerMinute) {
        counters.rateLimited++
        metrics?.protectionEvent('csp-reports', 'rate-limited')
        return { status: 429, headers: [['retry-after', String(Math.ceil((windowStart + 60_000 - now()) / 1000))]], contentType: 'text/plain; charset=utf-8', body: 'Too many reports\n' }
      }
      return undefined
    },
    bodyLimit: (request) => (isReport(request) ? c.maxBodySize + 1 : 0),
    onBody(request, body, truncated) {
      if (!isReport(request)) return undefined
      if (truncated) {
        counters.rejected++
        return { status: 413, contentType: 'text/plain; charset=utf-8', body: 'Report too large\n', code: 'RAMPART_ERR_CSP_REPORT_INVALID' }
      }
      const result = parseCspReports(body, request.raw.headers['content-type'], {
        maxBodySize: c.maxBodySize, maxReports: c.maxReportsPerBody, maxFieldLength: c.maxFieldLength,
      })
      if (!result.ok) {
        counters.rejected++
        metrics?.protectionEvent('csp-reports', 'rejected')
        logger.info({ code: result.code, reqId: request.id, clientIp: request.rampart.clientIp, reason: result.reason }, 'CSP report refused')
        return { status: result.status, contentType: 'text/plain; charset=utf-8', body: `${result.reason}\n`, code: result.code }
      }
      rollWindow()
      for (const v of result.reports) {
        counters.violations++
        metrics?.protectionEvent('csp-reports', 'violation')
        const key = violationKey(v)
        const repeats = seen.get(key)
        if (repeats !== undefined) {
          seen.set(key, repeats + 1)
          continue
        }
        if (seen.size < TRACKED_MAX) seen.set(key, 0)
        logger.info({ type: 'csp-violation', reqId: request.id, site: request.rampart.site.name, clientIp: request.rampart.clientIp, violation: v }, 'CSP violation')
      }
      return NO_CONTENT
    },
    describe: () => ({ path: c.path, ratePerMinute: c.ratePerMinute, maxBodySize: c.maxBodySize }),
  }
  return { protection, counters }
}
