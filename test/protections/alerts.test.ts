/**
 * Webhook alerts from a running gateway, delivered over real sockets to a node:http receiver on 127.0.0.1: the
 * payload and its HMAC signature (secret from the environment), a burst from one source throttled into one alert
 * and then one summary with a count, abuse signals, a dead receiver (retries, then the alert is dropped and
 * logged) and a hung one (the queue stays bounded and drops the oldest) while requests keep their latency, and the
 * sink kept across a reload and flushed at shutdown.
 * Throttle windows run on a fake `Date` (ticked); retry backoff and timeouts are short and run in real time.
 */
import t from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { startGateway, h1, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, echoHandler, deadPort } from '../helpers/upstream.js'
import { verifySignature } from '../../src/alerts/signature.js'
import type { ThreatProtection } from '../../src/protections/threats.js'

const SECRET = 'alert-signing-secret-0123456789'

const clock = FakeTimers.install({ toFake: ['Date'], now: Date.now(), shouldAdvanceTime: true })
t.teardown(() => clock.uninstall())

const up = await startUpstream(t, (req, res) => {
  if ((req.url ?? '').startsWith('/missing')) return void res.writeHead(404).end()
  echoHandler(req, res)
})

interface Received {
  readonly headers: IncomingMessage['headers']
  readonly body: string
  readonly json: Record<string, unknown>
}

async function receiver(t: { teardown(fn: () => unknown): void }, respond: 'ok' | 'hang' = 'ok'): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      received.push({ headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown> })
      if (respond === 'ok') res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections()
    server.close(() => r())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/rampart?token=abc`, received }
}

function config(webhook: string, abuse = '  detections: { enabled: false }'): string {
  return `listen:
  https: { host: 127.0.0.1, port: 0, http2: true }
  http: { enabled: false }
trustedProxies: [127.0.0.0/8]
tls:
  certificates:
    - { hosts: [localhost], cert: site.pem, key: site-key.pem }
sites:
  - name: club
    hosts: [localhost]
    upstream: ${up.url}
threats: { mode: detect }
abuse:
${abuse}
alerts:
  webhook:
${webhook}
`
}

const ATTACK = `/find?q=${encodeURIComponent("1' OR '1'='1")}`

function threatsOf(gw: TestGateway): ThreatProtection {
  return gw.runtime.state.plan.protections.all.find((p) => p.name === 'threats') as ThreatProtection
}

async function until(what: string, fn: () => boolean | Promise<boolean>, limitMs = 8000): Promise<void> {
  const deadline = performance.now() + limitMs
  while (!(await fn())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function timedAttack(gw: TestGateway, ip: string): Promise<number> {
  const started = performance.now()
  const res = await h1(gw.port, { path: ATTACK, headers: { 'x-forwarded-for': ip } })
  if (res.status !== 200) throw new Error(`unexpected status ${res.status}`)
  return performance.now() - started
}

async function events(gw: TestGateway): Promise<Record<string, number>> {
  const text = await gw.runtime.metrics.registry.getSingleMetricAsString('rampart_protection_events_total')
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^rampart_protection_events_total\{protection="([^"]+)",outcome="([^"]+)"\} (\d+)$/gm)) {
    out[`${m[1]}/${m[2]}`] = Number(m[3])
  }
  return out
}

t.test('a signed alert per detection; a burst becomes one alert, then one summary with its count', async (t) => {
  const { url, received } = await receiver(t)
  const gw = await startGateway(t, config(`    url: ${url}
    secret: \${ALERT_WEBHOOK_SECRET}
    minInterval: 1m`), { env: { ALERT_WEBHOOK_SECRET: SECRET } })
  const p = threatsOf(gw)

  const first = await h1(gw.port, { path: ATTACK, headers: { 'x-forwarded-for': '203.0.113.7' } })
  t.equal(first.status, 200, 'detect mode forwards')
  await until('the first alert', () => received.length === 1)
  const [alert] = received
  t.equal(alert!.headers['content-type'], 'application/json')
  t.equal(alert!.headers['user-agent'], 'rampart-alerts')
  t.ok(verifySignature(SECRET, alert!.headers['x-rampart-timestamp'] as string, alert!.body, alert!.headers['x-rampart-signature'] as string,
    Math.floor(Date.now() / 1000)), 'the HMAC signature verifies with the secret from the environment')
  t.notOk(verifySignature(SECRET, alert!.headers['x-rampart-timestamp'] as string, alert!.body.replace('203.0.113.7', '203.0.113.8'),
    alert!.headers['x-rampart-signature'] as string, Math.floor(Date.now() / 1000)), 'and not for a changed body')
  t.match(alert!.json, {
    type: 'threat', action: 'detected', clientIp: '203.0.113.7', site: 'club', requestId: first.headers['x-request-id'],
    method: 'GET', path: '/find', score: 5, threshold: 5, families: ['sqli'], ruleIds: ['sqli-001'], moreMatches: 0, truncated: false,
    matches: [{ ruleId: 'sqli-001', family: 'sqli', location: 'query', param: 'q', excerpt: /or/ }],
    time: /^\d{4}-\d\d-\d\dT/,
  })
  t.notOk('count' in alert!.json, 'a first alert has no count')

  let last = ''
  for (let i = 0; i < 4; i++) last = (await h1(gw.port, { path: ATTACK, headers: { 'x-forwarded-for': '203.0.113.7' } })).headers['x-request-id'] as string
  await p.alerts.idle()
  t.equal(received.length, 1, 'the burst is held back')
  t.match(p.alerts.stats(), { sent: 1, suppressed: 4 })
  t.equal((await h1(gw.port, { path: ATTACK, headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 200)
  await until('another source\'s alert', () => received.length === 2)
  t.equal(received[1]!.json['clientIp'], '203.0.113.9', 'another source is not held back')

  clock.tick(61_000)
  const next = await h1(gw.port, { path: ATTACK, headers: { 'x-forwarded-for': '203.0.113.7' } })
  await until('the summary and the new alert', () => received.length === 4)
  t.match(received[2]!.json, { clientIp: '203.0.113.7', count: 4, requestId: last }, 'one summary: the latest event with the count')
  t.match(received[3]!.json, { clientIp: '203.0.113.7', requestId: next.headers['x-request-id'] }, 'then the new window\'s first alert')
  t.notOk('count' in received[3]!.json)
  // The receiver holds the fourth alert once it has read the body; Rampart counts a delivery when the answer
  // reaches it, a moment later.
  await until('the fourth delivery counted', async () => ((await events(gw))['alerts/delivered'] ?? 0) >= 4)
  t.ok((await events(gw))['alerts/delivered']! >= 4, 'rampart_protection_events_total{alerts,delivered}')
  const described = gw.logs.find((l) => l['msg'] === 'protections') as { protections: Record<string, { alerts: Record<string, unknown> }> }
  t.match(described.protections['threats']!.alerts, { webhook: url.replace(/\/hooks.*/, ''), signed: true, failMode: 'open' })
  t.notMatch(JSON.stringify(gw.logs), 'token=abc', 'the webhook\'s path and query never reach the log')
  t.notMatch(JSON.stringify(gw.logs), SECRET, 'nor its secret')
})

t.test('abuse signals are alerted too', async (t) => {
  const { url, received } = await receiver(t)
  const gw = await startGateway(t, config(`    url: ${url}\n    minInterval: 1m`, '  notFound: { count: 3, per: 1m, banFor: 1m }\n  detections: { enabled: false }'))
  for (let i = 0; i < 3; i++) await h1(gw.port, { path: `/missing/${i}`, headers: { 'x-forwarded-for': '198.51.100.66' } })
  await until('the abuse alert', () => received.some((r) => r.json['type'] === 'abuse'))
  t.match(received.find((r) => r.json['type'] === 'abuse')!.json, {
    type: 'abuse', signal: 'notFound', clientIp: '198.51.100.66', site: 'club', observed: 3, windowMs: 60_000, bannedForMs: 60_000,
  })
  t.notOk(received[0]!.headers['x-rampart-signature'], 'no secret: unsigned')
})

t.test('a dead receiver: retries, then the alert is dropped and logged; requests are not slowed', async (t) => {
  const port = await deadPort()
  const gw = await startGateway(t, config(`    url: http://127.0.0.1:${port}/alerts
    retries: 2
    timeout: 1s
    minInterval: 0s`))
  const baseline = await timedAttack(gw, '192.0.2.1')
  const latencies: number[] = []
  for (let i = 2; i <= 6; i++) latencies.push(await timedAttack(gw, `192.0.2.${i}`))
  t.ok(Math.max(...latencies) < Math.max(250, baseline * 5), `request latency unaffected (baseline ${baseline.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms)`)
  await until('a delivery failure', () => gw.logs.some((l) => l['code'] === 'RAMPART_ERR_ALERT_DELIVERY'), 10_000)
  const [failure] = gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_ALERT_DELIVERY')
  t.match(failure, { level: 'warn', webhook: `http://127.0.0.1:${port}`, attempts: 3, alert: 'threat' }, 'after the first try and two retries')
  t.ok((await events(gw))['alerts/failed']! >= 1, 'rampart_protection_events_total{alerts,failed}')
  t.match(threatsOf(gw).alerts.stats(), { sent: 0 })
})

t.test('a hung receiver: the queue stays bounded (oldest dropped, counted, logged); requests never wait', async (t) => {
  const { url, received } = await receiver(t, 'hang')
  const gw = await startGateway(t, config(`    url: ${url}
    retries: 0
    timeout: 1s
    queueSize: 2
    minInterval: 1m`))
  const latencies: number[] = []
  for (let i = 1; i <= 8; i++) latencies.push(await timedAttack(gw, `198.51.100.${i}`))
  t.ok(Math.max(...latencies) < 500, `no request waited for the webhook (max ${Math.max(...latencies).toFixed(1)} ms)`)
  await until('the first delivery attempt', () => received.length >= 1)
  t.match(threatsOf(gw).alerts.stats(), { dropped: 5, queued: 2 }, 'one in flight, two queued, five dropped')
  const drops = gw.logs.filter((l) => l['code'] === 'RAMPART_ERR_ALERT_DROPPED')
  t.equal(drops.length, 1, 'drops are logged once per interval')
  t.match(drops[0], { level: 'warn', queueSize: 2, droppedTotal: 1 })
  t.equal((await events(gw))['alerts/dropped'], 5, 'each drop counted')
  await until('a timed-out delivery', () => gw.logs.some((l) => l['code'] === 'RAMPART_ERR_ALERT_DELIVERY'), 10_000)
})

t.test('the sink outlives a reload (throttle windows included) and flushes its summaries at shutdown', async (t) => {
  const { url, received } = await receiver(t)
  const yaml = config(`    url: ${url}\n    minInterval: 1m`)
  const gw = await startGateway(t, yaml)
  await timedAttack(gw, '192.0.2.200')
  await until('the alert', () => received.length === 1)
  const before = threatsOf(gw)
  writeFileSync(gw.configPath, yaml)
  t.match(await gw.runtime.reload(), { ok: true })
  const after = threatsOf(gw)
  t.not(after, before, 'a new protection')
  await timedAttack(gw, '192.0.2.200')
  await after.alerts.idle()
  t.equal(received.length, 1, 'still inside the window opened before the reload')
  t.match(after.alerts.stats(), { sent: 1, suppressed: 1 }, 'one sink across the reload')
  await gw.runtime.close()
  await until('the summary sent at shutdown', () => received.length === 2)
  t.match(received[1]!.json, { clientIp: '192.0.2.200', count: 1 })
})
