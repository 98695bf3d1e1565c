import t from 'tap'
import { WebhookSink, type WebhookRequest, type WebhookSender, type WebhookSinkOptions } from '../../src/alerts/webhook.js'
import { verifySignature } from '../../src/alerts/signature.js'
import type { AlertEvent } from '../../src/alerts/event.js'
import { abuseEvent, fakeClock, settle, threatEvent } from './helpers.js'

const SECRET = 'test-secret-0123456789'

function recordingSender(plan: Array<number | Error> = []): { sender: WebhookSender; calls: Array<WebhookRequest & { at: number }>; clockRef: { now: () => number } } {
  const calls: Array<WebhookRequest & { at: number }> = []
  const clockRef = { now: () => 0 }
  const sender: WebhookSender = async (req) => {
    calls.push({ ...req, at: clockRef.now() })
    const step = plan.length > 0 ? plan.shift()! : 200
    if (step instanceof Error) throw step
    return { statusCode: step }
  }
  return { sender, calls, clockRef }
}

function makeSink(over: Partial<WebhookSinkOptions>, plan?: Array<number | Error>) {
  const { clock, alertClock } = fakeClock()
  const rec = recordingSender(plan)
  rec.clockRef.now = () => clock.now
  const start = clock.now
  const sink = new WebhookSink({
    url: 'https://hooks.example/rampart', timeoutMs: 2000, retries: 3, queueSize: 100, minIntervalMs: 60_000, backoffMs: 500,
    sender: rec.sender, clock: alertClock, ...over,
  })
  return { sink, clock, calls: rec.calls, rel: (c: { at: number }) => c.at - start }
}

t.test('delivers JSON with a verifiable signature', async (t) => {
  const { sink, clock, calls } = makeSink({ secret: SECRET })
  const event = threatEvent('203.0.113.7')
  sink.push(event)
  await sink.idle()
  t.equal(calls.length, 1)
  const c = calls[0]!
  t.equal(c.url, 'https://hooks.example/rampart')
  t.equal(c.timeoutMs, 2000)
  t.same(JSON.parse(c.body), event)
  t.equal(c.headers['content-type'], 'application/json')
  t.ok(verifySignature(SECRET, c.headers['x-rampart-timestamp'], c.body, c.headers['x-rampart-signature'], Math.floor(clock.now / 1000)))
  t.same(sink.stats(), { queued: 0, sent: 1, failed: 0, dropped: 0, suppressed: 0, attempts: 1 })
  const plain = makeSink({})
  plain.sink.push(event)
  await plain.sink.idle()
  t.notOk('x-rampart-signature' in plain.calls[0]!.headers, 'no secret, no signature')
})

t.test('retries with exponential backoff, then succeeds', async (t) => {
  const { sink, clock, calls, rel } = makeSink({}, [new Error('ECONNRESET'), 503, 200])
  sink.push(threatEvent('203.0.113.7'))
  await settle()
  t.equal(calls.length, 1, 'first attempt at once')
  await clock.tickAsync(499)
  t.equal(calls.length, 1, 'no retry before the backoff')
  await clock.tickAsync(1)
  t.equal(calls.length, 2, 'second attempt after 500 ms')
  await clock.tickAsync(1000)
  t.equal(calls.length, 3, 'third attempt after 1000 ms more')
  await sink.idle()
  t.same(calls.map(rel), [0, 500, 1500])
  t.match(sink.stats(), { sent: 1, failed: 0, attempts: 3 })
})

t.test('gives up after the retries, reports, never throws', async (t) => {
  const failures: Array<[AlertEvent, unknown, number]> = []
  const { sink, clock, calls, rel } = makeSink({ retries: 3, maxBackoffMs: 1500, onFailed: (e, err, n) => failures.push([e, err, n]) }, [500, 500, 500, 500])
  const event = abuseEvent('198.51.100.9')
  t.doesNotThrow(() => sink.push(event))
  await clock.tickAsync(10_000)
  await sink.idle()
  t.same(calls.map(rel), [0, 500, 1500, 3000], 'backoff 500, 1000, then capped at 1500')
  t.match(sink.stats(), { sent: 0, failed: 1, attempts: 4 })
  t.equal(failures.length, 1)
  t.equal(failures[0]![0], event)
  t.match(String(failures[0]![1]), /500/)
  t.equal(failures[0]![2], 4)
})

t.test('client errors are final, throttling and server errors are retried', async (t) => {
  const table: Array<[number, number]> = [[400, 1], [404, 1], [410, 1], [408, 3], [429, 3], [502, 3]]
  for (const [status, attempts] of table) {
    const { sink, clock, calls } = makeSink({ retries: 2 }, [status, status, status])
    sink.push(threatEvent('1.2.3.4'))
    await clock.tickAsync(5000)
    await sink.idle()
    t.equal(calls.length, attempts, `${status}: ${attempts} attempt(s)`)
  }
})

t.test('the queue is bounded: the oldest alerts are dropped and counted', async (t) => {
  const { clock, alertClock } = fakeClock()
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => { release = r })
  const delivered: string[] = []
  const dropped: string[] = []
  const sink = new WebhookSink({
    url: 'https://hooks.example/', timeoutMs: 1000, retries: 0, queueSize: 3, minIntervalMs: 0, clock: alertClock,
    sender: async (req) => {
      await gate
      delivered.push((JSON.parse(req.body) as { clientIp: string }).clientIp)
      return { statusCode: 204 }
    },
    onDropped: (e) => dropped.push(e.clientIp),
  })
  for (let i = 1; i <= 6; i++) sink.push(threatEvent(`10.0.0.${i}`))
  // 10.0.0.1 is in flight; the queue holds 3, so 10.0.0.2 and 10.0.0.3 were pushed out by 5 and 6.
  t.same(dropped, ['10.0.0.2', '10.0.0.3'])
  t.match(sink.stats(), { queued: 3, dropped: 2 })
  release()
  await sink.idle()
  t.same(delivered, ['10.0.0.1', '10.0.0.4', '10.0.0.5', '10.0.0.6'], 'the rest go out in order')
  void clock
})

t.test('push returns at once, whatever the sender does', async (t) => {
  const { alertClock } = fakeClock()
  const sink = new WebhookSink({
    url: 'https://hooks.example/', timeoutMs: 1000, retries: 0, queueSize: 10, minIntervalMs: 0, clock: alertClock,
    sender: () => new Promise(() => {}), // never answers
  })
  const start = performance.now()
  for (let i = 0; i < 100; i++) sink.push(threatEvent(`10.0.1.${i}`))
  t.ok(performance.now() - start < 100, 'pushing does not wait for delivery')
  t.match(sink.stats(), { queued: 10, dropped: 89 })

  const throwing = new WebhookSink({
    url: 'https://hooks.example/', timeoutMs: 1000, retries: 0, queueSize: 10, minIntervalMs: 0, clock: alertClock,
    sender: () => { throw new Error('sync failure') },
    onFailed: () => { throw new Error('a broken log hook') },
  })
  t.doesNotThrow(() => throwing.push(threatEvent('1.1.1.1')))
  await throwing.idle()
  t.match(throwing.stats(), { failed: 1 })
  const odd = { ...threatEvent('2.2.2.2'), score: 10n } as unknown as AlertEvent
  t.doesNotThrow(() => throwing.push(odd))
  await throwing.idle()
  t.match(throwing.stats(), { failed: 2 }, 'an event that cannot be serialised is counted as failed')
})

t.test('throttling: one alert at once, then one summary per window with a count', async (t) => {
  const { sink, clock, calls, rel } = makeSink({ minIntervalMs: 60_000 })
  const body = (i: number) => JSON.parse(calls[i]!.body) as { clientIp: string; count?: number; requestId?: string }
  for (let i = 1; i <= 10; i++) {
    sink.push(threatEvent('203.0.113.7', i))
    await clock.tickAsync(1000)
  }
  sink.push(threatEvent('198.51.100.1', 1))
  await sink.idle()
  t.equal(calls.length, 2, 'first alert of each source goes out at once')
  t.equal(body(0).count, undefined)
  t.match(sink.stats(), { suppressed: 9 })
  await clock.tickAsync(50_000) // t = 60 s: the first window ends
  await sink.idle()
  t.equal(calls.length, 3)
  t.match(body(2), { clientIp: '203.0.113.7', count: 9, requestId: 'req-10' }, 'summary: the latest event and how many it stands for')
  t.equal(rel(calls[2]!), 60_000)
  await clock.tickAsync(120_000)
  await sink.idle()
  t.equal(calls.length, 3, 'quiet windows send nothing')
  sink.push(threatEvent('203.0.113.7', 11))
  await sink.idle()
  t.equal(calls.length, 4, 'after a quiet window, the next alert goes out at once')
})

t.test('close sends pending summaries and stops accepting', async (t) => {
  const { sink, calls } = makeSink({ minIntervalMs: 60_000 })
  sink.push(threatEvent('203.0.113.7', 1))
  sink.push(threatEvent('203.0.113.7', 2))
  sink.push(threatEvent('203.0.113.7', 3))
  await sink.close()
  t.equal(calls.length, 2)
  t.match(JSON.parse(calls[1]!.body), { count: 2, requestId: 'req-3' })
  sink.push(threatEvent('203.0.113.7', 4))
  await sink.idle()
  t.equal(calls.length, 2, 'closed: nothing more is sent')
})
