/** Shared by the alert tests: a fake clock for the sink, sample events, and polling for async effects. */
import FakeTimers from '@sinonjs/fake-timers'
import type { AlertClock } from '../../src/alerts/webhook.js'
import { buildAbuseEvent, buildThreatEvent, type AlertEvent } from '../../src/alerts/event.js'

export type FakeClock = ReturnType<typeof FakeTimers.createClock>

export function fakeClock(start = Date.UTC(2024, 4, 1, 18, 0)): { clock: FakeClock; alertClock: AlertClock } {
  const clock = FakeTimers.createClock(start)
  return {
    clock,
    alertClock: {
      now: () => clock.now,
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
      clearTimeout: (h) => clock.clearTimeout(h as Parameters<FakeClock['clearTimeout']>[0]),
    },
  }
}

export function threatEvent(ip: string, n = 1): AlertEvent {
  return buildThreatEvent(
    { score: 5, blocked: true, truncated: false, matches: [{ ruleId: 'sqli-001', family: 'sqli', paranoia: 1, score: 5, location: 'query', param: 'q', excerpt: `attempt ${n}` }] },
    { clientIp: ip, site: 'ballejaune', requestId: `req-${n}`, method: 'GET', path: '/search', threshold: 5, now: Date.UTC(2024, 4, 1, 18, 0) },
  )
}

export function abuseEvent(ip: string): AlertEvent {
  return buildAbuseEvent({ signal: 'notFound', ip, observed: 30, windowMs: 60_000, at: Date.UTC(2024, 4, 1, 18, 0) })
}

/** Waits (real time, bounded) until `cond` holds. For effects of real sockets. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Lets pending promise callbacks run (fake clock does not advance). */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}
