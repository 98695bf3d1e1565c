/**
 * A 3-primary Redis Cluster gives the same results as a standalone Redis: two gateways sharing the cluster lock an
 * account after failures spread across both, and one rate limit holds across both. Keys carry hash tags (one slot
 * per Lua script), so this also proves every script's keys land in one slot. Two in-process runtimes: the cluster
 * is the only state they share (each has its own store client), which is what the test is about; spawning
 * processes is covered by the standalone test.
 */
import t from 'tap'
import { startGateway, h1, type TestGateway } from '../helpers/gateway.js'
import { oneSiteYaml } from '../helpers/site-yaml.js'
import { startRedisCluster } from '../helpers/redis.js'
import { startDemoApp, INVALID_CREDENTIALS_TEXT } from '../../src/demo/app.js'

const MIMIC = `<p class="error">${INVALID_CREDENTIALS_TEXT}</p>`

const cluster = await startRedisCluster(3)
t.teardown(() => cluster.stop())
const demo = await startDemoApp({ port: 0 })
t.teardown(() => demo.close())

const yaml = oneSiteYaml({ upstream: demo.port, admin: false, trustedProxies: ['127.0.0.1/32'], name: 'club', extra: `store:
  redis:
    cluster: [${cluster.nodes.map((n) => `{ host: ${n.host}, port: ${n.port} }`).join(', ')}]
  keySecret: cluster-test-key-secret
  # Generous: these tests are about results, not timeouts (store-faults covers those), and CI machines are busy.
  commandTimeout: 1s
rateLimits:
  - { name: per-ip, match: { pathPrefix: /limited }, key: ip, limit: 4, per: 1m }
lockout:
  logins: [{ site: club, path: /login }]
  failure: { bodyContains: "${INVALID_CREDENTIALS_TEXT}" }
  maxFailures: 3
  answer: { status: 200, body: '${MIMIC}' }
  deviceCookie: { secret: cluster-device-cookie-secret-0123456789 }
` })
const a = await startGateway(t, yaml, { certs: { site: ['a.test'] } })
const b = await startGateway(t, yaml, { certs: { site: ['a.test'] } })

// The cluster client discovers the slot map before its first command; until then decisions fail open.
for (const gw of [a, b]) {
  const deadline = Date.now() + 15_000
  while (gw.runtime.store().status() !== 'ready') {
    if (Date.now() > deadline) throw new Error('the cluster store did not become ready within 15 s')
    await new Promise((r) => setTimeout(r, 50))
  }
}

const get = (gw: TestGateway, path: string, ip: string) => h1(gw.port, { host: 'a.test', path, headers: { 'x-forwarded-for': ip }, ca: gw.ca })
const login = (gw: TestGateway, user: string, password: string, ip: string) => h1(gw.port, {
  host: 'a.test', path: '/login', method: 'POST', ca: gw.ca,
  headers: { 'x-forwarded-for': ip, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ username: user, password }).toString(),
})

t.test('cluster: failures spread across two gateways lock the account on both', async (t) => {
  for (const [i, gw] of [a, b, a].entries()) {
    t.match((await login(gw, 'alice', `wrong-${i}`, `198.51.100.${10 + i}`)).body, INVALID_CREDENTIALS_TEXT, `failure ${i + 1}`)
  }
  const requests = demo.server.stats.requests
  for (const gw of [b, a]) t.equal((await login(gw, 'alice', 'correct horse', '198.51.100.20')).body, MIMIC, 'refused, right password or not')
  t.equal(demo.server.stats.requests, requests, 'the application was not contacted')
  t.equal((await login(b, 'alice', 'correct horse', '198.51.100.20')).status, 200)
  t.match((await login(a, 'bob', 'x', '198.51.100.21')).body, INVALID_CREDENTIALS_TEXT, 'other accounts are not affected')
  t.equal(a.logs.concat(b.logs).filter((l) => l['code'] === 'RAMPART_ERR_STORE_UNAVAILABLE').length, 0, 'no store error on the way')
})

t.test('cluster: one rate limit holds across two gateways; keys live in the cluster with their TTL', async (t) => {
  const remaining: Array<string | undefined> = []
  for (const gw of [a, b, a, b]) {
    const res = await get(gw, '/limited', '198.51.100.30')
    t.equal(res.status, 404)
    remaining.push(/r=(\d+)/.exec(String(res.headers['ratelimit']))?.[1])
  }
  t.same(remaining, ['3', '2', '1', '0'])
  for (const gw of [a, b]) t.equal((await get(gw, '/limited', '198.51.100.30')).status, 429)
  t.equal((await get(b, '/limited', '198.51.100.31')).status, 404, 'another address has its own budget')

  const store = a.runtime.store()
  const key = store.key('ratelimit', 'per-ip', '198.51.100.30')
  t.equal(key, 'rampart:ratelimit:per-ip:{198.51.100.30}', 'the subject is the hash tag')
  const ttl = await store.pttl(key, Date.now())
  t.ok(ttl > 0 && ttl <= 120_000, `the counter expires by itself (${ttl} ms left)`)
})
