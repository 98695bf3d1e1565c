import t from 'tap'
import { Type } from '@sinclair/typebox'
import { compileSchema, formatProblem, validateText } from '../../src/config/validate.js'
import { Strict } from '../../src/config/types.js'
import { Abuse, Threats, checkAbuseSection, checkThreatsSection, type AbuseConfig, type ThreatsConfig } from '../../src/config/sections/threats.js'
import { compileThreatEngine } from '../../src/threats/engine.js'
import { createAbuseMonitor } from '../../src/abuse/monitor.js'

const Root = Strict({ threats: Threats, abuse: Abuse, sites: Type.Optional(Type.Array(Type.Unknown())) })
const validator = compileSchema(Root)
const SITES = [{ name: 'ballejaune', hosts: ['ballejaune.test'] }]

type Root = { threats: ThreatsConfig; abuse: AbuseConfig }
function check(yaml: string, env: Record<string, string> = {}) {
  return validateText<Root>(yaml, { file: 'rampart.yaml', env }, validator, (c) => [
    ...checkThreatsSection(c.threats, SITES),
    ...checkAbuseSection(c.abuse),
  ])
}

t.test('defaults', async (t) => {
  const r = check('{}\n')
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  t.same(r.config.threats, {
    mode: 'detect', paranoia: 1, threshold: 5, onError: 'open', maxBodyInspect: 65536,
    detectors: ['sqli', 'xss', 'traversal', 'command', 'scanner'], exclusions: [],
  })
  t.same(r.config.abuse.notFound, { enabled: true, count: 30, per: 60_000 })
  t.same(r.config.abuse.detections, { enabled: true, count: 5, per: 600_000 })
  t.equal(r.config.abuse.maxTrackedAddresses, 10_000)
  t.doesNotThrow(() => compileThreatEngine(r.config.threats, SITES), 'defaults compile into an engine')
})

t.test('a full section is accepted and converted', async (t) => {
  const r = check(`
threats:
  mode: block
  paranoia: 2
  threshold: 8
  onError: closed
  maxBodyInspect: 128kb
  detectors: [sqli, xss]
  exclusions:
    - { site: ballejaune, pathPrefix: /admin/cms, params: [content], families: [xss], comment: CMS pages hold HTML }
    - { ruleIds: [sqli-104] }
abuse:
  notFound: { count: 50, per: 2m, banFor: 10m }
  authFailures: { enabled: false }
`)
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  t.equal(r.config.threats.maxBodyInspect, 131072)
  t.equal(r.config.threats.paranoia, 2)
  t.same(r.config.abuse.notFound, { enabled: true, count: 50, per: 120_000, banFor: 600_000 })
  t.equal(r.config.abuse.authFailures.enabled, false)
  const bans: string[] = []
  const monitor = createAbuseMonitor(r.config.abuse, { onBan: (ip) => bans.push(ip) })
  for (let i = 0; i < 50; i++) monitor.observeResponse('198.51.100.9', 404, i)
  t.same(bans, ['198.51.100.9'], 'the section drives the abuse monitor')
  const engine = compileThreatEngine(r.config.threats, SITES)
  t.notOk(engine.scan({ path: '/', query: 'q=%3Cscript%3E' }).blocked, 'one rule (5) is under the threshold of 8')
  t.ok(engine.scan({ path: '/', query: 'q=%3Cscript%3Ealert(1)%3C/script%3E' }).blocked, 'three rules are over it')
})

t.test('bad values are reported with file, line and path', async (t) => {
  const table: Array<[string, string, RegExp]> = [
    ['unknown mode', 'threats:\n  mode: shadow\n', /^rampart\.yaml:2 threats\.mode: must be one of: "detect", "block", "off"$/],
    ['paranoia out of range', 'threats:\n  paranoia: 4\n', /^rampart\.yaml:2 threats\.paranoia: must be <= 3$/],
    ['threshold zero', 'threats:\n  threshold: 0\n', /^rampart\.yaml:2 threats\.threshold: must be >= 1$/],
    ['bad size', 'threats:\n  maxBodyInspect: lots\n', /^rampart\.yaml:2 threats\.maxBodyInspect: must be a size/],
    ['unknown family', 'threats:\n  detectors: [sqli, csrf]\n', /^rampart\.yaml:2 threats\.detectors\[1\]: must be one of/],
    ['unknown key', 'threats:\n  paranoya: 2\n', /unknown key 'paranoya' \(did you mean 'paranoia'\?\)/],
    ['bad rule id format', 'threats:\n  exclusions:\n    - { ruleIds: [SQLI-1] }\n', /threats\.exclusions\[0\]\.ruleIds\[0\]: must match pattern/],
    ['unknown rule id', 'threats:\n  exclusions:\n    - { ruleIds: [sqli-999] }\n', /^rampart\.yaml:3 threats\.exclusions\[0\]\.ruleIds\[0\]: unknown rule id 'sqli-999'$/],
    ['unknown site', 'threats:\n  exclusions:\n    - { site: nowhere, families: [xss] }\n', /^rampart\.yaml:3 threats\.exclusions\[0\]\.site: no site is named or serves 'nowhere'$/],
    ['exclusion of everything', 'threats:\n  exclusions:\n    - { comment: oops }\n', /threats\.exclusions\[0\]: this exclusion turns inspection off for every request/],
    ['relative path prefix', 'threats:\n  exclusions:\n    - { pathPrefix: admin, families: [xss] }\n', /pathPrefix: must match pattern/],
    ['abuse count too small', 'abuse:\n  notFound: { count: 1 }\n', /abuse\.notFound\.count: must be >= 2/],
    ['abuse zero window', 'abuse:\n  detections: { per: 0 }\n', /abuse\.detections\.per: must be longer than 0/],
    ['abuse zero ban', 'abuse:\n  detections: { banFor: 0 }\n', /abuse\.detections\.banFor: must be longer than 0/],
    ['too many distinct usernames', 'abuse:\n  distinctUsernames: { count: 5000 }\n', /abuse\.distinctUsernames\.count: must be at most 1024/],
    ['abuse bad duration', 'abuse:\n  notFound: { per: 60 }\n', /abuse\.notFound\.per: must be a duration/],
  ]
  for (const [name, yaml, want] of table) {
    const r = check(yaml)
    t.notOk(r.ok, `${name}: rejected`)
    if (!r.ok) t.ok(r.problems.map(formatProblem).some((p) => want.test(p)), `${name}: ${r.problems.map(formatProblem).join(' | ')}`)
  }
})
