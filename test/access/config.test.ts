import t from 'tap'
import { compileSchema, formatProblem, validateText } from '../../src/config/validate.js'
import { Strict } from '../../src/config/types.js'
import { Access, checkAccessSection, type AccessConfig } from '../../src/config/sections/access.js'
import { compileAccessRules } from '../../src/access/rules.js'

const validator = compileSchema(Strict({ access: Access }))
const SITES = [{ name: 'ballejaune', hosts: ['ballejaune.test'] }, { hosts: ['openresa.test'] }]

function check(yaml: string) {
  return validateText<{ access: AccessConfig }>(yaml, { file: 'rampart.yaml', env: {} }, validator, (c) => checkAccessSection(c.access, SITES))
}

t.test('valid rules', async (t) => {
  const r = check(`
access:
  - { name: admin, pathPrefix: /admin, allow: [10.0.0.0/8, 203.0.113.7, "2001:db8::/32"], deny: [10.66.0.0/16] }
  - { site: openresa.test, pathPrefix: /api, deny: ["::ffff:198.51.100.0/120"] }
`)
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  t.equal(r.config.access.length, 2)
  const checker = compileAccessRules(r.config.access, SITES)
  t.notOk(checker.check(0, '/admin/x', '8.8.8.8').allowed)
  t.ok(checker.check(0, '/admin/x', '10.1.2.3').allowed)
  t.notOk(checker.check(1, '/api', '198.51.100.7').allowed)
  const empty = check('{}\n')
  t.ok(empty.ok && empty.config.access.length === 0, 'default: no rules')
})

t.test('problems', async (t) => {
  const table: Array<[string, string, RegExp, boolean]> = [
    ['invalid CIDR', 'access:\n  - { pathPrefix: /admin, allow: [10.0.0.0/33] }\n', /^rampart\.yaml:2 access\[0\]\.allow\[0\]: must be an IPv4 or IPv6 address or CIDR block/, false],
    ['a name is not a CIDR', 'access:\n  - { pathPrefix: /admin, deny: [office] }\n', /access\[0\]\.deny\[0\]: must be an IPv4 or IPv6 address/, false],
    ['missing pathPrefix', 'access:\n  - { allow: [10.0.0.0/8] }\n', /access\[0\]: missing required key 'pathPrefix'/, false],
    ['relative pathPrefix', 'access:\n  - { pathPrefix: admin, allow: [10.0.0.0/8] }\n', /access\[0\]\.pathPrefix: must match pattern/, false],
    ['neither list', 'access:\n  - { pathPrefix: /admin }\n', /^rampart\.yaml:2 access\[0\]\.allow: a rule needs 'allow', 'deny' or both$/, false],
    ['empty list', 'access:\n  - { pathPrefix: /admin, allow: [] }\n', /access\[0\]\.allow: must NOT have fewer than 1 items/, false],
    ['unknown site', 'access:\n  - { site: nope.test, pathPrefix: /, deny: [10.0.0.0/8] }\n', /^rampart\.yaml:2 access\[0\]\.site: no site is named or serves 'nope.test'$/, false],
    ['unknown key', 'access:\n  - { path: /admin, allow: [10.0.0.0/8] }\n', /unknown key 'path'/, false],
    ['shadowed rule is a warning', 'access:\n  - { pathPrefix: /admin, allow: [10.0.0.0/8] }\n  - { pathPrefix: /Admin/, deny: [10.0.0.0/8] }\n', /access\[1\]\.pathPrefix: access\[0\] already covers this site and path/, true],
  ]
  for (const [name, yaml, want, ok] of table) {
    const r = check(yaml)
    t.equal(r.ok, ok, `${name}: ${ok ? 'accepted with a warning' : 'rejected'}`)
    const shown = r.ok ? r.warnings.map(formatProblem) : r.problems.map(formatProblem)
    t.ok(shown.some((p) => want.test(p)), `${name}: ${shown.join(' | ')}`)
  }
})
