/**
 * Operations over real sockets: the admin listener's token rules, /readyz flipping when an upstream or Redis dies
 * and recovering, Prometheus metrics checked by parsing the text format, and a two-target site that keeps serving
 * when one target dies. Health rounds are triggered on demand (no waiting on intervals).
 */
import t from 'tap'
import http from 'node:http'
import { startGateway, LISTEN_HTTPS_ONLY, h1 } from '../helpers/gateway.js'
import { oneSiteYaml } from '../helpers/site-yaml.js'
import { startUpstream } from '../helpers/upstream.js'
import { startRedis } from '../helpers/redis.js'

const TOKEN = 'test-admin-token-0123456789'
const root = t

function admin(port: number, path: string, o: { token?: string; method?: string; body?: string } = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', agent: false,
      headers: o.token ? { authorization: `Bearer ${o.token}` } : {} }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }))
    })
    req.on('error', reject)
    req.end(o.body)
  })
}

/** Parses Prometheus text format into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|\+Inf)$/.exec(line)
    if (!m) throw new Error(`not Prometheus text format: ${line}`)
    out.set(m[1]!, Number(m[2]))
  }
  return out
}

const a = await startUpstream(t, (_req, res) => res.end('A'))
const b = await startUpstream(t, (_req, res) => res.end('B'))
const redis = await startRedis()
t.teardown(() => redis.stop())

const gw = await startGateway(t, `${LISTEN_HTTPS_ONLY}  admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }
tls:
  certificates:
    - { hosts: [a.test], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [a.test]
    upstream: [${a.url}, ${b.url}]
    healthCheck: { path: /health, interval: 1h, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 1 }
    passive: { maxFails: 1, ejectFor: 1h }
store:
  redis: ${redis.url}
  commandTimeout: 100ms
`, { certs: { site: ['a.test'] } })
const adminPort = gw.runtime.adminPort!

t.test('token rules: probes open, everything else needs the bearer token', async (t) => {
  t.equal((await admin(adminPort, '/healthz')).status, 200)
  t.equal((await admin(adminPort, '/metrics')).status, 401)
  t.equal((await admin(adminPort, '/metrics', { token: 'wrong-token-wrong-token' })).status, 401)
  t.equal((await admin(adminPort, '/metrics', { token: TOKEN })).status, 200)
  t.equal((await admin(adminPort, '/lockouts', { token: TOKEN })).status, 200)
  t.equal((await admin(adminPort, '/nope', { token: TOKEN })).status, 404)
})

t.test('requests are balanced across both targets', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 4; i++) seen.add((await h1(gw.port, { host: 'a.test', ca: gw.ca })).body)
  t.same([...seen].sort(), ['A', 'B'])
})

t.test('a dead target: no failed request, it is ejected, /readyz stays ready while one target is up', async (t) => {
  await b.close()
  const bodies: string[] = []
  for (let i = 0; i < 6; i++) {
    const res = await h1(gw.port, { host: 'a.test', ca: gw.ca })
    t.equal(res.status, 200, `request ${i} served`)
    bodies.push(res.body)
  }
  t.ok(bodies.every((x) => x === 'A'), 'the live target answered every request (a refused connection is retried on the other target)')
  const ready = await admin(adminPort, '/readyz')
  t.equal(ready.status, 200)
  const detail = JSON.parse(ready.body) as { checks: { upstreams: { detail: { club: { healthy: string[]; down: string[] } } } } }
  t.same(detail.checks.upstreams.detail.club.down, [b.url], 'the dead target is listed as down')
})

t.test('all targets down: 503 page, /readyz says which check failed; recovery is detected', async (t) => {
  await a.close()
  await gw.runtime.checkHealth()
  const res = await h1(gw.port, { host: 'a.test', ca: gw.ca })
  t.equal(res.status, 503)
  t.match(res.body, /503 Service Unavailable/)
  const ready = await admin(adminPort, '/readyz')
  t.equal(ready.status, 503)
  t.same((JSON.parse(ready.body) as { failed: string[] }).failed, ['upstreams'])

  // Bring target A back on the same port: the active check notices.
  const again = http.createServer((_req, r) => r.end('A again'))
  await new Promise<void>((resolve) => again.listen(a.port, '127.0.0.1', resolve))
  root.teardown(() => new Promise<void>((r) => { again.closeAllConnections(); again.close(() => r()) }))
  await gw.runtime.checkHealth()
  t.equal((await admin(adminPort, '/readyz')).status, 200, 'ready again')
  t.equal((await h1(gw.port, { host: 'a.test', ca: gw.ca })).body, 'A again')
})

t.test('/readyz follows the store: Redis killed → not ready; restarted → ready, without restarting Rampart', async (t) => {
  await redis.kill()
  let ready = await admin(adminPort, '/readyz')
  for (let i = 0; i < 50 && ready.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 50))
    ready = await admin(adminPort, '/readyz')
  }
  t.equal(ready.status, 503)
  t.same((JSON.parse(ready.body) as { failed: string[] }).failed, ['store'])
  await redis.restart()
  for (let i = 0; i < 100 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50))
    ready = await admin(adminPort, '/readyz')
  }
  t.equal(ready.status, 200, 'ready again once Redis answers')
})

t.test('metrics: the text format parses and counts what happened', async (t) => {
  const before = parseMetrics((await admin(adminPort, '/metrics', { token: TOKEN })).body)
  const key = 'rampart_requests_total{site="club",status="2xx",protocol="h1"}'
  for (let i = 0; i < 3; i++) await h1(gw.port, { host: 'a.test', ca: gw.ca })
  // The counter is updated when the response has finished on the server side, a moment after the client has it.
  let res = await admin(adminPort, '/metrics', { token: TOKEN })
  for (let i = 0; i < 20 && (parseMetrics(res.body).get(key) ?? 0) - (before.get(key) ?? 0) < 3; i++) {
    await new Promise((r) => setTimeout(r, 25))
    res = await admin(adminPort, '/metrics', { token: TOKEN })
  }
  t.match(res.type, /text\/plain/)
  const m = parseMetrics(res.body)
  t.equal((m.get(key) ?? 0) - (before.get(key) ?? 0), 3, 'three more 2xx requests for the site')
  t.ok((m.get('rampart_request_duration_seconds_count{site="club"}') ?? 0) >= 3, 'latency histogram observed')
  t.ok((m.get('rampart_upstream_errors_total{site="club",kind="refused"}') ?? 0) >= 1, 'refused upstream connections counted')
  t.ok((m.get('rampart_requests_total{site="club",status="5xx",protocol="h1"}') ?? 0) >= 1, 'the 503 was counted')
  const expiry = [...m.entries()].find(([k]) => k.startsWith('rampart_certificate_expiry_seconds'))
  t.ok(expiry && expiry[1] > 86_400 * 20, 'seconds until the certificate expires')
  t.equal(m.get('rampart_store_up{kind="redis"}'), 1)
  t.ok(m.has('rampart_process_resident_memory_bytes'), 'process metrics')
})

t.test('an admin listener without a token only answers the open probes', async (t) => {
  const g = await startGateway(t, oneSiteYaml({ upstream: 1, http2: true }), { certs: { site: ['a.test'] } })
  t.equal((await admin(g.runtime.adminPort!, '/healthz')).status, 200)
  t.equal((await admin(g.runtime.adminPort!, '/metrics')).status, 403)
  t.ok(g.logs.some((l) => String(l['msg']).includes('listen.admin.token is not set')), 'a warning says so')
})

t.test('bans: listed and lifted through the admin API (Redis store)', async (t) => {
  const { banStoreFor } = await import('../../src/store/bans.js')
  const bans = banStoreFor(gw.runtime.store(), gw.runtime.loaded().config.store)
  await bans.ban('203.0.113.9', 'notFound', 60_000, Date.now())
  const listed = JSON.parse((await admin(adminPort, '/bans', { token: TOKEN })).body) as { store: string; bans: Array<{ subject: string; reason: string; remainingMs: number }> }
  t.equal(listed.store, 'redis')
  const entry = listed.bans.find((b) => b.subject === '203.0.113.9')
  t.ok(entry, 'the ban is listed')
  t.equal(entry?.reason, 'notFound')
  t.ok((entry?.remainingMs ?? 0) > 50_000)
  t.equal((await admin(adminPort, '/bans')).status, 401, 'the token is required')
  const lifted = await admin(adminPort, '/bans/lift', { token: TOKEN, method: 'POST', body: '{"ip":"203.0.113.9"}' })
  t.same(JSON.parse(lifted.body), { lifted: true })
  const after = JSON.parse((await admin(adminPort, '/bans', { token: TOKEN })).body) as { bans: unknown[] }
  t.same(after.bans, [], 'gone')
})
