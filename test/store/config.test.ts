/** Config section `store`: defaults, the three Redis forms, and rejected values with their messages. */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { compileSchema, validateText, formatProblem } from '../../src/config/validate.js'
import { StoreSection, type StoreConfig } from '../../src/config/sections/store.js'

const validator = compileSchema(Type.Object({ store: StoreSection }, { additionalProperties: false }))
const check = (yaml: string, env: Record<string, string> = {}) => validateText<{ store: StoreConfig }>(yaml, { file: 'r.yaml', env }, validator)

t.test('defaults', async (t) => {
  const r = check('store: {}')
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.config.store, {
    prefix: 'rampart', commandTimeout: 100, connectTimeout: 2000, autoPipelining: true, onStoreError: 'open', maxKeys: 100000,
  })
})

t.test('accepted forms', async (t) => {
  const table: Array<[string, string, unknown]> = [
    ['URL', 'store: { redis: "redis://:pw@127.0.0.1:6380/2", commandTimeout: 50ms }', { redis: 'redis://:pw@127.0.0.1:6380/2', commandTimeout: 50 }],
    ['TLS URL', 'store: { redis: "rediss://cache.internal:6380" }', { redis: 'rediss://cache.internal:6380' }],
    ['empty URL from the environment', 'store: { redis: "${REDIS_URL:-}" }', { redis: '' }],
    ['Sentinel', 'store:\n  redis:\n    sentinels: [{ host: s1, port: 26379 }, { host: s2, port: 26379 }]\n    name: main\n    password: pw', { redis: { sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], name: 'main', password: 'pw' } }],
    ['Cluster', 'store:\n  redis:\n    cluster: [{ host: 10.0.0.1, port: 7000 }]', { redis: { cluster: [{ host: '10.0.0.1', port: 7000 }] } }],
    ['fail closed and a key secret', 'store: { onStoreError: closed, keySecret: "0123456789abcdef", autoPipelining: false }', { onStoreError: 'closed', keySecret: '0123456789abcdef', autoPipelining: false }],
  ]
  for (const [name, yaml, want] of table) {
    const r = check(yaml)
    t.ok(r.ok, name)
    if (r.ok) t.match(r.config.store, want, name)
  }
})

t.test('rejected values name the field', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['store: { redis: "http://127.0.0.1:6379" }', /store\.redis: must be/],
    ['store: { redis: { sentinels: [], name: x } }', /store\.redis\.sentinels/],
    ['store: { redis: { cluster: [{ host: a, port: 0 }] } }', /store\.redis\.cluster\[0\]\.port/],
    ['store: { commandTimeout: 100 }', /store\.commandTimeout: must be a duration/],
    ['store: { onStoreError: fail-open }', /store\.onStoreError: must be one of: "open", "closed"/],
    ['store: { keySecret: short }', /store\.keySecret/],
    ['store: { prefix: "a:b" }', /store\.prefix/],
    ['store: { redsi: "redis://x" }', /unknown key 'redsi' \(did you mean 'redis'\?\)/],
  ]
  for (const [yaml, want] of table) {
    const r = check(yaml)
    t.equal(r.ok, false, yaml)
    if (!r.ok) t.match(r.problems.map(formatProblem).join('\n'), want, yaml)
  }
})
