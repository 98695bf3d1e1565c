/**
 * Micro-benchmark of the per-response hardening work: selecting and applying the precomputed security-header set,
 * and rewriting a typical two-cookie response (already compliant: the fast path; and needing changes).
 * For reference it also times helmet the way @fastify/helmet runs it (middleware built per request) and built once.
 *
 * `node dist/bench/hardening-micro.js [--rounds 15] [--batch 20000]`
 *
 * Each round times `batch` calls; the median round is reported in CPU nanoseconds per call. Header objects are
 * built per call, like the proxy does per response, and the cost of building one is subtracted.
 */
import { parseArgs } from 'node:util'
import helmet from 'helmet'
import { compileHeaderPolicy } from '../src/headers/policy.js'
import { compileCookieRewriter } from '../src/cookies/rewrite.js'
import type { HeadersConfig } from '../src/config/sections/headers.js'
import type { CookiesConfig } from '../src/config/sections/cookies.js'

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '15' }, batch: { type: 'string', default: '20000' } },
})
const ROUNDS = Math.max(3, Number(args.rounds))
const BATCH = Math.max(1000, Number(args.batch))

const SITES = [
  { name: 'ballejaune', hosts: ['ballejaune.test', '*.ballejaune.test'] },
  { name: 'openresa', hosts: ['openresa.test'] },
]

/** The validated defaults of the `headers` section, plus one path override as a real config would have. */
const HEADERS: HeadersConfig = {
  hsts: { maxAge: 63072000, includeSubDomains: true, preload: false, mode: 'set' },
  contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'",
  contentSecurityPolicyReportOnly: false,
  xContentTypeOptions: 'nosniff',
  xFrameOptions: 'SAMEORIGIN',
  referrerPolicy: 'strict-origin-when-cross-origin',
  permissionsPolicy: { value: 'camera=(), microphone=(), usb=()', mode: 'default' },
  crossOriginOpenerPolicy: 'same-origin-allow-popups',
  crossOriginResourcePolicy: 'same-site',
  xXssProtection: '0',
  expectCt: false,
  remove: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-generator'],
  overrides: [{ pathPrefix: '/widget', xFrameOptions: false, contentSecurityPolicy: "frame-ancestors https://partner.test" }],
  cspReports: { enabled: false, path: '/.rampart/csp-report', maxBodySize: 16384, ratePerMinute: 60, maxReportsPerBody: 20, maxFieldLength: 512 },
}

const COOKIES: CookiesConfig = {
  enabled: true, secure: true, httpOnly: true, sameSite: 'Lax', domain: 'keep-if-inside',
  except: { 'XSRF-TOKEN': { httpOnly: false } }, onError: 'closed',
}

/** What a PHP upstream sends with a page. */
function upstreamHeaders(): Record<string, string | string[] | number | undefined> {
  return {
    date: 'Mon, 23 Nov 2026 18:00:00 GMT',
    server: 'Apache/2.4.29 (Ubuntu)',
    'x-powered-by': 'PHP/5.6.40',
    expires: 'Thu, 19 Nov 1981 08:52:00 GMT',
    'cache-control': 'no-store, no-cache, must-revalidate',
    pragma: 'no-cache',
    'set-cookie': ['PHPSESSID=5f0c9a1b2c3d4e5f6a7b8c9d0e; path=/', 'XSRF-TOKEN=abc; path=/'],
    vary: 'Accept-Encoding',
    'content-length': '5120',
    'content-type': 'text/html; charset=UTF-8',
  }
}

const COMPLIANT = [
  'PHPSESSID=5f0c9a1b2c3d4e5f6a7b8c9d0e; path=/; Secure; HttpOnly; SameSite=Lax',
  'XSRF-TOKEN=eyJpdiI6IjEifQ%3D%3D; expires=Sat, 04-Apr-2026 12:00:00 GMT; Max-Age=7200; path=/; Secure; SameSite=Lax',
]
const LEGACY = [
  'PHPSESSID=5f0c9a1b2c3d4e5f6a7b8c9d0e; path=/',
  'XSRF-TOKEN=eyJpdiI6IjEifQ%3D%3D; expires=Sat, 04-Apr-2026 12:00:00 GMT; Max-Age=7200; path=/',
]

let sink = 0

/**
 * Median over rounds of the CPU time per call of `op` (CPU time, not wall time, so that other processes on the
 * machine inflate the numbers less). The first two rounds warm the JIT up and are not counted.
 */
function measure(op: () => void): number {
  const samples: number[] = []
  for (let round = 0; round < ROUNDS + 2; round++) {
    const start = process.cpuUsage()
    for (let i = 0; i < BATCH; i++) op()
    const used = process.cpuUsage(start)
    if (round >= 2) samples.push(((used.user + used.system) * 1000) / BATCH)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]!
}

const { policy } = compileHeaderPolicy(HEADERS, SITES)
const rewriter = compileCookieRewriter(COOKIES, SITES[0]!)

/** A response object with just what helmet's middleware calls. */
function fakeResponse() {
  const headers: Record<string, string> = {}
  return {
    setHeader(name: string, value: string) { headers[name.toLowerCase()] = value },
    removeHeader(name: string) { delete headers[name.toLowerCase()] },
    headers,
  }
}
const helmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'data:'], frameAncestors: ["'self'"] } },
  crossOriginOpenerPolicy: { policy: 'same-origin-allow-popups' as const },
  crossOriginResourcePolicy: { policy: 'same-site' as const },
}
const helmetOnce = helmet(helmetOptions)
const noop = () => {}

// Header objects are made per call, as the proxy does per response; the cost of making one is measured alone and
// subtracted.
const makeOnly = measure(() => { sink += Object.keys(upstreamHeaders()).length })
const net = (op: () => void) => Math.max(0, measure(op) - makeOnly)

const results: Array<{ name: string; ns: number }> = [
  { name: 'select(site, path, https)', ns: measure(() => { sink += policy.select(0, '/reservation.php?club=4', true).own.length }) },
  { name: 'applyTo(headers), typical PHP response', ns: net(() => {
    const h = upstreamHeaders()
    policy.select(0, '/reservation.php', true).applyTo(h)
    sink += Object.keys(h).length
  }) },
  { name: 'applyToCopy(headers), typical PHP response', ns: net(() => {
    sink += Object.keys(policy.select(0, '/reservation.php', true).applyToCopy(upstreamHeaders())).length
  }) },
  { name: 'rewrite 2 cookies, already compliant (fast path)', ns: measure(() => {
    sink += rewriter.rewrite(COMPLIANT, 'club1.ballejaune.test').values.length
  }) },
  { name: 'rewrite 2 cookies, legacy (both rebuilt)', ns: measure(() => {
    sink += rewriter.rewrite(LEGACY, 'club1.ballejaune.test').values.length
  }) },
  { name: 'reference: helmet middleware built once', ns: measure(() => { helmetOnce({} as never, fakeResponse() as never, noop) }) },
  { name: 'reference: helmet built per request (@fastify/helmet)', ns: measure(() => {
    helmet(helmetOptions)({} as never, fakeResponse() as never, noop)
  }) },
]

const width = Math.max(...results.map((r) => r.name.length))
process.stdout.write(`node ${process.version}, ${ROUNDS} rounds of ${BATCH} calls, median round, CPU ns per call\n\n`)
process.stdout.write(`| ${'operation'.padEnd(width)} | ns/op |\n| ${'-'.repeat(width)} | ----: |\n`)
for (const r of results) process.stdout.write(`| ${r.name.padEnd(width)} | ${r.ns.toFixed(0).padStart(5)} |\n`)
if (sink === -1) process.stdout.write('\n')
