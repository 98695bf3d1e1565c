/**
 * One bad-config fixture per failure mode, each with its exact expected output line(s), as `rampart check` prints
 * them. Certificates are generated into a temp dir that the fixtures reach through ${CERT_DIR}.
 */
import t from 'tap'
import { join } from 'node:path'
import { loadConfigFile } from '../../src/config/load.js'
import { formatProblem } from '../../src/config/validate.js'
import { makeCert } from '../helpers/certs.js'
import { fixturesDir, projectRoot, tempDir } from '../helpers/paths.js'

const dir = tempDir(t)
process.chdir(projectRoot)
await makeCert(dir, 'site', ['example.test'])
await makeCert(dir, 'other', ['example.test'])
await makeCert(dir, 'soon', ['example.test'], { days: 5 })
const env = { CERT_DIR: dir }
const f = (name: string) => `test/fixtures/config/bad/${name}`

const cases: Array<{ fixture: string; code: string; lines: string[] }> = [
  { fixture: 'invalid-yaml.yaml', code: 'RAMPART_ERR_CONFIG_YAML',
    lines: [`${f('invalid-yaml.yaml')}:4 invalid YAML: Flow map in block collection must be sufficiently indented and end with a }`] },
  { fixture: 'unknown-key.yaml', code: 'RAMPART_ERR_CONFIG_SCHEMA',
    lines: [`${f('unknown-key.yaml')}:7 sites[0].upstrem_timeout: unknown key 'upstrem_timeout'`] },
  { fixture: 'wrong-type.yaml', code: 'RAMPART_ERR_CONFIG_SCHEMA',
    lines: [`${f('wrong-type.yaml')}:3 listen.https.port: must be an integer`] },
  { fixture: 'bad-duration.yaml', code: 'RAMPART_ERR_CONFIG_SCHEMA',
    lines: [`${f('bad-duration.yaml')}:8 sites[0].timeouts.headers: must be a duration with a unit, like 500ms, 30s, 15m, 1h or 7d`] },
  { fixture: 'bad-cidr.yaml', code: 'RAMPART_ERR_CONFIG_SCHEMA',
    lines: [`${f('bad-cidr.yaml')}:3 trustedProxies[1]: must be an IPv4 or IPv6 address or CIDR block, like 10.0.0.0/8 or 2001:db8::/32`] },
  { fixture: 'missing-env.yaml', code: 'RAMPART_ERR_CONFIG_ENV',
    lines: [`${f('missing-env.yaml')}:6 sites[0].upstream: environment variable RAMPART_TEST_UNSET_UPSTREAM is not set (use \${RAMPART_TEST_UNSET_UPSTREAM:-default} for a default)`] },
  { fixture: 'missing-cert-file.yaml', code: 'RAMPART_ERR_CONFIG_CERT',
    lines: [`${f('missing-cert-file.yaml')}:4 tls.certificates[0].cert: cannot read certificate file ${dir}/does-not-exist.pem: file not found`] },
  { fixture: 'cert-key-mismatch.yaml', code: 'RAMPART_ERR_CONFIG_CERT',
    lines: [`${f('cert-key-mismatch.yaml')}:5 tls.certificates[0].key: key ${dir}/other-key.pem does not match certificate ${dir}/site.pem`] },
  { fixture: 'duplicate-host.yaml', code: 'RAMPART_ERR_CONFIG_HOST_DUPLICATE',
    lines: [`${f('duplicate-host.yaml')}:7 sites[1].hosts[0]: host 'example.test' is already served by sites[0]`] },
  { fixture: 'unknown-cert-host.yaml', code: 'RAMPART_ERR_CONFIG_CERT_HOST_UNKNOWN',
    lines: [`${f('unknown-cert-host.yaml')}:3 tls.certificates[0].hosts[1]: host 'shop.example.test' is not a host of any site`] },
  { fixture: 'several-errors.yaml', code: 'RAMPART_ERR_CONFIG_SCHEMA',
    lines: [
      `${f('several-errors.yaml')}:2 listen.https.port: must be <= 65535`,
      `${f('several-errors.yaml')}:4 tls.profile: must be one of: "intermediate", "modern"`,
      `${f('several-errors.yaml')}:8 sites[0].hosts[0]: must be a host name like example.com or a wildcard like *.example.com`,
      `${f('several-errors.yaml')}:9 sites[0].upstream: must be an absolute http:// or https:// URL`,
    ] },
]

for (const c of cases) {
  t.test(c.fixture, async (t) => {
    const result = await loadConfigFile(join(fixturesDir, 'config', 'bad', c.fixture), { env })
    t.equal(result.ok, false, 'the config is refused')
    if (result.ok) return
    t.same(result.problems.map(formatProblem), c.lines, 'every problem, with file, line and path')
    t.equal(result.problems[0]!.code, c.code)
  })
}

t.test('a good config loads, frozen, with defaults filled in', async (t) => {
  const result = await loadConfigFile(join(fixturesDir, 'config', 'good', 'minimal.yaml'), { env })
  t.ok(result.ok)
  if (!result.ok) return
  const c = result.loaded.config
  t.equal(c.listen.https.port, 8443)
  t.equal(c.listen.http.redirect.status, 308)
  t.equal(c.tls.profile, 'intermediate')
  t.equal(c.sites[0]!.timeouts.headers, 60_000, 'durations become milliseconds')
  t.equal(c.proxy.maxBodySize, 10 * 1024 * 1024, 'sizes become bytes')
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.sites[0]), 'the result is frozen')
  t.same(result.loaded.warnings, [])
})

t.test('a soon-expiring certificate is a warning, not an error', async (t) => {
  const result = await loadConfigFile(join(fixturesDir, 'config', 'good', 'expiring-cert.yaml'), { env })
  t.ok(result.ok, 'the config loads')
  if (!result.ok) return
  t.equal(result.loaded.warnings.length, 1)
  const w = result.loaded.warnings[0]!
  t.equal(w.code, 'RAMPART_ERR_TLS_EXPIRING')
  t.equal(w.severity, 'warning')
  t.match(formatProblem(w), /expiring-cert\.yaml:3 tls\.certificates\[0\]\.cert: certificate .*soon\.pem expires in 5 days .* \(warning\)$/)
})

t.test('a missing file is reported, not thrown', async (t) => {
  const result = await loadConfigFile(join(dir, 'nope.yaml'))
  t.equal(result.ok, false)
  if (result.ok) return
  t.equal(result.problems[0]!.code, 'RAMPART_ERR_CONFIG_READ')
  t.match(result.problems[0]!.message, 'file not found')
})
