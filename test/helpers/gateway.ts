/**
 * Starts a real Rampart (the same runtime the CLI runs) on free loopback ports, from YAML written to a temp dir
 * with certificates made for the test. Logs are captured as parsed JSON lines so tests can assert on them.
 */
import { writeFileSync } from 'node:fs'
import YAML from 'yaml'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import https from 'node:https'
import http2 from 'node:http2'
import type { IncomingHttpHeaders } from 'node:http'
import { startRuntime, type Runtime } from '../../src/server/runtime.js'
import { createLogger } from '../../src/log/logger.js'
import { makeCert, testCa } from './certs.js'
import { tempDir } from './paths.js'

export interface TestGateway {
  readonly runtime: Runtime
  readonly port: number
  readonly httpPort: number | undefined
  readonly dir: string
  readonly configPath: string
  readonly ca: string
  readonly logs: Array<Record<string, unknown>>
}

export interface GatewayOptions {
  /** Certificates to create: file base name → hosts. Referenced in YAML as `<name>.pem` / `<name>-key.pem`. */
  readonly certs?: Record<string, readonly string[] | { hosts: readonly string[]; keyType: 'ec' | 'rsa' }>
  readonly env?: Record<string, string>
}

/** Default listen block: HTTPS on a free port, HTTP listener off (tests that need it say so). */
export const LISTEN_HTTPS_ONLY = `listen:
  https: { host: 127.0.0.1, port: 0, http2: true }
  http: { enabled: false }
`

/**
 * A gateway with one site, `localhost`, in front of `upstreamUrl`, on its own `localhost` certificate. `extra` is
 * more top-level YAML (limits, proxy options); `listen` replaces the default HTTPS-only listen block.
 */
export function startLocalhostGateway(
  t: { teardown(fn: () => unknown): void }, upstreamUrl: string, extra = '', listen = LISTEN_HTTPS_ONLY,
): Promise<TestGateway> {
  return startGateway(t, `${listen}
${extra}
sites:
  - hosts: [localhost]
    upstream: ${upstreamUrl}
tls:
  certificates: [{ hosts: [localhost], cert: site.pem, key: site-key.pem }]
`, { certs: { site: ['localhost'] } })
}

export async function startGateway(t: { teardown(fn: () => unknown): void }, yaml: string, o: GatewayOptions = {}): Promise<TestGateway> {
  const dir = tempDir(t)
  for (const [name, spec] of Object.entries(o.certs ?? { site: ['localhost', 'a.test', '*.a.test'] })) {
    if (Array.isArray(spec)) await makeCert(dir, name, spec)
    else await makeCert(dir, name, (spec as unknown as { hosts: string[] }).hosts, { keyType: (spec as unknown as { keyType: 'ec' | 'rsa' }).keyType })
  }
  const configPath = join(dir, 'rampart.yaml')
  // Parallel test files must not fight over the admin listener's default port: pick a free one unless set.
  const doc = YAML.parseDocument(yaml)
  if (!doc.hasIn(['listen', 'admin', 'port'])) doc.setIn(['listen', 'admin', 'port'], 0)
  writeFileSync(configPath, doc.toString())
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  })
  const logger = createLogger({ level: 'debug', destination: sink })
  const runtime = await startRuntime({ configPath, logger, env: { ...process.env, ...o.env } })
  t.teardown(() => runtime.close())
  return { runtime, port: runtime.httpsPort, httpPort: runtime.httpPort, dir, configPath, ca: `${(await testCa('ec')).cert.trimEnd()}\n${(await testCa('rsa')).cert}`, logs }
}

export interface Response {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly rawHeaders?: string[]
}

export interface RequestOptions {
  readonly host?: string
  readonly servername?: string
  readonly method?: string
  readonly path?: string
  readonly headers?: Record<string, string | string[]>
  readonly body?: string | Buffer
  readonly ca?: string
}

/** One HTTPS/1.1 request on a fresh connection (no agent), verified against the test CA. */
export function h1(port: number, o: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/',
      servername: o.servername ?? o.host ?? 'localhost',
      headers: { host: o.host ?? 'localhost', ...o.headers },
      ca: o.ca, rejectUnauthorized: o.ca !== undefined, agent: false,
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), rawHeaders: res.rawHeaders }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(15_000, () => req.destroy(new Error('client timeout')))
    req.end(o.body)
  })
}

/** One HTTP/2 request on a fresh session. */
export function h2(port: number, o: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      servername: o.servername ?? o.host ?? 'localhost', ca: o.ca, rejectUnauthorized: o.ca !== undefined,
    })
    session.on('error', reject)
    const req = session.request({
      ':method': o.method ?? 'GET', ':path': o.path ?? '/', ':authority': o.host ?? 'localhost', ...o.headers,
    })
    let status = 0
    let headers: IncomingHttpHeaders = {}
    req.on('response', (h) => {
      status = Number(h[':status'])
      headers = h as IncomingHttpHeaders
    })
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      session.close()
      resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8') })
    })
    req.on('error', (e) => {
      session.destroy()
      reject(e)
    })
    req.setTimeout(15_000, () => req.close())
    req.end(o.body)
  })
}

export function accessLines(logs: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter((l) => l['type'] === 'access')
}
