import t from 'tap'
import { createAbuseMonitor, type AbuseSettings, type AbuseSignal } from '../../src/abuse/monitor.js'

const SETTINGS: AbuseSettings = {
  notFound: { enabled: true, count: 5, per: 60_000, banFor: 600_000 },
  authFailures: { enabled: true, count: 3, per: 300_000 },
  distinctUsernames: { enabled: true, count: 4, per: 600_000, banFor: 3_600_000 },
  detections: { enabled: true, count: 2, per: 600_000 },
  maxTrackedAddresses: 1000,
}

function monitor(settings: AbuseSettings = SETTINGS) {
  const signals: AbuseSignal[] = []
  const bans: Array<[string, string, number]> = []
  const m = createAbuseMonitor(settings, {
    onSignal: (s) => signals.push(s),
    onBan: (ip, reason, ms) => bans.push([ip, reason, ms]),
  })
  return { m, signals, bans }
}

t.test('a burst of 404s fires once and bans', async (t) => {
  const { m, signals, bans } = monitor()
  for (let i = 0; i < 4; i++) t.equal(m.observeResponse('198.51.100.9', 404, i * 1000), undefined, `404 #${i + 1}`)
  const s = m.observeResponse('198.51.100.9', 404, 4000)
  t.same(s, { kind: 'notFound', ip: '198.51.100.9', observed: 5, windowMs: 60_000, banMs: 600_000, at: 4000 })
  t.same(signals, [s])
  t.same(bans, [['198.51.100.9', 'notFound', 600_000]])
  t.equal(m.observeResponse('198.51.100.9', 404, 5000), undefined, 'the count starts again after firing')
})

t.test('slow 404s never fire', async (t) => {
  const { m, signals } = monitor()
  for (let i = 0; i < 50; i++) m.observeResponse('203.0.113.5', 404, i * 20_000) // 3 per minute
  t.same(signals, [])
})

t.test('statuses map to signals', async (t) => {
  const table: Array<[number, string | undefined]> = [[404, 'notFound'], [401, 'authFailures'], [403, 'authFailures'], [200, undefined], [302, undefined], [500, undefined], [429, undefined]]
  for (const [status, kind] of table) {
    const { m, signals } = monitor({ ...SETTINGS, notFound: { ...SETTINGS.notFound, count: 2 }, authFailures: { ...SETTINGS.authFailures, count: 2 } })
    m.observeResponse('1.2.3.4', status, 0)
    m.observeResponse('1.2.3.4', status, 1)
    t.same(signals.map((s) => s.kind), kind ? [kind] : [], `${status}`)
  }
})

t.test('401 and 403 add up; no ban without banFor', async (t) => {
  const { m, signals, bans } = monitor()
  m.observeResponse('10.0.0.1', 401, 0)
  m.observeResponse('10.0.0.1', 403, 1)
  const s = m.observeResponse('10.0.0.1', 401, 2)
  t.match(s, { kind: 'authFailures', observed: 3 })
  t.notOk(s && 'banMs' in s)
  t.same(bans, [])
  t.equal(signals.length, 1)
})

t.test('distinct usernames from one address', async (t) => {
  const { m, signals, bans } = monitor()
  t.equal(m.observeLogin('10.0.0.2', 'anne', 0), undefined)
  t.equal(m.observeLogin('10.0.0.2', ' Anne ', 1), undefined, 'same user, other spelling')
  t.equal(m.observeLogin('10.0.0.2', 'ANNE', 2), undefined)
  m.observeLogin('10.0.0.2', 'luc', 3)
  m.observeLogin('10.0.0.2', 'marc', 4)
  m.observeLogin('10.0.0.3', 'zoe', 5) // another address
  t.equal(m.observeLogin('10.0.0.2', '', 6), undefined, 'empty names are ignored')
  const s = m.observeLogin('10.0.0.2', 'zoe', 7)
  t.match(s, { kind: 'distinctUsernames', ip: '10.0.0.2', observed: 4, banMs: 3_600_000 })
  t.same(bans, [['10.0.0.2', 'distinctUsernames', 3_600_000]])
  t.equal(signals.length, 1)
  t.same(m.tracked(), { notFound: 0, authFailures: 0, distinctUsernames: 1, detections: 0 }, '10.0.0.2 was reset after firing')
})

t.test('repeated detections', async (t) => {
  const { m, signals } = monitor()
  m.observeDetection('10.0.0.4', 0)
  t.match(m.observeDetection('10.0.0.4', 599_000), { kind: 'detections', observed: 2 })
  m.observeDetection('10.0.0.4', 600_000)
  t.equal(m.observeDetection('10.0.0.4', 1_300_000), undefined, 'outside the window')
  t.equal(signals.length, 1)
})

t.test('disabled signals do nothing and track nothing', async (t) => {
  const off = { enabled: false, count: 2, per: 60_000 }
  const { m, signals } = monitor({ notFound: off, authFailures: off, distinctUsernames: off, detections: off, maxTrackedAddresses: 100 })
  for (let i = 0; i < 10; i++) {
    m.observeResponse('1.1.1.1', 404, i)
    m.observeResponse('1.1.1.1', 401, i)
    m.observeLogin('1.1.1.1', `u${i}`, i)
    m.observeDetection('1.1.1.1', i)
  }
  t.same(signals, [])
  t.same(m.tracked(), { notFound: 0, authFailures: 0, distinctUsernames: 0, detections: 0 })
})

t.test('memory is bounded by maxTrackedAddresses', async (t) => {
  const { m } = monitor({ ...SETTINGS, maxTrackedAddresses: 100 })
  for (let i = 0; i < 5000; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
    m.observeResponse(ip, 404, i)
    m.observeLogin(ip, `user${i}`, i)
    m.observeDetection(ip, i)
  }
  const tracked = m.tracked()
  t.ok(tracked.notFound <= 100 && tracked.distinctUsernames <= 100 && tracked.detections <= 100, JSON.stringify(tracked))
})

t.test('a throwing hook does not reach the caller', async (t) => {
  const errors: unknown[] = []
  const m = createAbuseMonitor({ ...SETTINGS, detections: { enabled: true, count: 1, per: 1000, banFor: 1000 } }, {
    onSignal: () => { throw new Error('log sink down') },
    onHookError: (e) => errors.push(e),
  })
  t.doesNotThrow(() => m.observeDetection('1.2.3.4', 0))
  t.equal(errors.length, 1)
})
