/**
 * The `rampart` command as operators run it, in a child process: check (exit codes and output), certs --dev, and
 * start with SIGHUP reload and a graceful SIGTERM that lets an in-flight request finish.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import https from 'node:https'
import { projectRoot, tempDir } from './helpers/paths.js'
import { makeCert } from './helpers/certs.js'
import { startUpstream } from './helpers/upstream.js'
import { deadPort } from './helpers/upstream.js'
import { oneSiteYaml } from './helpers/site-yaml.js'

const bin = join(projectRoot, 'dist', 'src', 'bin.js')
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 90_000 })

t.test('check: exit 0 for a valid config, 1 with every problem for an invalid one, 2 for bad usage', async (t) => {
  const dir = tempDir(t)
  await makeCert(dir, 'site', ['a.test'])
  writeFileSync(join(dir, 'good.yaml'), 'tls:\n  certificates:\n    - { hosts: [a.test], cert: site.pem, key: site-key.pem }\nsites:\n  - hosts: [a.test]\n    upstream: http://127.0.0.1:3000\n')
  writeFileSync(join(dir, 'bad.yaml'), 'tls:\n  certificates:\n    - { hosts: [a.test], cert: nope.pem, key: site-key.pem }\nsites:\n  - hosts: [a.test]\n    upstream: ftp://x\n    colour: blue\n')
  const good = run(['check', '--config', 'good.yaml'], dir)
  t.equal(good.status, 0)
  t.match(good.stdout, 'good.yaml: configuration is valid (1 site, 1 certificate)')
  const bad = run(['check', '--config', 'bad.yaml'], dir)
  t.equal(bad.status, 1)
  t.match(bad.stderr, "bad.yaml:6 sites[0].upstream: must be an absolute http:// or https:// URL")
  t.match(bad.stderr, "bad.yaml:7 sites[0].colour: unknown key 'colour'")
  t.match(bad.stderr, 'bad.yaml: 2 errors; configuration is invalid')
  t.equal(run(['frobnicate'], dir).status, 2)
  t.equal(run(['check', '--nope'], dir).status, 2)
})

t.test('certs --dev writes self-signed certificates for the configured hosts, once', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'r.yaml'), 'tls:\n  certificates:\n    - { hosts: [a.test, "*.a.test"], cert: certs/a.pem, key: certs/a-key.pem }\nsites:\n  - hosts: [a.test, "*.a.test"]\n    upstream: http://127.0.0.1:3000\n')
  const first = run(['certs', '--dev', '--config', 'r.yaml'], dir)
  t.equal(first.status, 0, first.stderr)
  t.ok(existsSync(join(dir, 'certs', 'a.pem')) && existsSync(join(dir, 'certs', 'a-key.pem')))
  t.equal(run(['check', '--config', 'r.yaml'], dir).status, 0, 'the generated pair passes check')
  t.match(run(['certs', '--dev', '--config', 'r.yaml'], dir).stdout, 'all certificates exist')
  t.equal(run(['certs', '--config', 'r.yaml'], dir).status, 2, 'without --dev nothing is written')
})

t.test('start: SIGHUP reloads, SIGTERM drains an in-flight request and exits 0', async (t) => {
  const dir = tempDir(t)
  await makeCert(dir, 'site', ['a.test'])
  let release: (() => void) | undefined
  const slow = await startUpstream(t, (req, res) => {
    if (req.url === '/slow') release = () => res.end('slow done')
    else res.end(`v1 ${req.url}`)
  })
  const v2 = await startUpstream(t, (req, res) => res.end(`v2 ${req.url}`))
  const port = await deadPort()
  const config = (upstream: string) => oneSiteYaml({ upstream, port, admin: false, extra: 'shutdown: { grace: 5s }\n' })
  writeFileSync(join(dir, 'r.yaml'), config(slow.url))
  const child = spawn(process.execPath, [bin, 'start', '--config', 'r.yaml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  await waitFor(() => out.includes('rampart listening'), 15_000, () => out)

  const ask = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, servername: 'a.test', headers: { host: 'a.test' }, rejectUnauthorized: false, agent: false }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
  t.equal((await ask('/x')).body, 'v1 /x')

  writeFileSync(join(dir, 'r.yaml'), config(v2.url).replace('sites:', 'bogus: 1\nsites:'))
  child.kill('SIGHUP')
  await waitFor(() => out.includes('reload refused'), 10_000, () => out)
  t.equal((await ask('/y')).body, 'v1 /y', 'an invalid new config keeps the old one running')
  t.match(out, "unknown key 'bogus'", 'and every problem is logged')

  writeFileSync(join(dir, 'r.yaml'), config(v2.url))
  child.kill('SIGHUP')
  await waitFor(() => out.includes('configuration reloaded'), 10_000, () => out)
  t.equal((await ask('/z')).body, 'v2 /z', 'a valid new config takes over without a restart')

  writeFileSync(join(dir, 'r.yaml'), config(slow.url))
  child.kill('SIGHUP')
  await waitFor(() => out.split('configuration reloaded').length === 3, 10_000, () => out)
  const inflight = ask('/slow')
  await waitFor(() => release !== undefined, 10_000, () => out)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  await waitFor(() => out.includes('shutting down'), 10_000, () => out)
  setTimeout(() => release!(), 300)
  const res = await inflight
  t.equal(res.body, 'slow done', 'the in-flight request finished during the grace period')
  t.equal(await exited, 0, 'exit code 0')
})

async function waitFor(cond: () => boolean, ms: number, context: () => string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms; output:\n${context()}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
