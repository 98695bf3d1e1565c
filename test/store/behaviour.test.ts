/**
 * One behaviour table, three backends: MemoryStore (the TypeScript rules), RedisStore on a standalone server and
 * RedisStore on a 3-node Cluster (the Lua transcription, with hash-tagged keys). Any divergence between the pure
 * rules and the Lua fails here.
 *
 * Time is fake: every step states `at` (ms after T0, a window boundary) and the store gets `now = T0 + at`. TTLs
 * are asserted with PTTL right after the step that wrote them, at the same fake time: Redis TTLs are relative, so
 * PTTL equals `expiresAt - now` minus the real milliseconds spent in between (allowed: SLACK_MS).
 */
import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import { RedisStore } from '../../src/store/redis.js'
import type { Store, LockEntry } from '../../src/store/types.js'
import type { LockoutLimits, Outcome } from '../../src/lockout/policy.js'
import { startRedis, startRedisCluster } from '../helpers/redis.js'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const T0 = 1_700_000_040_000 // a multiple of 60 s: window index boundaries fall on whole minutes
const W = 60_000
const SLACK_MS = 250

const L: LockoutLimits = {
  maxFailures: 3, windowMs: 60_000, lockMs: 10_000, maxLockMs: 40_000,
  ipMaxFailures: 5, ipWindowMs: 60_000, ipLockMs: 20_000, deviceMaxFailures: 2,
}

type Who = { account?: string; ip?: string; device?: string }
type Step =
  | { at: number; rl: { subject?: string; limit?: number; want?: number }; expect: { allowed: boolean; granted?: number; remaining?: number; resetMs?: number } }
  | { at: number; login: Who & { outcome: Outcome }; expect: Record<string, unknown>; expectRecord?: Record<string, unknown> }
  | { at: number; check: Who; expect: Record<string, unknown> }
  | { at: number; record: Who & { via: 'device' | 'account'; counted: boolean; outcome: Outcome }; expect: Record<string, unknown> }
  | { at: number; pttl: { key: 'rl' | 'acct' | 'ip' | 'dev'; subject: string }; expect: number }
  | { at: number; list: true; expect: Array<Partial<LockEntry>> }
  | { at: number; clear: { kind: 'account' | 'ip'; subject: string }; expect: boolean }

interface Case {
  name: string
  limits?: Partial<LockoutLimits>
  steps: Step[]
}

const fail = (account: string, ip = '192.0.2.1'): Who & { outcome: Outcome } => ({ account, ip, outcome: 'failure' })

const cases: Case[] = [
  // ---------------------------------------------------------------- rate limits (limit 3 per 60 s unless stated)
  {
    name: 'rate limit: the 4th request in a window is refused, refusals are not counted',
    steps: [
      { at: 0, rl: {}, expect: { allowed: true, remaining: 2, resetMs: 120_000 } },
      { at: 1000, rl: {}, expect: { allowed: true, remaining: 1, resetMs: 89_000 } },
      { at: 2000, rl: {}, expect: { allowed: true, remaining: 0, resetMs: 78_000 } },
      { at: 2000, pttl: { key: 'rl', subject: '192.0.2.1' }, expect: 2 * W - 2000 },
      { at: 3000, rl: {}, expect: { allowed: false, remaining: 0, resetMs: 77_000 } },
      { at: 3000, rl: {}, expect: { allowed: false, remaining: 0, resetMs: 77_000 } },
      // 77 s later the previous window weighs 2/3: 3 × 40/60 = 2, so one more fits.
      { at: 80_000, rl: {}, expect: { allowed: true, remaining: 0 } },
      { at: 80_001, rl: {}, expect: { allowed: false } },
    ],
  },
  {
    name: 'rate limit: a reservation (want > 1) is granted as far as it fits, and counted like that many requests',
    steps: [
      { at: 0, rl: { limit: 10, want: 4 }, expect: { allowed: true, granted: 4, remaining: 6 } },
      { at: 1000, rl: { limit: 10, want: 4 }, expect: { allowed: true, granted: 4, remaining: 2 } },
      { at: 2000, rl: { limit: 10, want: 4 }, expect: { allowed: true, granted: 2, remaining: 0 } },
      { at: 3000, rl: { limit: 10, want: 4 }, expect: { allowed: false, granted: 0, remaining: 0 } },
      { at: 3000, rl: { limit: 10 }, expect: { allowed: false, granted: 0 } },
    ],
  },
  {
    name: 'rate limit: no double burst at the window edge (a fixed window would allow 6 in 4 s)',
    steps: [
      { at: 57_000, rl: {}, expect: { allowed: true } },
      { at: 58_000, rl: {}, expect: { allowed: true } },
      { at: 59_000, rl: {}, expect: { allowed: true, remaining: 0 } },
      { at: 61_000, rl: {}, expect: { allowed: false, resetMs: 19_000 } },
      { at: 61_000, rl: {}, expect: { allowed: false } },
      { at: 79_999, rl: {}, expect: { allowed: false } },
      { at: 80_000, rl: {}, expect: { allowed: true, remaining: 0, resetMs: 20_000 } },
      { at: 80_000, pttl: { key: 'rl', subject: '192.0.2.1' }, expect: 3 * W - 80_000 },
    ],
  },
  {
    name: 'rate limit: two windows later the count is forgotten',
    steps: [
      { at: 0, rl: {}, expect: { allowed: true } },
      { at: 0, rl: {}, expect: { allowed: true } },
      { at: 0, rl: {}, expect: { allowed: true } },
      { at: 0, rl: {}, expect: { allowed: false } },
      { at: 2 * W, rl: {}, expect: { allowed: true, remaining: 2 } },
    ],
  },
  {
    name: 'rate limit: subjects are counted separately',
    steps: [
      { at: 0, rl: { subject: 'a', limit: 1 }, expect: { allowed: true, remaining: 0 } },
      { at: 0, rl: { subject: 'a', limit: 1 }, expect: { allowed: false } },
      { at: 0, rl: { subject: 'b', limit: 1 }, expect: { allowed: true } },
      { at: 0, pttl: { key: 'rl', subject: 'c' }, expect: -2 },
    ],
  },
  {
    name: 'rate limit: state written by a clock running ahead is not rolled back',
    steps: [
      { at: 61_000, rl: {}, expect: { allowed: true, remaining: 2 } },
      // An instance 2 s behind lands in the previous window index: it stays in the later window, just begun.
      { at: 59_000, rl: {}, expect: { allowed: true, remaining: 1, resetMs: 90_000 } },
      { at: 59_000, pttl: { key: 'rl', subject: '192.0.2.1' }, expect: 3 * W - 59_000 },
    ],
  },
  // ---------------------------------------------------------------- lockout
  {
    name: 'lockout: three failures lock the account; the lock refuses the next attempt until it ends',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true, via: 'account', accountFailures: 1, ipFailures: 1 }, expectRecord: { accountFailures: 1, ipFailures: 1, lockedAccount: undefined } },
      { at: 1000, login: fail('bob'), expect: { allowed: true, accountFailures: 2 }, expectRecord: { accountFailures: 2 } },
      { at: 2000, login: fail('bob'), expect: { allowed: true, accountFailures: 3 }, expectRecord: { accountFailures: 0, ipFailures: 3, lockedAccount: { until: T0 + 12_000, durationMs: 10_000, level: 1 }, lockedIp: undefined } },
      // The level is kept until maxLockFor after the lock ends: 12 s + 40 s.
      { at: 2000, pttl: { key: 'acct', subject: 'bob' }, expect: 50_000 },
      { at: 2000, pttl: { key: 'ip', subject: '192.0.2.1' }, expect: 58_000 },
      { at: 5000, check: { account: 'bob', ip: '192.0.2.9' }, expect: { allowed: false, reason: 'account', retryAfterMs: 7000 } },
      { at: 11_999, check: { account: 'bob', ip: '192.0.2.9' }, expect: { allowed: false, reason: 'account', retryAfterMs: 1 } },
      { at: 12_000, check: { account: 'bob', ip: '192.0.2.9' }, expect: { allowed: true, accountFailures: 1 } },
    ],
  },
  {
    name: 'lockout: the lock doubles on each repeat, up to maxLockFor',
    limits: { ipMaxFailures: 0 },
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true }, expectRecord: { lockedAccount: { until: T0 + 10_000, durationMs: 10_000, level: 1 } } },
      { at: 10_000, login: fail('bob'), expect: { allowed: true, accountFailures: 1, ipFailures: 0 } },
      { at: 10_000, login: fail('bob'), expect: { allowed: true } },
      { at: 10_000, login: fail('bob'), expect: { allowed: true }, expectRecord: { lockedAccount: { until: T0 + 30_000, durationMs: 20_000, level: 2 } } },
      { at: 29_999, check: { account: 'bob' }, expect: { allowed: false, reason: 'account', retryAfterMs: 1 } },
      { at: 30_000, login: fail('bob'), expect: { allowed: true } },
      { at: 30_000, login: fail('bob'), expect: { allowed: true } },
      { at: 30_000, login: fail('bob'), expect: { allowed: true }, expectRecord: { lockedAccount: { until: T0 + 70_000, durationMs: 40_000, level: 3 } } },
      { at: 70_000, login: fail('bob'), expect: { allowed: true } },
      { at: 70_000, login: fail('bob'), expect: { allowed: true } },
      { at: 70_000, login: fail('bob'), expect: { allowed: true }, expectRecord: { lockedAccount: { until: T0 + 110_000, durationMs: 40_000, level: 4 } } },
      { at: 70_000, pttl: { key: 'acct', subject: 'bob' }, expect: 80_000 },
    ],
  },
  {
    name: 'lockout: a success resets the account\'s failures and refunds the address',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 1, login: fail('bob'), expect: { allowed: true }, expectRecord: { accountFailures: 2, ipFailures: 2 } },
      { at: 2, login: { account: 'bob', ip: '192.0.2.1', outcome: 'success' }, expect: { allowed: true, accountFailures: 3, ipFailures: 3 }, expectRecord: { accountFailures: 0, ipFailures: 2 } },
      { at: 2, pttl: { key: 'acct', subject: 'bob' }, expect: -2 },
      { at: 3, login: fail('bob'), expect: { allowed: true } },
      { at: 4, login: fail('bob'), expect: { allowed: true }, expectRecord: { accountFailures: 2, ipFailures: 4, lockedAccount: undefined, lockedIp: undefined } },
    ],
  },
  {
    name: 'lockout: one address failing on many accounts is locked, other addresses are not',
    steps: [
      { at: 0, login: fail('a1'), expect: { allowed: true } },
      { at: 1, login: fail('a2'), expect: { allowed: true } },
      { at: 2, login: fail('a3'), expect: { allowed: true } },
      { at: 3, login: fail('a4'), expect: { allowed: true }, expectRecord: { ipFailures: 4, lockedIp: undefined } },
      { at: 4, login: fail('a5'), expect: { allowed: true }, expectRecord: { accountFailures: 1, ipFailures: 0, lockedIp: { until: T0 + 20_004, durationMs: 20_000 } } },
      { at: 4, pttl: { key: 'ip', subject: '192.0.2.1' }, expect: 20_000 },
      { at: 5, check: { account: 'a6', ip: '192.0.2.1' }, expect: { allowed: false, reason: 'ip', retryAfterMs: 19_999 } },
      { at: 5, check: { account: 'a6', ip: '198.51.100.7' }, expect: { allowed: true, accountFailures: 1, ipFailures: 1 } },
    ],
  },
  {
    name: 'lockout: attempts are charged when they start, so parallel guesses cannot overshoot',
    steps: [
      { at: 0, check: { account: 'bob' }, expect: { allowed: true, accountFailures: 1 } },
      { at: 0, check: { account: 'bob' }, expect: { allowed: true, accountFailures: 2 } },
      { at: 0, check: { account: 'bob' }, expect: { allowed: true, accountFailures: 3, ipFailures: 3 } },
      { at: 0, check: { account: 'bob' }, expect: { allowed: false, reason: 'account', retryAfterMs: 60_000 } },
      // An upstream error (unknown outcome) refunds the charge.
      { at: 100, record: { account: 'bob', via: 'account', counted: true, outcome: 'unknown' }, expect: { accountFailures: 2, ipFailures: 2, lockedAccount: undefined } },
      { at: 200, check: { account: 'bob' }, expect: { allowed: true, accountFailures: 3 } },
      // A charged attempt that fails locks once the count is reached.
      { at: 300, record: { account: 'bob', via: 'account', counted: true, outcome: 'failure' }, expect: { accountFailures: 0, lockedAccount: { until: T0 + 10_300, durationMs: 10_000, level: 1 } } },
    ],
  },
  {
    name: 'lockout: a trusted device logs in while the account is locked, within its own budget',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 1000, login: fail('bob'), expect: { allowed: true } },
      { at: 2000, login: fail('bob'), expect: { allowed: true }, expectRecord: { lockedAccount: { until: T0 + 12_000, durationMs: 10_000, level: 1 } } },
      { at: 3000, login: { account: 'bob', ip: '203.0.113.5', device: 'd1', outcome: 'failure' }, expect: { allowed: true, via: 'device' }, expectRecord: { deviceFailures: 1, lockedAccount: undefined } },
      { at: 3000, pttl: { key: 'dev', subject: 'd1' }, expect: 60_000 },
      { at: 4000, login: { account: 'bob', ip: '203.0.113.5', device: 'd1', outcome: 'failure' }, expect: { allowed: true, via: 'device' }, expectRecord: { deviceFailures: 2 } },
      // Budget spent: the device is now an unknown client, and the account is locked.
      { at: 5000, check: { account: 'bob', ip: '203.0.113.5', device: 'd1' }, expect: { allowed: false, via: 'account', reason: 'account', retryAfterMs: 7000 } },
      // Another device still has its own budget.
      { at: 5000, check: { account: 'bob', ip: '203.0.113.5', device: 'd2' }, expect: { allowed: true, via: 'device' } },
    ],
  },
  {
    name: 'lockout: a trusted device\'s success does not unlock the account for others',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 1000, login: { account: 'bob', device: 'd1', outcome: 'success' }, expect: { allowed: true, via: 'device' }, expectRecord: { deviceFailures: 0 } },
      { at: 1000, pttl: { key: 'dev', subject: 'd1' }, expect: -2 },
      { at: 2000, check: { account: 'bob' }, expect: { allowed: false, reason: 'account', retryAfterMs: 8000 } },
    ],
  },
  {
    name: 'lockout: a trusted device\'s success resets the failures of an unlocked account',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true }, expectRecord: { accountFailures: 2 } },
      { at: 10, login: { account: 'bob', device: 'd1', outcome: 'success' }, expect: { allowed: true, via: 'device', accountFailures: 2 }, expectRecord: { accountFailures: 0 } },
      { at: 20, login: fail('bob'), expect: { allowed: true, accountFailures: 1 }, expectRecord: { lockedAccount: undefined } },
    ],
  },
  {
    name: 'lockout: failures age out of the window',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 1000, login: fail('bob'), expect: { allowed: true }, expectRecord: { accountFailures: 2 } },
      { at: 1000, pttl: { key: 'acct', subject: 'bob' }, expect: 59_000 },
      { at: 60_000, login: fail('bob'), expect: { allowed: true, accountFailures: 1, ipFailures: 1 }, expectRecord: { accountFailures: 1, lockedAccount: undefined } },
    ],
  },
  {
    name: 'lockout: a failure recorded without a check (store was down at check time) still counts',
    steps: [
      { at: 0, record: { account: 'bob', via: 'account', counted: false, outcome: 'failure' }, expect: { accountFailures: 1, ipFailures: 1 } },
      { at: 1, record: { account: 'bob', via: 'account', counted: false, outcome: 'failure' }, expect: { accountFailures: 2 } },
      { at: 2, record: { account: 'bob', via: 'account', counted: false, outcome: 'failure' }, expect: { lockedAccount: { until: T0 + 10_002, durationMs: 10_000, level: 1 } } },
      // While locked, further failures change nothing (no extension).
      { at: 3, record: { account: 'bob', via: 'account', counted: false, outcome: 'failure' }, expect: { accountFailures: 0, lockedAccount: undefined } },
      { at: 4, check: { account: 'bob' }, expect: { allowed: false, retryAfterMs: 9998 } },
    ],
  },
  {
    name: 'lockout: list shows locks and counted failures; clear lifts them',
    steps: [
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('bob'), expect: { allowed: true } },
      { at: 0, login: fail('eve', '192.0.2.2'), expect: { allowed: true } },
      { at: 1, list: true, expect: [
        { kind: 'account', subject: 'bob', failures: 0, lockedUntil: T0 + 10_000, level: 1 },
        { kind: 'account', subject: 'eve', failures: 1, lockedUntil: 0, level: 0 },
        { kind: 'ip', subject: '192.0.2.1', failures: 3, lockedUntil: 0, level: 0 },
        { kind: 'ip', subject: '192.0.2.2', failures: 1, lockedUntil: 0, level: 0 },
      ] },
      { at: 2, clear: { kind: 'account', subject: 'bob' }, expect: true },
      { at: 2, clear: { kind: 'account', subject: 'bob' }, expect: false },
      { at: 3, check: { account: 'bob' }, expect: { allowed: true, accountFailures: 1 } },
      { at: 4, clear: { kind: 'ip', subject: '192.0.2.2' }, expect: true },
      { at: 5, list: true, expect: [
        { kind: 'account', subject: 'bob', failures: 1, lockedUntil: 0, level: 0 },
        { kind: 'account', subject: 'eve', failures: 1 },
        { kind: 'ip', subject: '192.0.2.1', failures: 4 },
      ] },
    ],
  },
]

async function runCase(t: Tap, store: Store, c: Case, id: string): Promise<void> {
  const limits: LockoutLimits = { ...L, ...c.limits }
  const scope = `s${id}`
  const name = `r${id}`
  const who = (w: Who) => ({ scope, account: w.account ?? 'bob', ip: w.ip ?? '192.0.2.1', device: w.device, limits })
  for (const [i, step] of c.steps.entries()) {
    const now = T0 + step.at
    const label = `step ${i} (at ${step.at})`
    if ('rl' in step) {
      const r = await store.rateLimit({ name, subject: step.rl.subject ?? '192.0.2.1', limit: step.rl.limit ?? 3, windowMs: W, now, want: step.rl.want })
      t.match(r, step.expect, `${label}: rate limit`)
    } else if ('login' in step) {
      const q = who(step.login)
      const r = await store.lockoutCheck({ ...q, now })
      t.match(r, step.expect, `${label}: check`)
      if (r.allowed) {
        const rec = await store.lockoutRecord({ ...q, now, ticket: { via: r.via, counted: true }, outcome: step.login.outcome })
        if (step.expectRecord) matchWithUndefined(t, rec, step.expectRecord, `${label}: record`)
      } else if (step.expectRecord) {
        t.fail(`${label}: expected a record but the check refused`)
      }
    } else if ('check' in step) {
      matchWithUndefined(t, await store.lockoutCheck({ ...who(step.check), now }), step.expect, `${label}: check`)
    } else if ('record' in step) {
      const r = await store.lockoutRecord({ ...who(step.record), now, ticket: { via: step.record.via, counted: step.record.counted }, outcome: step.record.outcome })
      matchWithUndefined(t, r, step.expect, `${label}: record`)
    } else if ('pttl' in step) {
      const { key, subject } = step.pttl
      const k = key === 'rl' ? store.key('ratelimit', name, subject) : store.key('lockout', scope, `${key}:${subject}`)
      const got = await store.pttl(k, now)
      if (step.expect < 0) t.equal(got, step.expect, `${label}: ${k} absent`)
      else t.ok(got <= step.expect && got > step.expect - SLACK_MS, `${label}: PTTL ${k} = ${got}, want ${step.expect}`)
    } else if ('list' in step) {
      const got = (await store.lockoutList({ now, scope })).sort((a, b) => a.kind.localeCompare(b.kind) || a.subject.localeCompare(b.subject))
      t.equal(got.length, step.expect.length, `${label}: list length`)
      step.expect.forEach((e, j) => t.match(got[j], { ...e, scope }, `${label}: list[${j}]`))
    } else {
      t.equal(await store.lockoutClear({ scope, ...step.clear }), step.expect, `${label}: clear`)
    }
  }
}

/** Like t.match, but a key expected `undefined` must be undefined (t.match ignores it). */
function matchWithUndefined(t: Tap, got: object, want: Record<string, unknown>, label: string): void {
  t.match(got, want, label)
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined) t.equal((got as Record<string, unknown>)[k], undefined, `${label}: ${k} is undefined`)
  }
}

function table(t: Tap, make: () => Promise<{ store: Store; done?: () => Promise<void> }>): void {
  cases.forEach((c, i) => {
    t.test(c.name, async (t) => {
      const { store, done } = await make()
      try {
        await runCase(t, store, c, String(i))
      } finally {
        await done?.()
      }
    })
  })
}

t.test('MemoryStore', async (t) => {
  table(t, async () => {
    const store = new MemoryStore()
    return { store, done: () => store.close() }
  })
})

t.test('RedisStore (standalone)', async (t) => {
  const redis = await startRedis()
  const store = new RedisStore({ connection: redis.url, commandTimeoutMs: 1000 })
  t.teardown(async () => {
    await store.close()
    await redis.stop()
  })
  await store.waitReady(5000)
  table(t, async () => ({ store }))
})

t.test('RedisStore (Cluster, 3 nodes)', async (t) => {
  const cluster = await startRedisCluster(3)
  const store = new RedisStore({ connection: { cluster: cluster.nodes }, commandTimeoutMs: 1000 })
  t.teardown(async () => {
    await store.close()
    await cluster.stop()
  })
  await store.waitReady(10_000)
  t.match(store.key('lockout', 'club', 'acct:x'), /^rampart:lockout:\{club\}:acct:x$/, 'lockout keys are tagged by scope')
  t.match(store.key('ratelimit', 'per-ip', '192.0.2.1'), /^rampart:ratelimit:per-ip:\{192\.0\.2\.1\}$/, 'rate-limit keys are tagged by subject')
  table(t, async () => ({ store }))
})
