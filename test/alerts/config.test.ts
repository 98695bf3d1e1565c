import t from 'tap'
import { compileSchema, formatProblem, validateText } from '../../src/config/validate.js'
import { Strict } from '../../src/config/types.js'
import { Alerts, type AlertsConfig } from '../../src/config/sections/alerts.js'
import { webhookOptions } from '../../src/alerts/webhook.js'

const validator = compileSchema(Strict({ alerts: Alerts }))
const check = (yaml: string, env: Record<string, string> = {}) =>
  validateText<{ alerts: AlertsConfig }>(yaml, { file: 'rampart.yaml', env }, validator)

t.test('defaults and the secret from the environment', async (t) => {
  const none = check('{}\n')
  t.ok(none.ok && none.config.alerts.webhook === undefined, 'no webhook by default')
  const r = check('alerts:\n  webhook: { url: "https://hooks.example/rampart", secret: "${ALERT_WEBHOOK_SECRET}" }\n', {
    ALERT_WEBHOOK_SECRET: 's3cret-s3cret-s3cret',
  })
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  t.same(r.config.alerts.webhook, {
    url: 'https://hooks.example/rampart', secret: 's3cret-s3cret-s3cret', timeout: 2000, retries: 3, queueSize: 1000, minInterval: 60_000,
  })
  t.match(webhookOptions(r.config.alerts.webhook!, { backoffMs: 250 }), {
    url: 'https://hooks.example/rampart', secret: 's3cret-s3cret-s3cret', timeoutMs: 2000, retries: 3, queueSize: 1000, minIntervalMs: 60_000, backoffMs: 250,
  }, 'the section maps onto sink options')
})

t.test('problems', async (t) => {
  const table: Array<[string, string, Record<string, string>, RegExp]> = [
    ['secret variable unset', 'alerts:\n  webhook: { url: "https://h.example/", secret: "${ALERT_WEBHOOK_SECRET}" }\n', {}, /^rampart\.yaml:2 .*environment variable ALERT_WEBHOOK_SECRET is not set/],
    ['short secret', 'alerts:\n  webhook: { url: "https://h.example/", secret: "${S}" }\n', { S: 'short' }, /alerts\.webhook\.secret: must NOT have fewer than 16 characters/],
    ['not a URL', 'alerts:\n  webhook: { url: "hooks.example" }\n', {}, /alerts\.webhook\.url: must be an absolute http:\/\/ or https:\/\/ URL/],
    ['missing url', 'alerts:\n  webhook: { retries: 2 }\n', {}, /alerts\.webhook: missing required key 'url'/],
    ['too many retries', 'alerts:\n  webhook: { url: "https://h.example/", retries: 50 }\n', {}, /alerts\.webhook\.retries: must be <= 10/],
    ['empty queue', 'alerts:\n  webhook: { url: "https://h.example/", queueSize: 0 }\n', {}, /alerts\.webhook\.queueSize: must be >= 1/],
    ['bad interval', 'alerts:\n  webhook: { url: "https://h.example/", minInterval: often }\n', {}, /alerts\.webhook\.minInterval: must be a duration/],
    ['unknown key', 'alerts:\n  webhook: { url: "https://h.example/", retires: 2 }\n', {}, /unknown key 'retires' \(did you mean 'retries'\?\)/],
  ]
  for (const [name, yaml, env, want] of table) {
    const r = check(yaml, env)
    t.notOk(r.ok, `${name}: rejected`)
    if (!r.ok) t.ok(r.problems.map(formatProblem).some((p) => want.test(p)), `${name}: ${r.problems.map(formatProblem).join(' | ')}`)
  }
})
