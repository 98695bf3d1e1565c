/** SNI and site-host matching, table-driven (pure). */
import t from 'tap'
import { compileHostTable, hostMatchesPattern, canonicalHost } from '../../src/tls/sni.js'

t.test('hostMatchesPattern', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['a.test', 'a.test', true],
    ['A.TEST', 'a.test', true],
    ['a.test.', 'a.test', true],
    ['x.a.test', '*.a.test', true],
    ['X.A.Test', '*.a.test', true],
    ['a.test', '*.a.test', false],
    ['y.x.a.test', '*.a.test', false],
    ['xa.test', '*.a.test', false],
    ['.a.test', '*.a.test', false],
    ['b.test', 'a.test', false],
    ['bücher.test', 'xn--bcher-kva.test', true],
    ['', 'a.test', false],
  ]
  for (const [host, pattern, want] of table) t.equal(hostMatchesPattern(host, pattern), want, `${host} vs ${pattern}`)
})

t.test('compileHostTable: exact names win over wildcards; first entry wins', async (t) => {
  const table = compileHostTable<string>([
    ['*.a.test', 'wild'], ['www.a.test', 'www'], ['a.test', 'apex'], ['a.test', 'second'], ['b.test', 'b'],
  ])
  const cases: Array<[string, string | undefined]> = [
    ['www.a.test', 'www'], ['WWW.A.TEST', 'www'], ['shop.a.test', 'wild'], ['a.test', 'apex'],
    ['deep.shop.a.test', undefined], ['b.test', 'b'], ['c.test', undefined], ['localhost', undefined],
  ]
  for (const [host, want] of cases) t.equal(table.lookup(host), want, host)
})

t.test('canonicalHost', async (t) => {
  t.equal(canonicalHost('Example.COM'), 'example.com')
  t.equal(canonicalHost('example.com.'), 'example.com')
  t.equal(canonicalHost('münchen.de'), 'xn--mnchen-3ya.de')
  t.equal(canonicalHost(''), undefined)
  t.equal(canonicalHost('a'.repeat(300)), undefined)
})
