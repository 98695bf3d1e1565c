/** RateLimit / RateLimit-Policy / Retry-After formatting (draft-ietf-httpapi-ratelimit-headers). Pure; tables. */
import t from 'tap'
import { sfString, policyItem, stateItem, rateLimitHeaders, retryAfter, seconds } from '../../src/limits/headers.js'

t.test('items', async (t) => {
  t.equal(policyItem('per-ip', 100, 60_000), '"per-ip";q=100;w=60')
  t.equal(policyItem('daily', 1000, 86_400_000), '"daily";q=1000;w=86400')
  t.equal(policyItem('fast', 5, 1500), '"fast";q=5;w=2', 'windows round up to whole seconds')
  t.equal(stateItem('per-ip', 42, 30_000), '"per-ip";r=42;t=30')
  t.equal(stateItem('per-ip', 0, 1), '"per-ip";r=0;t=1', 'a part of a second counts as one')
  t.equal(stateItem('per-ip', -3, 0), '"per-ip";r=0;t=0', 'never negative')
})

t.test('Structured Field strings are escaped', async (t) => {
  const table: Array<[string, string]> = [
    ['plain', '"plain"'],
    ['a"b', '"a\\"b"'],
    ['a\\b', '"a\\\\b"'],
    ['tab\there', '"tabhere"'],
    ['é', '""'],
  ]
  for (const [input, want] of table) t.equal(sfString(input), want, JSON.stringify(input))
})

t.test('rateLimitHeaders joins advertised limits and skips the others', async (t) => {
  const a = { policy: policyItem('a', 10, 60_000), name: 'a', remaining: 3, resetMs: 12_500, advertise: true }
  const b = { policy: policyItem('b', 600, 60_000), name: 'b', remaining: 599, resetMs: 100, advertise: true }
  const hidden = { policy: policyItem('shadow', 1, 1000), name: 'shadow', remaining: 0, resetMs: 5000, advertise: false }
  t.same(rateLimitHeaders([a]), { 'ratelimit-policy': '"a";q=10;w=60', ratelimit: '"a";r=3;t=13' })
  t.same(rateLimitHeaders([a, hidden, b]), {
    'ratelimit-policy': '"a";q=10;w=60, "b";q=600;w=60',
    ratelimit: '"a";r=3;t=13, "b";r=599;t=1',
  })
  t.same(rateLimitHeaders([hidden]), {}, 'nothing advertised: no fields at all')
  t.same(rateLimitHeaders([]), {})
})

t.test('Retry-After is whole seconds, at least 1', async (t) => {
  const table: Array<[number, string]> = [[0, '1'], [1, '1'], [999, '1'], [1000, '1'], [1001, '2'], [77_000, '77']]
  for (const [ms, want] of table) t.equal(retryAfter(ms), want, `${ms} ms`)
  t.equal(seconds(-5), 0)
})
