import t from 'tap'
import fc from 'fast-check'
import { parseCspReports, cspReportContentType, violationKey, type CspReportLimits } from '../../src/headers/csp-report.js'

const LIMITS: CspReportLimits = { maxBodySize: 16 * 1024, maxReports: 20, maxFieldLength: 512 }

const CHROME_REPORT_URI = JSON.stringify({
  'csp-report': {
    'document-uri': 'https://club.ballejaune.test/reservation.php?token=s3cret#slot',
    referrer: 'https://www.google.com/search?q=tennis',
    'violated-directive': 'script-src-elem',
    'effective-directive': 'script-src-elem',
    'original-policy': "default-src 'self'; report-uri /.rampart/csp-report",
    disposition: 'enforce',
    'blocked-uri': 'https://evil.test/x.js?cb=1',
    'line-number': 12,
    'column-number': 5,
    'source-file': 'https://club.ballejaune.test/reservation.php',
    'status-code': 200,
    'script-sample': '',
  },
})

const REPORTING_API = JSON.stringify([
  {
    age: 10,
    type: 'csp-violation',
    url: 'https://openresa.test/book?session=abc',
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0',
    body: {
      blockedURL: 'inline',
      columnNumber: 39,
      disposition: 'report',
      documentURL: 'https://openresa.test/book?session=abc',
      effectiveDirective: 'script-src-elem',
      lineNumber: 121,
      originalPolicy: "script-src 'self'; report-to csp",
      referrer: '',
      sample: 'console.log("lo")',
      sourceFile: 'https://openresa.test/book',
      statusCode: 200,
    },
  },
  { age: 3, type: 'deprecation', url: 'https://openresa.test/', body: { id: 'UnloadHandler', message: 'x' } },
  {
    age: 1,
    type: 'csp-violation',
    url: 'https://openresa.test/',
    user_agent: 'UA',
    body: { documentURL: 'https://user:pw@openresa.test/#frag', effectiveDirective: 'img-src', blockedURL: 'data', disposition: 'enforce' },
  },
])

t.test('content types', async (t) => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['application/csp-report', 'report-uri'],
    ['Application/CSP-Report; charset=utf-8', 'report-uri'],
    ['application/reports+json', 'report-to'],
    ['application/json', 'json'],
    ['text/plain', undefined],
    ['', undefined],
    [undefined, undefined],
  ]
  for (const [ct, want] of cases) t.equal(cspReportContentType(ct), want, String(ct))
})

t.test('report-uri body from Chrome', async (t) => {
  const r = parseCspReports(CHROME_REPORT_URI, 'application/csp-report', LIMITS)
  t.same(r, {
    ok: true,
    skipped: 0,
    reports: [{
      format: 'report-uri',
      documentURI: 'https://club.ballejaune.test/reservation.php',
      referrer: 'https://www.google.com/search',
      blockedURI: 'https://evil.test/x.js',
      violatedDirective: 'script-src-elem',
      effectiveDirective: 'script-src-elem',
      originalPolicy: "default-src 'self'; report-uri /.rampart/csp-report",
      disposition: 'enforce',
      sourceFile: 'https://club.ballejaune.test/reservation.php',
      lineNumber: 12,
      columnNumber: 5,
      statusCode: 200,
      sample: '',
      userAgent: '',
    }],
  })
  const keep = parseCspReports(CHROME_REPORT_URI, 'application/csp-report', { ...LIMITS, keepQuery: true })
  t.equal(keep.ok && keep.reports[0]!.documentURI, 'https://club.ballejaune.test/reservation.php?token=s3cret', 'keepQuery keeps the query, never the fragment')
})

t.test('report-uri body from an older Firefox: violated-directive carries the sources', async (t) => {
  const body = JSON.stringify({
    'csp-report': {
      'blocked-uri': 'self', 'document-uri': 'https://a.test/', 'line-number': '7',
      'original-policy': "script-src 'self'", 'source-file': 'https://a.test/', 'violated-directive': "script-src 'self'",
    },
  })
  const r = parseCspReports(body, 'application/csp-report', LIMITS)
  t.ok(r.ok)
  if (!r.ok) return
  const v = r.reports[0]!
  t.equal(v.effectiveDirective, 'script-src')
  t.equal(v.violatedDirective, "script-src 'self'")
  t.equal(v.blockedURI, 'self')
  t.equal(v.lineNumber, 7, 'numeric string accepted')
  t.equal(v.disposition, 'enforce', 'absent disposition reads as enforce')
})

t.test('report-to batch: CSP reports read, other types skipped, URLs stripped', async (t) => {
  const r = parseCspReports(REPORTING_API, 'application/reports+json', LIMITS)
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(r.skipped, 1)
  t.equal(r.reports.length, 2)
  const [a, b] = r.reports
  t.same(a, {
    format: 'report-to',
    documentURI: 'https://openresa.test/book',
    referrer: '',
    blockedURI: 'inline',
    violatedDirective: 'script-src-elem',
    effectiveDirective: 'script-src-elem',
    originalPolicy: "script-src 'self'; report-to csp",
    disposition: 'report',
    sourceFile: 'https://openresa.test/book',
    lineNumber: 121,
    columnNumber: 39,
    statusCode: 200,
    sample: 'console.log("lo")',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0',
  })
  t.equal(b!.documentURI, 'https://openresa.test/', 'credentials and fragment removed')
  t.equal(b!.blockedURI, 'data')
  t.equal(b!.lineNumber, undefined)
})

t.test('application/json is read by shape', async (t) => {
  const a = parseCspReports(CHROME_REPORT_URI, 'application/json', LIMITS)
  t.equal(a.ok && a.reports[0]!.format, 'report-uri')
  const b = parseCspReports(REPORTING_API, 'application/json', LIMITS)
  t.equal(b.ok && b.reports[0]!.format, 'report-to')
})

t.test('bounds: reports per body, field length, control characters, bytes', async (t) => {
  const many = JSON.stringify(Array.from({ length: 50 }, (_, i) => ({
    type: 'csp-violation', url: 'https://a.test/', body: { effectiveDirective: 'img-src', blockedURL: `https://x${i}.test/` },
  })))
  const r = parseCspReports(many, 'application/reports+json', { ...LIMITS, maxReports: 5 })
  t.ok(r.ok)
  if (r.ok) {
    t.equal(r.reports.length, 5)
    t.equal(r.skipped, 45)
  }
  const long = JSON.stringify({ 'csp-report': { 'effective-directive': 'script-src', 'script-sample': `a\r\nb${'x'.repeat(5000)}`, 'blocked-uri': `https://a.test/${'p'.repeat(5000)}` } })
  const l = parseCspReports(long, 'application/csp-report', { ...LIMITS, maxFieldLength: 64 })
  t.ok(l.ok)
  if (l.ok) {
    t.equal(l.reports[0]!.sample.length, 64)
    t.notMatch(l.reports[0]!.sample, /[\r\n]/)
    t.ok(l.reports[0]!.blockedURI.length <= 64)
  }
  const big = parseCspReports(CHROME_REPORT_URI, 'application/csp-report', { ...LIMITS, maxBodySize: 100 })
  t.same(big, { ok: false, status: 413, code: 'RAMPART_ERR_HTTP_BODY_TOO_LARGE', reason: `body is ${Buffer.byteLength(CHROME_REPORT_URI)} bytes, more than 100` })
  const bytes = parseCspReports(new TextEncoder().encode(CHROME_REPORT_URI), 'application/csp-report', LIMITS)
  t.ok(bytes.ok, 'a byte body is decoded as UTF-8')
})

t.test('garbage gives an error result, never an exception', async (t) => {
  const cases: Array<[string, string | undefined, number, string]> = [
    ['', 'application/csp-report', 400, 'body is not JSON'],
    ['{"csp-report":', 'application/csp-report', 400, 'body is not JSON'],
    ['null', 'application/csp-report', 400, 'body has no "csp-report" object'],
    ['[]', 'application/csp-report', 400, 'body has no "csp-report" object'],
    ['{"csp-report": 5}', 'application/csp-report', 400, 'body has no "csp-report" object'],
    ['{"csp-report": {}}', 'application/csp-report', 400, 'report names no directive'],
    ['{"csp-report": {"effective-directive": "<script>"}}', 'application/csp-report', 400, 'report names no directive'],
    ['{"a": 1}', 'application/reports+json', 400, 'body is not an array of reports'],
    ['"text"', 'application/json', 400, 'body is neither a report-uri nor a report-to report'],
    ['{"csp-report": {}}', 'text/html', 415, 'content type must be application/csp-report, application/reports+json or application/json'],
    ['{}', undefined, 415, 'content type must be application/csp-report, application/reports+json or application/json'],
  ]
  for (const [body, ct, status, reason] of cases) {
    const r = parseCspReports(body, ct, LIMITS)
    t.same(r, { ok: false, status, code: 'RAMPART_ERR_CSP_REPORT_INVALID', reason }, `${ct}: ${body}`)
  }
  const weird = parseCspReports('[1, null, "x", {"type":"csp-violation"}, {"type":"csp-violation","body":{"effectiveDirective":7}}]', 'application/reports+json', LIMITS)
  t.same(weird, { ok: true, reports: [], skipped: 5 }, 'malformed entries in a batch are skipped')
  const proto = parseCspReports('{"csp-report":{"__proto__":{"x":1},"effective-directive":"img-src","line-number":-3}}', 'application/csp-report', LIMITS)
  t.equal(proto.ok && proto.reports[0]!.lineNumber, undefined, 'negative numbers dropped')
})

t.test('property: any body or content type yields a result, bounded', async (t) => {
  const body = fc.oneof(
    fc.string(),
    fc.json(),
    fc.jsonValue().map((v) => JSON.stringify({ 'csp-report': v })),
    fc.array(fc.record({ type: fc.constantFrom('csp-violation', 'deprecation'), body: fc.jsonValue() })).map((v) => JSON.stringify(v)),
  )
  const ct = fc.constantFrom('application/csp-report', 'application/reports+json', 'application/json', 'text/plain', undefined)
  fc.assert(fc.property(body, ct, (b, c) => {
    const r = parseCspReports(b, c, { maxBodySize: 4096, maxReports: 3, maxFieldLength: 32 })
    if (!r.ok) return [400, 413, 415].includes(r.status)
    return r.reports.length <= 3 && r.reports.every((v) =>
      [v.documentURI, v.blockedURI, v.sample, v.sourceFile, v.originalPolicy, v.userAgent].every((s) => typeof s === 'string' && s.length <= 32 && !/[\x00-\x1f]/.test(s)))
  }), { numRuns: 500 })
  t.pass('500 random cases')
})

t.test('violationKey groups repeats by directive, blocked origin and source', async (t) => {
  const r = parseCspReports(CHROME_REPORT_URI, 'application/csp-report', LIMITS)
  t.ok(r.ok)
  if (r.ok) t.equal(violationKey(r.reports[0]!), 'script-src-elem https://evil.test https://club.ballejaune.test/reservation.php')
})
