/** Config section `rateLimits`: defaults, accepted keys, rejected values, and the cross-field checks. */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { compileSchema, validateText, formatProblem } from '../../src/config/validate.js'
import { RateLimitsSection, checkRateLimits, type RateLimitsConfig } from '../../src/config/sections/rate-limits.js'

const validator = compileSchema(Type.Object({ rateLimits: RateLimitsSection }, { additionalProperties: false }))
const check = (yaml: string) => validateText<{ rateLimits: RateLimitsConfig }>(yaml, { file: 'r.yaml', env: {} }, validator)

t.test('defaults and accepted forms', async (t) => {
  const r = check(`
rateLimits:
  - { name: per-ip, limit: 600, per: 1m }
  - name: reset-mail
    match: { site: club, method: POST, path: /password-reset }
    key: body.email
    limit: 3
    per: 1h
    answer: { pretend: { body: "<p>Check your mail</p>" } }
  - name: api
    match: { pathPrefix: /api, method: [GET, POST] }
    key: [ip, "header:X-Api-Key"]
    limit: 100
    per: 10s
    mode: shadow
    allow: [10.0.0.0/8, "2001:db8::/32"]
    onStoreError: closed
`)
  t.ok(r.ok, r.ok ? 'valid' : r.problems.map(formatProblem).join('\n'))
  if (!r.ok) return
  const [a, b, c] = r.config.rateLimits
  t.same(a, { name: 'per-ip', limit: 600, per: 60_000, localBatch: 1, match: {}, key: 'ip', mode: 'enforce', allow: [], answer: { status: 429 }, headers: true })
  t.same(b!.answer, { status: 429, pretend: { status: 200, body: '<p>Check your mail</p>', contentType: 'text/html; charset=utf-8', headers: {} } })
  t.equal(b!.per, 3_600_000)
  t.same(c!.key, ['ip', 'header:X-Api-Key'])
  t.equal(c!.onStoreError, 'closed')
  t.same(check('{}').ok && (check('{}') as { config: { rateLimits: unknown } }).config.rateLimits, [], 'absent: no limits')
})

t.test('rejected values name the field', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['rateLimits: [{ name: a, limit: 0, per: 1m }]', /rateLimits\[0\]\.limit: must be >= 1/],
    ['rateLimits: [{ name: a, limit: 1 }]', /rateLimits\[0\]: missing required key 'per'/],
    ['rateLimits: [{ name: "a b", limit: 1, per: 1m }]', /rateLimits\[0\]\.name: must match pattern/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, key: cookie }]', /rateLimits\[0\]\.key: must be/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, key: [ip, "body."] }]', /rateLimits\[0\]\.key/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, mode: report }]', /rateLimits\[0\]\.mode: must be one of: "enforce", "shadow"/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, allow: [10.0.0.0/33] }]', /rateLimits\[0\]\.allow\[0\]: must be an IPv4 or IPv6 address or CIDR/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, match: { path: login } }]', /rateLimits\[0\]\.match\.path: must match pattern/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, match: { paht: /x } }]', /unknown key 'paht' \(did you mean 'path'\?\)/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, answer: { status: 200 } }]', /rateLimits\[0\]\.answer\.status: must be >= 400/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, answer: { pretend: { body: x, extra: 1 } } }]', /unknown key 'extra'/],
    ['rateLimits: [{ name: a, limit: 1, per: 1m, answer: { pretend: { headers: { "bad header": x } } } }]', /rateLimits\[0\]\.answer\.pretend\.headers/],
  ]
  for (const [yaml, want] of table) {
    const r = check(yaml)
    t.equal(r.ok, false, yaml)
    if (!r.ok) t.match(r.problems.map(formatProblem).join('\n'), want, yaml)
  }
})

t.test('checkRateLimits: across fields', async (t) => {
  const r = check(`
rateLimits:
  - { name: a, limit: 1, per: 1m }
  - { name: a, limit: 1, per: 1m }
  - { name: b, limit: 1, per: 500ms, match: { site: nowhere, path: /x, pathPrefix: /y } }
`)
  t.ok(r.ok)
  if (!r.ok) return
  const problems = checkRateLimits(r.config.rateLimits, ['club', 'resa'])
  t.same(problems.map((p) => `${p.path}: ${p.message}`), [
    "rateLimits[1].name: rate limit name 'a' is already used by rateLimits[0]",
    'rateLimits[2].match: set either path or pathPrefix, not both',
    "rateLimits[2].match.site: no site is named 'nowhere' (known: club, resa)",
    'rateLimits[2].per: must be at least 1s',
  ])
  t.ok(problems.every((p) => p.code === 'RAMPART_ERR_CONFIG_CONFLICT' && p.severity === 'error'))
  t.same(checkRateLimits([], []), [])
})
