/**
 * The rate-limit protection over the memory store, on fake time: matching, allowlists, shadow mode, body keys,
 * the 429 and pretend answers, and the onStoreError choices (with a store that always fails).
 */
import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import { RampartError } from '../../src/errors.js'
import { compileRateLimits, type RateLimitDecision } from '../../src/limits/limiter.js'
import { normalizePath } from '../../src/limits/match.js'
import { extractFields } from '../../src/body/fields.js'
import type { RateLimitConfig } from '../../src/config/sections/rate-limits.js'
import type { Store } from '../../src/store/types.js'

const T0 = 1_700_000_040_000

function limit(over: Partial<RateLimitConfig> & Pick<RateLimitConfig, 'name'>): RateLimitConfig {
  return { match: {}, key: 'ip', limit: 2, per: 60_000, localBatch: 1, mode: 'enforce', allow: [], answer: { status: 429 }, headers: true, ...over }
}

const config: RateLimitConfig[] = [
  limit({ name: 'per-ip', limit: 3 }),
  limit({ name: 'reset-mail', match: { site: 'club', method: 'POST', path: '/password-reset' }, key: 'body.email', limit: 2, per: 3_600_000,
    answer: { status: 429, pretend: { status: 200, body: '<p>If the address exists, a mail is on its way.</p>', contentType: 'text/html; charset=utf-8', headers: { 'x-frame-options': 'DENY' } } } }),
  limit({ name: 'api', match: { pathPrefix: '/api' }, key: 'header:x-api-key', limit: 1, mode: 'shadow' }),
  limit({ name: 'office', match: { pathPrefix: '/admin' }, limit: 1, allow: ['10.0.0.0/8'] }),
]

const input = (over: Partial<Parameters<ReturnType<typeof compileRateLimits>['decide']>[1]> = {}) =>
  ({ ip: '192.0.2.1', headers: {}, now: T0, ...over })

t.test('matching and body needs', async (t) => {
  const limiter = compileRateLimits(config, { store: new MemoryStore(), defaultOnStoreError: 'open' })
  const names = (site: string | undefined, method: string, path: string) => limiter.matching(site, method, normalizePath(path)).map((l) => l.name)
  t.same(names('club', 'POST', '/Password-Reset/'), ['per-ip', 'reset-mail'])
  t.same(names('resa', 'POST', '/password-reset'), ['per-ip'], 'other site')
  t.same(names('club', 'GET', '/api/x'), ['per-ip', 'api'])
  t.same(names(undefined, 'GET', '/'), ['per-ip'])
  t.same(limiter.limits.filter((l) => l.needsBody).map((l) => l.name), ['reset-mail'], 'only the body-keyed limit waits for the body')
  t.same([...limiter.bodyFields.names], ['email'])
  t.same(limiter.limits.map((l) => l.policy), ['"per-ip";q=3;w=60', '"reset-mail";q=2;w=3600', '"api";q=1;w=60', '"office";q=1;w=60'])
  t.same(limiter.limits.map((l) => l.advertise), [true, false, false, true], 'pretend and shadow limits are never advertised')
})

t.test('enforce: counts, refuses with 429, Retry-After and RateLimit fields', async (t) => {
  const limiter = compileRateLimits(config, { store: new MemoryStore(), defaultOnStoreError: 'open' })
  const perIp = limiter.limits[0]!
  const got: RateLimitDecision[] = []
  for (let i = 0; i < 4; i++) got.push(await limiter.decide(perIp, input({ now: T0 + i })))
  t.same(got.map((d) => [d.action, d.reason, d.remaining]), [['pass', 'under', 2], ['pass', 'under', 1], ['pass', 'under', 0], ['block', 'over', 0]])
  const refused = got[3]!
  t.equal(refused.retryAfterMs, refused.resetMs)
  const answer = limiter.answer(refused, [refused])
  t.equal(answer.status, 429)
  t.match(answer.headers, {
    'retry-after': String(Math.ceil(refused.resetMs / 1000)),
    'ratelimit-policy': '"per-ip";q=3;w=60',
    ratelimit: `"per-ip";r=0;t=${Math.ceil(refused.resetMs / 1000)}`,
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
  })
  t.equal(answer.body.toString(), 'Too Many Requests\n')
  t.equal(answer.headers['content-length'], String(answer.body.length))
  t.match(await limiter.decide(perIp, input({ ip: '192.0.2.2', now: T0 + 5 })), { action: 'pass' }, 'another address has its own count')
})

t.test('body-keyed limit with a pretend answer', async (t) => {
  const limiter = compileRateLimits(config, { store: new MemoryStore(), defaultOnStoreError: 'open' })
  const reset = limiter.limits[1]!
  const body = (email: string) => extractFields(limiter.bodyFields, Buffer.from(`email=${encodeURIComponent(email)}&csrf=x`), 'application/x-www-form-urlencoded')
  const d1 = await limiter.decide(reset, input({ fields: body('Victim@Example.com'), ip: '192.0.2.1' }))
  const d2 = await limiter.decide(reset, input({ fields: body(' victim@example.com '), ip: '198.51.100.1' }))
  const d3 = await limiter.decide(reset, input({ fields: body('VICTIM@example.com'), ip: '203.0.113.1' }))
  t.same([d1.action, d2.action, d3.action], ['pass', 'pass', 'block'], 'counted by the normalised e-mail, whatever the address')
  const a = limiter.answer(d3, [d3])
  t.equal(a.status, 200)
  t.same(a.headers, { 'x-frame-options': 'DENY', 'content-type': 'text/html; charset=utf-8', 'content-length': String(a.body.length) }, 'no Retry-After, no RateLimit fields')
  t.equal(a.body.toString(), '<p>If the address exists, a mail is on its way.</p>')
  t.equal(limiter.answer(d3, [d3]), a, 'the same frozen answer every time')
  t.match(await limiter.decide(reset, input({ fields: body('other@example.com') })), { action: 'pass' }, 'another e-mail is not affected')
  t.match(await limiter.decide(reset, input({})), { action: 'pass', reason: 'no-key' }, 'no e-mail in the body: the limit does not apply')
  const decoys = extractFields(limiter.bodyFields, Buffer.from('email=1@x&email=2@x&email=3@x&email=4@x&email=5@x'), 'application/x-www-form-urlencoded')
  t.match(await limiter.decide(reset, input({ fields: decoys })), { action: 'block', reason: 'ambiguous' }, 'too many different e-mails in one request')
  const withVictim = extractFields(limiter.bodyFields, Buffer.from('email=decoy@x.test&email=victim@example.com'), 'application/x-www-form-urlencoded')
  t.match(await limiter.decide(reset, input({ fields: withVictim })), { action: 'block', reason: 'over' }, 'a decoy does not hide the target')
})

t.test('shadow mode counts but never blocks', async (t) => {
  const limiter = compileRateLimits(config, { store: new MemoryStore(), defaultOnStoreError: 'open' })
  const api = limiter.limits[2]!
  const headers = { 'x-api-key': 'k1' }
  t.match(await limiter.decide(api, input({ headers })), { action: 'pass', reason: 'under' })
  t.match(await limiter.decide(api, input({ headers })), { action: 'pass', reason: 'over-shadow', advertise: false })
  t.match(await limiter.decide(api, input({ headers: {} })), { action: 'pass', reason: 'no-key' })
})

t.test('allowlisted addresses are not counted', async (t) => {
  const limiter = compileRateLimits(config, { store: new MemoryStore(), defaultOnStoreError: 'open' })
  const office = limiter.limits[3]!
  for (let i = 0; i < 3; i++) t.match(await limiter.decide(office, input({ ip: '10.1.2.3' })), { action: 'pass', reason: 'allowlisted' })
  t.match(await limiter.decide(office, input({ ip: '::ffff:10.1.2.3' })), { action: 'pass', reason: 'allowlisted' }, 'IPv4-mapped form too')
  t.match(await limiter.decide(office, input()), { action: 'pass', reason: 'under' })
  t.match(await limiter.decide(office, input()), { action: 'block', reason: 'over' })
})

t.test('decideAll decides every matching limit', async (t) => {
  const limiter = compileRateLimits(config, { store: new MemoryStore(), defaultOnStoreError: 'open' })
  const list = limiter.matching(undefined, 'GET', '/admin')
  const all = await limiter.decideAll(list, input())
  t.same(all.map((d) => d.name), ['per-ip', 'office'])
  const again = await limiter.decideAll(list, input())
  const blocking = again.find((d) => d.action === 'block')!
  t.equal(blocking.name, 'office')
  t.match(limiter.answer(blocking, again).headers, {
    'ratelimit-policy': '"per-ip";q=3;w=60, "office";q=1;w=60',
    ratelimit: /^"per-ip";r=1;t=\d+, "office";r=0;t=\d+$/,
  }, 'the refusal advertises every limit of the request')
})

t.test('store errors: each limit applies its own onStoreError', async (t) => {
  const broken = new Proxy(new MemoryStore(), {
    get(target, prop, receiver) {
      if (prop === 'rateLimit') return () => Promise.reject(new RampartError('RAMPART_ERR_STORE_UNAVAILABLE', 'Command timed out'))
      return Reflect.get(target, prop, receiver)
    },
  }) as Store
  const limiter = compileRateLimits([
    limit({ name: 'inherits-open' }),
    limit({ name: 'closed', onStoreError: 'closed' }),
    limit({ name: 'closed-shadow', onStoreError: 'closed', mode: 'shadow' }),
  ], { store: broken, defaultOnStoreError: 'open' })
  const [a, b, c] = await limiter.decideAll(limiter.limits, input())
  t.match(a, { action: 'pass', reason: 'store-error', failMode: 'open', error: { code: 'RAMPART_ERR_STORE_UNAVAILABLE' } })
  t.match(b, { action: 'block', reason: 'store-error', failMode: 'closed', retryAfterMs: 1000 })
  t.match(c, { action: 'pass', reason: 'store-error', failMode: 'closed' }, 'shadow mode never blocks, even failing closed')
  t.equal(limiter.answer(b!, [b!]).headers['retry-after'], '1')
  t.notOk('ratelimit' in limiter.answer(b!, [b!]).headers, 'no RateLimit fields without a count')
  const closedByDefault = compileRateLimits([limit({ name: 'x' })], { store: broken, defaultOnStoreError: 'closed' })
  t.match(await closedByDefault.decide(closedByDefault.limits[0]!, input()), { action: 'block', failMode: 'closed' }, 'store.onStoreError is the default')
})
