/**
 * Delivery over a real socket: a node:http receiver on 127.0.0.1 gets the alerts from the undici sender. The
 * throttle window and the retry backoff run on a fake clock; sockets and undici's own timeouts run in real time.
 */
import t from 'tap'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebhookSink } from '../../src/alerts/webhook.js'
import { verifySignature } from '../../src/alerts/signature.js'
import { fakeClock, threatEvent, until } from './helpers.js'

const SECRET = 'integration-secret-0123'

interface Received {
  readonly headers: IncomingMessage['headers']
  readonly body: string
}

async function receiver(t: { teardown(fn: () => unknown): void }, respond: (n: number) => number | 'hang' = () => 204): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      const status = respond(received.length)
      if (status === 'hang') return
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, received, server }
}

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

t.test('delivers a signed alert, then throttles a burst into one summary', async (t) => {
  const { url, received } = await receiver(t)
  const { clock, alertClock } = fakeClock()
  // No sender given: the default undici sender does the POSTs.
  const sink = new WebhookSink({ url, secret: SECRET, timeoutMs: 2000, retries: 2, queueSize: 100, minIntervalMs: 60_000, clock: alertClock })

  sink.push(threatEvent('203.0.113.7', 1))
  await sink.idle()
  t.equal(received.length, 1)
  const first = received[0]!
  t.equal(first.headers['content-type'], 'application/json')
  t.ok(verifySignature(SECRET, first.headers['x-rampart-timestamp'] as string, first.body, first.headers['x-rampart-signature'] as string, Math.floor(clock.now / 1000)), 'signature verifies')
  t.match(JSON.parse(first.body), { type: 'threat', clientIp: '203.0.113.7', requestId: 'req-1' })

  for (let i = 2; i <= 6; i++) sink.push(threatEvent('203.0.113.7', i))
  await sink.idle()
  t.equal(received.length, 1, 'the burst is held back')
  await clock.tickAsync(60_000)
  await until(() => received.length === 2, 'the summary')
  t.match(JSON.parse(received[1]!.body), { clientIp: '203.0.113.7', count: 5, requestId: 'req-6' })
  await sink.close()
})

t.test('a receiver error is retried after backoff', async (t) => {
  const { url, received } = await receiver(t, (n) => (n === 1 ? 503 : 200))
  const { clock, alertClock } = fakeClock()
  const sink = new WebhookSink({ url, timeoutMs: 2000, retries: 3, queueSize: 10, minIntervalMs: 0, backoffMs: 1000, clock: alertClock })
  sink.push(threatEvent('198.51.100.2'))
  await until(() => received.length === 1 && sink.stats().attempts === 1, 'the first attempt')
  await clock.tickAsync(1000)
  await until(() => sink.stats().sent === 1, 'delivery on the second attempt')
  t.equal(received.length, 2)
  t.match(sink.stats(), { sent: 1, failed: 0, attempts: 2 })
})

t.test('a dead receiver: retries, then the alert is dropped; nothing throws', async (t) => {
  const port = await deadPort()
  const { clock, alertClock } = fakeClock()
  const failed: number[] = []
  const sink = new WebhookSink({
    url: `http://127.0.0.1:${port}/alerts`, timeoutMs: 1000, retries: 2, queueSize: 10, minIntervalMs: 0, backoffMs: 1000, clock: alertClock,
    onFailed: (_e, _err, attempts) => failed.push(attempts),
  })
  t.doesNotThrow(() => sink.push(threatEvent('198.51.100.3')))
  await until(() => sink.stats().attempts === 1, 'first attempt')
  await clock.tickAsync(1000)
  await until(() => sink.stats().attempts === 2, 'second attempt')
  await clock.tickAsync(2000)
  await until(() => sink.stats().failed === 1, 'giving up')
  t.same(failed, [3], 'three attempts, then reported')
  t.match(sink.stats(), { sent: 0, failed: 1, attempts: 3, queued: 0 })
  t.doesNotThrow(() => sink.push(threatEvent('198.51.100.4')), 'still accepts alerts afterwards')
  const closing = sink.close()
  for (let i = 0; i < 100 && sink.stats().failed < 2; i++) {
    await clock.tickAsync(1000)
    await new Promise((r) => setTimeout(r, 5))
  }
  await closing
  t.same(failed, [3, 3], 'the second alert went the same way')
})

t.test('a receiver that never answers is cut by the timeout', async (t) => {
  const { url, received } = await receiver(t, () => 'hang')
  const sink = new WebhookSink({ url, timeoutMs: 200, retries: 0, queueSize: 10, minIntervalMs: 0 })
  const start = Date.now()
  sink.push(threatEvent('198.51.100.5'))
  await sink.idle()
  const took = Date.now() - start
  t.equal(received.length, 1, 'the request arrived')
  t.match(sink.stats(), { sent: 0, failed: 1 })
  t.ok(took >= 150 && took < 3000, `gave up after the timeout (${took} ms)`)
})
