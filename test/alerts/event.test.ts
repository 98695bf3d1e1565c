import t from 'tap'
import { MAX_EVENT_MATCHES, alertKey, buildAbuseEvent, buildThreatEvent } from '../../src/alerts/event.js'
import { compileThreatEngine, DEFAULT_THREAT_SETTINGS } from '../../src/threats/engine.js'
import type { ThreatResult } from '../../src/threats/types.js'

const engine = compileThreatEngine({ ...DEFAULT_THREAT_SETTINGS, mode: 'block', paranoia: 3 })
const NOW = Date.UTC(2024, 4, 1, 18, 30)

t.test('threat event from a detection', async (t) => {
  const result = engine.scan({ path: '/search', query: "q=%27+union+select+password+from+users--", userAgent: 'sqlmap/1.7' })
  const e = buildThreatEvent(result, { clientIp: '203.0.113.7', site: 'ballejaune', requestId: 'req-1', method: 'GET', path: '/search?q=x', threshold: 5, now: NOW })
  t.match(e, {
    type: 'threat', time: '2024-05-01T18:30:00.000Z', action: 'blocked', clientIp: '203.0.113.7', site: 'ballejaune',
    requestId: 'req-1', method: 'GET', path: '/search?q=x', score: result.score, threshold: 5,
  })
  t.same(e.families, ['sqli', 'scanner'], 'families in order of first match, once each')
  t.same(e.ruleIds, result.matches.map((m) => m.ruleId))
  t.ok(e.matches.every((m) => m.excerpt.length <= 80 && typeof m.ruleId === 'string'))
  t.equal(e.truncated, false)
  const detected = buildThreatEvent({ ...result, blocked: false }, { clientIp: '::1', path: '/', threshold: 5, now: NOW })
  t.equal(detected.action, 'detected')
  t.equal(detected.site, undefined)
})

t.test('client-controlled text is escaped and bounded', async (t) => {
  const result: ThreatResult = {
    score: 50, blocked: true, truncated: true,
    matches: Array.from({ length: 12 }, (_, i) => ({ ruleId: `xss-00${i % 9}`, family: 'xss' as const, paranoia: 1 as const, score: 5, location: 'query' as const, param: 'q', excerpt: 'x' })),
  }
  const path = '/<script>"\n' + 'a'.repeat(1000)
  const e = buildThreatEvent(result, { clientIp: '1.2.3.4', path, method: 'G"ET\n', threshold: 5, now: NOW })
  t.ok(e.path.length < 300, 'path truncated')
  t.notMatch(e.path, /[<>"\n]/, 'path escaped')
  t.notMatch(e.method!, /["\n]/, 'method escaped')
  t.equal(e.matches.length, MAX_EVENT_MATCHES)
  t.equal(e.moreMatches, 12 - MAX_EVENT_MATCHES)
  t.equal(e.ruleIds.length, 12, 'every rule id is listed')
  t.equal(e.truncated, true)
})

t.test('secrets never reach an event', async (t) => {
  const result = engine.scan({ path: '/login', query: '', bodyFields: [['password', "' or 1=1--"]], cookieHeader: 'sid=%27%20or%201%3D1--' })
  const e = buildThreatEvent(result, { clientIp: '1.2.3.4', path: '/login', threshold: 5, now: NOW })
  const text = JSON.stringify(e)
  t.ok(e.matches.length > 0)
  t.notMatch(text, /1=1/, 'neither the password nor the cookie value appears')
  t.ok(e.matches.every((m) => m.excerpt === '[redacted]'))
})

t.test('abuse events and throttle keys', async (t) => {
  const a = buildAbuseEvent({ signal: 'notFound', ip: '198.51.100.9', observed: 30, windowMs: 60_000, banMs: 600_000, at: NOW }, 'openresa')
  t.same(a, { type: 'abuse', time: '2024-05-01T18:30:00.000Z', signal: 'notFound', clientIp: '198.51.100.9', site: 'openresa', observed: 30, windowMs: 60_000, bannedForMs: 600_000 })
  const b = buildAbuseEvent({ signal: 'authFailures', ip: '198.51.100.9', observed: 20, windowMs: 300_000, at: NOW })
  t.notOk('bannedForMs' in b, 'no ban, no field')
  t.equal(alertKey(a), '198.51.100.9|abuse|notFound')
  t.not(alertKey(a), alertKey(b), 'different signals are throttled apart')
  const threat = buildThreatEvent({ score: 5, blocked: true, matches: [], truncated: false }, { clientIp: '198.51.100.9', path: '/', threshold: 5, now: NOW })
  t.equal(alertKey(threat), '198.51.100.9|threat|blocked')
})
