/**
 * Fuzzing the two places where Rampart writes a Location: the HTTP → HTTPS redirect (`buildHttpsRedirect`) and the
 * rewriting of an upstream's Location (`compileLocationRewriter`). Hosts and targets are built from the pieces open
 * redirects are made of (`//evil.com`, `/\evil.com`, tabs, CR/LF, `@`, `%2f`, `%5c`, schemes, userinfo, ports),
 * plus arbitrary text.
 *
 * The output is read with the WHATWG URL parser, as a browser reads it:
 * - a redirect is either refused or an absolute `https:` URL whose host is one Rampart serves, with the configured
 *   port, the target byte for byte, and no character a browser could reinterpret (controls, spaces, backslashes);
 * - a rewritten Location is either the upstream's own value, unchanged, or an `https:` URL on the client's own Host
 *   that keeps the rest of the upstream's value. Rampart never writes a host the client did not ask for.
 */
import t from 'tap'
import fc from 'fast-check'
import { buildHttpsRedirect } from '../../src/http/redirect.js'
import { compileLocationRewriter } from '../../src/proxy/location.js'
import { compileSiteRouter } from '../../src/proxy/router.js'

const router = compileSiteRouter([{ hosts: ['a.test', '*.a.test', 'b.test'], pathPrefix: '/' }])
const knowsHost = (h: string) => router.knowsHost(h)

const EVIL = ['//evil.com', '/\\evil.com', '\\\\evil.com', '/%2f%2fevil.com', '/%5cevil.com', '@evil.com', 'evil.com', 'https://evil.com',
  '//evil.com@a.test', '/.evil.com', ':443@evil.com', '\t', '\r\n', '\u0000', ' ', '#', '?', '/', '..', ';', '%09', '%0d%0a',
  '\u00ff', '\u00a0', 'javascript:alert(1)', '\u3002evil.com', '/\t/evil.com', '/ /evil.com']
const piece = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...EVIL) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) })
const pieces = fc.array(piece, { maxLength: 6 }).map((a) => a.join(''))

const hostHeader = fc.oneof(
  fc.constantFrom('a.test', 'A.TEST', 'a.test.', 'x.a.test:8080', 'b.test:443', "x!$&'()*+,;=_~-.a.test", 'y.x.a.test', 'evil.com',
    'a.test@evil.com', 'evil.com#.a.test', 'a.test\\evil.com', 'evil.com/.a.test', 'a.test:80@evil.com', '[::1]', '[::1]:8443',
    'x.a.test:99999', '%65vil.com', 'a.test evil.com', 'xn--a-test.evil', '', 'a.test\r\nx: y'),
  fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom('.a.test', '.b.test', '', '.evil.com')).map(([a, b]) => a + b),
)

/** Every redirect is refused or lands on a served host, as the browser parses it. */
function redirectViolation(host: string | undefined, target: string, port: number): string | undefined {
  const d = buildHttpsRedirect(host, target, knowsHost, port)
  if (!d.ok) return undefined
  const loc = d.location
  if (/[\u0000-\u0020\u007f\\]/.test(loc)) return 'a control character, space or backslash in the Location'
  let url: URL
  try {
    url = new URL(loc)
  } catch {
    return 'the Location does not parse'
  }
  if (url.protocol !== 'https:') return `scheme ${url.protocol}`
  if (!knowsHost(url.hostname)) return `foreign host ${url.hostname}`
  if (url.port !== (port === 443 ? '' : String(port))) return `port ${url.port}`
  if (!loc.endsWith(target) || loc.slice(0, loc.length - target.length) !== `https://${url.host}`) return 'the target was changed'
  return undefined
}

t.test('HTTP → HTTPS redirect: arbitrary Host headers and targets never leave the served hosts', async (t) => {
  let redirects = 0
  fc.assert(fc.property(hostHeader, fc.oneof(pieces, pieces.map((p) => `/${p}`)), fc.constantFrom(443, 8443), (host, target, port) => {
    const why = redirectViolation(host, target, port)
    if (why) throw new Error(`${why}: Host ${JSON.stringify(host)} target ${JSON.stringify(target)}`)
    if (buildHttpsRedirect(host, target, knowsHost, port).ok) redirects++
  }), { numRuns: 5000 })
  t.ok(redirects > 150, `${redirects} of 5000 requests were redirected, all on served hosts`)
})

t.test('HTTP → HTTPS redirect: fixed hostile cases', async (t) => {
  const refused: Array<[string | undefined, string]> = [
    ['a.test', '/\\evil.com'], ['a.test', '/\t/evil.com'], ['a.test', 'https://evil.com/'], ['a.test', 'evil.com'],
    ['a.test@evil.com', '/'], ['evil.com', '/'], ['a.test:80@evil.com', '/'], [undefined, '/'], ['a.test', '/x\r\nSet-Cookie: a=b'],
  ]
  for (const [host, target] of refused) {
    t.notOk(buildHttpsRedirect(host, target, knowsHost, 443).ok, `refused: Host ${JSON.stringify(host)}, target ${JSON.stringify(target)}`)
  }
  const d = buildHttpsRedirect('A.Test', '//evil.com/x', knowsHost, 443)
  t.ok(d.ok && new URL(d.location).hostname === 'a.test', '`//evil.com` stays a path on the served host')
})

const UPSTREAMS = ['http://127.0.0.1:3000', 'http://backend.internal', 'https://lb.internal:8443']
const rewriter = compileLocationRewriter(UPSTREAMS)
const upstreamOrigin = fc.constantFrom('http://127.0.0.1:3000', 'HTTP://127.0.0.1:3000', 'http://127.0.0.1:30001', 'http://127.0.0.1',
  'http://backend.internal', 'http://BACKEND.internal:80', 'http://backend.internal.evil.com', 'https://lb.internal:8443',
  'https://lb.internal', 'http://127.0.0.1:3000@evil.com', 'http://evil.com', '//evil.com', '', '\thttp://127.0.0.1:3000')
const publicHost = fc.constantFrom('a.test', 'x.a.test:8443', 'B.TEST', '[::1]:8443')

t.test('Location rewriting: unchanged, or on the client\'s own host, never a host of Rampart\'s choosing', async (t) => {
  let rewritten = 0
  fc.assert(fc.property(upstreamOrigin, pieces, publicHost, (origin, rest, host) => {
    const location = origin + rest
    const out = rewriter.rewrite(location, host)
    if (out === location) return
    rewritten++
    const prefix = `https://${host}`
    if (!out.startsWith(prefix)) throw new Error(`rewritten off the client's host: ${JSON.stringify(out)}`)
    let url: URL
    try {
      url = new URL(out)
    } catch {
      throw new Error(`rewritten Location does not parse: ${JSON.stringify(out)}`)
    }
    if (url.host !== new URL(`https://${host}`).host) throw new Error(`${JSON.stringify(location)} became host ${url.host}`)
    if (!location.endsWith(out.slice(prefix.length)) && out.slice(prefix.length) !== '/') throw new Error(`the path was changed: ${JSON.stringify(out)}`)
  }), { numRuns: 5000 })
  t.ok(rewritten > 500, `${rewritten} of 5000 Locations rewritten, each onto the client's own host`)
})

t.test('Location rewriting: fixed hostile cases stay unchanged', async (t) => {
  for (const location of ['http://127.0.0.1:3000@evil.com/', 'http://127.0.0.1:30001/', 'http://backend.internal.evil.com/', '//evil.com/x', '/\\evil.com']) {
    t.equal(rewriter.rewrite(location, 'a.test'), location, `not rewritten: ${location}`)
  }
  t.equal(rewriter.rewrite('http://127.0.0.1:3000//evil.com', 'a.test'), 'https://a.test//evil.com', '`//evil.com` after the origin stays a path')
  t.equal(new URL(rewriter.rewrite('http://127.0.0.1:3000//evil.com', 'a.test')).hostname, 'a.test')
  // Browsers read `\` after the authority as `/`: the internal origin must not leak through that spelling.
  t.equal(rewriter.rewrite('http://127.0.0.1:3000\\account', 'a.test'), 'https://a.test\\account', 'a backslash ends the origin too')
  t.equal(new URL(rewriter.rewrite('http://127.0.0.1:3000\\account', 'a.test')).hostname, 'a.test')
})
