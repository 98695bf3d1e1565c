/**
 * Multi-worker operation, as operators run it: `rampart start` with `workers: 2` in a child process, under load from
 * autocannon (bounded: a few seconds, 10 connections, loopback).
 * - SIGHUP reloads config and certificates with zero failed requests and zero resets.
 * - A worker killed under load is replaced; the loss is at most that worker's in-flight requests (counted).
 * - SIGTERM drains every worker and the primary exits 0.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import http from 'node:http'
import { createRequire } from 'node:module'
import { projectRoot, tempDir } from '../helpers/paths.js'
import { makeCert } from '../helpers/certs.js'
import { startUpstream, deadPort } from '../helpers/upstream.js'

const dir = tempDir(t)
await makeCert(dir, 'site', ['localhost'])
const upstream = await startUpstream(t, (_req, res) => res.end('hello from the app'))
const port = await deadPort()
const adminPort = await deadPort()
const config = (extra: string) => `workers: 2
listen:
  https: { host: 127.0.0.1, port: ${port} }
  http: { enabled: false }
  admin: { host: 127.0.0.1, port: ${adminPort} }
tls:
  certificates:
    - { hosts: [localhost], cert: site.pem, key: site-key.pem }
sites:
  - hosts: [localhost]
    upstream: ${upstream.url}
log: { level: info, accessLog: false }
shutdown: { grace: 5s }
${extra}`
writeFileSync(join(dir, 'r.yaml'), config(''))

const child = spawn(process.execPath, [join(projectRoot, 'dist', 'src', 'bin.js'), 'start', '--config', 'r.yaml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
let out = ''
child.stdout.on('data', (d: Buffer) => { out += d.toString() })
child.stderr.on('data', (d: Buffer) => { out += d.toString() })
await waitFor(() => (out.match(/worker listening/g) ?? []).length >= 2, 30_000, 'both workers listening')

function workerPids(): number[] {
  return [...out.matchAll(/"worker":\d+,"pid":(\d+),"slot":\d+,"msg":"worker listening"/g)].map((m) => Number(m[1]))
}

// autocannon ships no type declarations; this is the part of its API used here.
interface LoadResult { requests: { total: number }; errors: number; timeouts: number; non2xx: number; resets?: number }
const autocannon = createRequire(import.meta.url)('autocannon') as (o: object, cb: (err: Error | null, r: LoadResult) => void) => void

function load(seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon({
      url: `https://127.0.0.1:${port}/`, connections: 10, duration: seconds, headers: { host: 'localhost' },
      // Test certificate: the load is about availability, the TLS suite checks verification.
      tlsOptions: { rejectUnauthorized: false, servername: 'localhost' },
    }, (err, result) => (err ? reject(err) : resolve(result)))
  })
}

t.test('SIGHUP under load (config and certificates): zero errors, zero resets, zero non-2xx', async (t) => {
  const running = load(4)
  await new Promise((r) => setTimeout(r, 1000))
  writeFileSync(join(dir, 'r.yaml'), config('headers: { xFrameOptions: DENY }'))
  await makeCert(dir, 'site', ['localhost'])
  child.kill('SIGHUP')
  await new Promise((r) => setTimeout(r, 1200))
  child.kill('SIGHUP')
  const result = await running
  t.ok(result.requests.total > 100, `${result.requests.total} requests during the reloads`)
  t.equal(result.errors, 0, 'no connection errors')
  t.equal(result.resets ?? 0, 0, 'no resets')
  t.equal(result.timeouts, 0, 'no timeouts')
  t.equal(result.non2xx, 0, 'no non-2xx answers')
  t.ok((out.match(/configuration reloaded/g) ?? []).length >= 4, 'each worker reloaded twice')
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    import('node:https').then(({ get }) => get({ host: '127.0.0.1', port, servername: 'localhost', headers: { host: 'localhost' }, rejectUnauthorized: false }, resolve).on('error', reject), reject)
  })
  res.resume()
  t.equal(res.headers['x-frame-options'], 'DENY', 'the new configuration is in force')
})

t.test('a worker killed under load is replaced; only its in-flight requests are lost', async (t) => {
  const before = workerPids()
  t.equal(before.length >= 2, true)
  const running = load(4)
  await new Promise((r) => setTimeout(r, 1000))
  process.kill(before[0]!, 'SIGKILL')
  const result = await running
  await waitFor(() => workerPids().length >= before.length + 1, 15_000, 'a replacement worker')
  const lost = result.errors + result.timeouts + result.non2xx
  t.comment(`requests: ${result.requests.total}, lost: ${lost} (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx})`)
  t.ok(lost <= 10, `at most one in-flight request per connection was lost (${lost} of ${result.requests.total})`)
  t.ok(result.requests.total > 100, 'the other worker kept serving')
  t.match(out, /worker exited; starting a replacement/)
})

t.test('/readyz and /metrics answer for all workers', async (t) => {
  const get = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: adminPort, path }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
  let ready = await get('/readyz')
  for (let i = 0; i < 40 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 250))
    ready = await get('/readyz')
  }
  t.equal(ready.status, 200)
  t.same((JSON.parse(ready.body) as { checks: { workers: { detail: { running: number } } } }).checks.workers.detail.running, 2)
})

t.test('SIGTERM: workers drain and the primary exits 0', async (t) => {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  t.equal(await exited, 0)
})

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output:\n${out.slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
