import t from 'tap'
import { checkAccessRules, compileAccessRules, type AccessRuleConfig } from '../../src/access/rules.js'
import { isRampartError } from '../../src/errors.js'

const SITES = [{ name: 'ballejaune', hosts: ['ballejaune.test', '*.ballejaune.test'] }, { hosts: ['openresa.test'] }]
const OFFICE = '203.0.113.0/24'
const VPN = '10.8.0.0/16'

const RULES: AccessRuleConfig[] = [
  { name: 'admin-office-vpn', pathPrefix: '/admin', allow: [OFFICE, VPN], deny: ['10.8.66.0/24'] },
  { name: 'admin-public', pathPrefix: '/admin/public', allow: ['0.0.0.0/0', '::/0'] },
  { name: 'no-bad-net', pathPrefix: '/', deny: ['198.51.100.0/24', '2001:db8:bad::/48'] },
  { name: 'openresa-api', site: 'openresa.test', pathPrefix: '/api', allow: ['2001:db8:1::/48'] },
  { site: 'ballejaune', pathPrefix: '/admin', allow: ['192.0.2.10'] },
]

t.test('decisions', async (t) => {
  const checker = compileAccessRules(RULES, SITES)
  const table: Array<[string, number, string, string, boolean, string | undefined]> = [
    // name, site, path, ip, allowed, deciding rule name
    ['admin from the office (openresa)', 1, '/admin/users', '203.0.113.7', true, 'admin-office-vpn'],
    ['admin from the VPN', 1, '/admin', '10.8.1.2', true, 'admin-office-vpn'],
    ['admin from elsewhere', 1, '/admin', '8.8.8.8', false, 'admin-office-vpn'],
    ['deny wins over allow in one rule', 1, '/admin', '10.8.66.5', false, 'admin-office-vpn'],
    ['longer prefix decides alone', 1, '/admin/public/help', '8.8.8.8', true, 'admin-public'],
    ['site rule beats global rule at equal length', 0, '/admin', '203.0.113.7', false, 'access[4]'],
    ['site rule allows its address', 0, '/admin', '192.0.2.10', true, 'access[4]'],
    ['deny-only rule lets others in', 0, '/news', '8.8.8.8', true, 'no-bad-net'],
    ['deny-only rule refuses its net', 0, '/news', '198.51.100.9', false, 'no-bad-net'],
    ['IPv6 deny', 0, '/news', '2001:db8:bad::1', false, 'no-bad-net'],
    ['IPv6 allow on another site', 1, '/api/v1', '2001:db8:1::5', true, 'openresa-api'],
    ['IPv6 allow refuses others', 1, '/api/v1', '2001:db8:2::5', false, 'openresa-api'],
    ['site rule does not leak to other sites', 0, '/api/v1', '8.8.8.8', true, 'no-bad-net'],
    ['IPv4-mapped IPv6 client', 1, '/admin', '::ffff:203.0.113.7', true, 'admin-office-vpn'],
    ['prefix is segment-wise', 1, '/administrator', '8.8.8.8', true, 'no-bad-net'],
    ['unparsable address is not allowed where allow applies', 1, '/admin', 'not-an-ip', false, 'admin-office-vpn'],
  ]
  for (const [name, site, path, ip, allowed, rule] of table) {
    const d = checker.check(site, path, ip)
    t.equal(d.allowed, allowed, `${name}: allowed=${allowed}`)
    t.equal(d.name, rule, `${name}: decided by ${rule}`)
  }
})

t.test('path spellings cannot bypass a rule', async (t) => {
  const checker = compileAccessRules([{ pathPrefix: '/admin', allow: [OFFICE] }], SITES)
  const spellings = ['/admin', '/ADMIN/', '/%61dmin', '//admin', '/x/../admin', '/./admin/x', '/%2e%2e/admin', '/admin;x=1',
    '\\admin', '/public%2f..%2fadmin', '/admin%2fusers', 'https://ballejaune.test/admin?x']
  for (const p of spellings) t.notOk(checker.check(0, p, '8.8.8.8').allowed, `${p} is covered`)
  for (const p of ['/administrator', '/public/admin', '/%252e%252e/admin']) t.ok(checker.check(0, p, '8.8.8.8').allowed, `${p} is not covered`)
})

t.test('no rules: everything is allowed, no rule reported', async (t) => {
  const checker = compileAccessRules([], SITES)
  t.same(checker.check(0, '/admin', '8.8.8.8'), { allowed: true })
  const siteOnly = compileAccessRules([{ site: 'openresa.test', pathPrefix: '/', deny: ['0.0.0.0/0'] }], SITES)
  t.same(siteOnly.check(0, '/', '8.8.8.8'), { allowed: true }, 'a site without rules')
  t.equal(siteOnly.check(1, '/', '8.8.8.8').allowed, false)
  t.equal(siteOnly.check(7, '/', '8.8.8.8').allowed, true, 'unknown site index: only rules for every site apply')
})

t.test('config problems', async (t) => {
  const table: Array<[string, AccessRuleConfig[], RegExp, 'error' | 'warning']> = [
    ['unknown site', [{ site: 'nope.test', pathPrefix: '/', deny: ['10.0.0.0/8'] }], /access\[0\]\.site: no site is named or serves 'nope.test'/, 'error'],
    ['no lists', [{ pathPrefix: '/admin' }], /access\[0\]\.allow: a rule needs 'allow', 'deny' or both/, 'error'],
    ['empty lists', [{ pathPrefix: '/admin', allow: [], deny: [] }], /needs 'allow', 'deny' or both/, 'error'],
    ['invalid CIDR', [{ pathPrefix: '/admin', allow: ['10.0.0.0/33'] }], /access\[0\]\.allow\[0\]: invalid CIDR '10.0.0.0\/33'/, 'error'],
    ['invalid deny CIDR', [{ pathPrefix: '/admin', deny: ['10.0.0.1', 'office'] }], /access\[0\]\.deny\[1\]: invalid CIDR 'office'/, 'error'],
    ['relative prefix', [{ pathPrefix: 'admin', allow: ['10.0.0.0/8'] }], /access\[0\]\.pathPrefix: must start with '\/'/, 'error'],
    ['shadowed duplicate', [{ pathPrefix: '/admin', allow: ['10.0.0.0/8'] }, { pathPrefix: '/ADMIN/', deny: ['10.0.0.0/8'] }], /access\[1\]\.pathPrefix: access\[0\] already covers/, 'warning'],
  ]
  for (const [name, rules, message, severity] of table) {
    const problems = checkAccessRules(rules, SITES)
    t.ok(problems.some((p) => p.severity === severity && message.test(`access[${p.index}].${p.field}: ${p.message}`)), `${name}: reported`)
    if (severity === 'error') {
      let caught: unknown
      try {
        compileAccessRules(rules, SITES)
      } catch (err) {
        caught = err
      }
      t.ok(isRampartError(caught) && caught.code === 'RAMPART_ERR_CONFIG_CONFLICT' && message.test(caught.message), `${name}: compile refuses`)
    } else {
      t.doesNotThrow(() => compileAccessRules(rules, SITES), `${name}: compile accepts a warning`)
    }
  }
  t.same(checkAccessRules(RULES, SITES), [], 'the example rules are clean')
})
