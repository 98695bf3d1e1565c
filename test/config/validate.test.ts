/** Config validation without files: env substitution, units, unknown keys, cross-field checks. Table-driven. */
import t from 'tap'
import { validateConfigText, formatProblem, suggest } from '../../src/config/validate.js'

const base = (extra = '', site = '') => `
tls:
  certificates:
    - { hosts: [a.test, "*.a.test"], cert: a.pem, key: a-key.pem }
sites:
  - hosts: [a.test, "*.a.test"]
    upstream: http://127.0.0.1:3000${site}
${extra}`

const check = (text: string, env: Record<string, string> = {}) => validateConfigText(text, { file: 'r.yaml', env })

t.test('environment substitution', async (t) => {
  const ok = check(base('listen:\n  https:\n    port: ${PORT}\nlog: { level: "${LEVEL:-warn}" }'), { PORT: '9443' })
  t.ok(ok.ok)
  if (!ok.ok) return
  t.equal(ok.config.listen.https.port, 9443, 'a whole-value ${VAR} is read as a YAML scalar (number)')
  t.equal(ok.config.log.level, 'warn', '${VAR:-default} falls back when unset')

  const token = check(base('', '\n    hostHeader: ${HOSTHDR}'), { HOSTHDR: '12345' })
  t.ok(token.ok, 'a numeric-looking secret still fits a string field')
  if (token.ok) t.equal(token.config.sites[0]!.hostHeader, '12345')

  const embedded = check(base('', '\n    hostHeader: "app-${ENVNAME}.internal"'), { ENVNAME: 'prod' })
  t.ok(embedded.ok)
  if (embedded.ok) t.equal(embedded.config.sites[0]!.hostHeader, 'app-prod.internal', 'substitution inside a string')

  const empty = check(base('log: { level: "${LEVEL}" }'), { LEVEL: '' })
  t.equal(empty.ok, false, 'an empty variable counts as unset')
})

t.test('units are read as written', async (t) => {
  const table: Array<[string, number | undefined]> = [
    ['500ms', 500], ['30s', 30_000], ['15m', 900_000], ['1h30m', 5_400_000], ['2d', 172_800_000], ['0', 0],
    ['15', undefined], ['15 m', undefined], ['m', undefined], ['-5s', undefined], ['1w', undefined],
  ]
  for (const [text, want] of table) {
    const r = check(base('', `\n    timeouts: { connect: "${text}" }`))
    if (want === undefined) t.equal(r.ok, false, `${text} is refused`)
    else {
      t.ok(r.ok, `${text} is accepted`)
      if (r.ok) t.equal(r.config.sites[0]!.timeouts.connect, want, `${text} = ${want} ms`)
    }
  }
  const sizes: Array<[string, number | undefined]> = [['1mb', 1048576], ['64kb', 65536], ['512', 512], ['2g', 2 * 1024 ** 3], ['1.5k', 1536], ['lots', undefined]]
  for (const [text, want] of sizes) {
    const r = check(base(`proxy: { maxBodySize: "${text}" }`))
    if (want === undefined) t.equal(r.ok, false, `${text} is refused`)
    else if (r.ok) t.equal(r.config.proxy.maxBodySize, want, `${text} = ${want} bytes`)
    else t.fail(`${text} should be accepted`)
  }
})

t.test('unknown keys anywhere are refused, with a suggestion when it looks like a typo', async (t) => {
  const r = check(base('limts: {}\nlisten:\n  https: { prot: 1 }'))
  t.equal(r.ok, false)
  if (r.ok) return
  t.same(r.problems.map(formatProblem), [
    "r.yaml:8 limts: unknown key 'limts' (did you mean 'limits'?)",
    "r.yaml:10 listen.https.prot: unknown key 'prot' (did you mean 'port'?)",
  ])
  t.equal(suggest('upstrem', ['upstream', 'hosts']), 'upstream')
  t.equal(suggest('zzzzzz', ['upstream', 'hosts']), undefined)
})

t.test('cross-field checks', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['modern profile with TLS 1.2', base('').replace('tls:\n', 'tls:\n  profile: modern\n  minVersion: TLSv1.2\n'), /the 'modern' profile is TLS 1.3 only/],
    ['two default certificates', base('').replace(/certificates:\n.*\n/, 'certificates:\n    - { hosts: [a.test], cert: a.pem, key: a-key.pem, default: true }\n    - { hosts: ["*.a.test"], cert: b.pem, key: b-key.pem, default: true }\n'), /only one certificate can be the default/],
    ['acme folder without folder', base('listen:\n  http: { acme: { mode: folder } }'), /acme mode 'folder' needs 'folder'/],
    ['HTTP and HTTPS on one port', base('listen:\n  https: { port: 8443 }\n  http: { port: 8443 }'), /cannot share a port/],
    ['a site name used twice', base('', '\n    name: x\n  - hosts: [b.test]\n    name: x\n    upstream: http://127.0.0.1:1'), /site name 'x' is already used/],
  ]
  for (const [name, text, re] of cases) {
    const r = check(text)
    t.equal(r.ok, false, name)
    if (!r.ok) t.match(r.problems.map(formatProblem).join('\n'), re, name)
  }
})

t.test('host names are canonical: case and IDN do not matter', async (t) => {
  const r = check(base('').replace(/hosts: \[a\.test, "\*\.a\.test"\]\n    upstream/, 'hosts: [A.Test, "*.a.test", "bücher.test"]\n    upstream'))
  t.ok(r.ok)
  if (r.ok) t.same(r.config.sites[0]!.hosts, ['a.test', '*.a.test', 'xn--bcher-kva.test'])
})

t.test('a site host without a certificate is a warning', async (t) => {
  const r = check(base('', '\n  - hosts: [b.test]\n    upstream: http://127.0.0.1:3001'))
  t.ok(r.ok)
  if (r.ok) t.match(r.warnings.map(formatProblem).join('\n'), /sites\[1\]\.hosts\[0\]: no certificate lists host 'b\.test'.*\(warning\)/)
})

t.test('the document must be a mapping, and YAML duplicate keys are errors', async (t) => {
  const list = check('- a\n- b\n')
  t.equal(list.ok, false)
  if (!list.ok) t.match(formatProblem(list.problems[0]!), /must be a YAML mapping/)
  const dup = check(base('log: {}\nlog: {}'))
  t.equal(dup.ok, false)
  if (!dup.ok) t.match(formatProblem(dup.problems[0]!), /invalid YAML: Map keys must be unique/)
})
