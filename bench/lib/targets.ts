/**
 * What the benchmark measures: one entry per row, each able to start its target as child processes and stop it.
 *
 * Contract: `scenario.start(ctx)` resolves once the target answers on 127.0.0.1, with the URL to load, the Host to
 * send, and the process trees whose CPU and memory are the target's cost. It throws `TargetUnavailable` when the
 * target cannot exist on this machine (nginx or h2load not installed, Rampart not built) so the row says so instead
 * of failing the run; any other error is a real failure. `stop()` ends every process the target started.
 *
 * Rampart rows are data: `RAMPART_VARIANTS` lists a config fragment per variant, merged over the core config, so a
 * new variant (one protection on, Redis store, ...) is one more entry.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { userInfo } from 'node:os'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { stringify } from 'yaml'
import type { BenchCertificate } from './certs.js'
import type { LoadClient, PostLoad } from './load.js'
import type { Workload } from './report.js'
import { findExecutable, freePort, spawnChild, waitUntilServing, type Child } from './child.js'
import { BenchRedis } from './redis.js'

export class TargetUnavailable extends Error {}

export interface BenchContext {
  readonly tmpDir: string
  readonly cert: BenchCertificate
  /** The shared plain-HTTP upstream every proxy forwards to. */
  readonly upstream: { readonly port: number, readonly pid: number }
  /** Runs each target command under another one (the instruction count runs it under callgrind). */
  readonly wrap?: (command: string, args: readonly string[]) => { readonly command: string, readonly args: readonly string[] }
  /** How long a target may take to start serving (default 15 s; much longer under valgrind). */
  readonly startTimeoutMs?: number
}

export interface RunningTarget {
  readonly url: string
  /** Host header (and TLS server name, without the port). */
  readonly host: string
  /** Process trees counted as the target's cost. */
  readonly pids: readonly number[]
  /** Process trees measured for information only (the upstream behind a proxy). */
  readonly sidePids: readonly number[]
  /** Version or other facts worth recording with the results. */
  readonly info?: string
  stop(): Promise<void>
}

export interface Scenario {
  /** Short name for `--only`. */
  readonly id: string
  /** Row label. */
  readonly name: string
  readonly client: LoadClient
  /** `nginx` rows are the denominators of the "vs nginx" columns; the `upstream` row of "vs upstream". */
  readonly role?: 'nginx' | 'upstream'
  readonly workload?: Workload
  /** For the login workload: the POST every request sends. */
  readonly post?: PostLoad
  /** Whether the target is a proxy that should add the security headers and drop `X-Powered-By`. */
  readonly proxy: boolean
  readonly description: string
  start(ctx: BenchContext): Promise<RunningTarget>
}

const here = (relative: string): string => fileURLToPath(new URL(relative, import.meta.url))

/** Compiled scripts next to this file (dist/bench/lib/), the repository root, and the Rampart CLI. */
const UPSTREAM_SCRIPT = here('./upstream.js')
const NAIVE_PROXY_SCRIPT = here('./naive-proxy.js')
const NODE_PROXY_SCRIPT = here('./node-proxy.js')
const REPO_ROOT = here('../../../')
const RAMPART_CLI = join(REPO_ROOT, 'dist', 'src', 'bin.js')
const NGINX_TEMPLATE = join(REPO_ROOT, 'bench', 'nginx', 'nginx.conf.template')

/** A tool's version line; nginx prints it on stderr. */
function version(command: string, args: readonly string[]): string {
  const res = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 })
  return `${res.stdout ?? ''}${res.stderr ?? ''}`.trim() || 'unknown version'
}

function nodeChild(ctx: BenchContext, name: string, script: string, args: readonly string[]): Child {
  const cmd = wrapped(ctx, process.execPath, [script, ...args])
  return spawnChild(name, cmd.command, cmd.args, {
    logFile: join(ctx.tmpDir, `${name}.log`),
    env: { ...process.env, NODE_ENV: 'production' },
    cwd: REPO_ROOT,
  })
}

function wrapped(ctx: BenchContext, command: string, args: readonly string[]): { command: string, args: readonly string[] } {
  return ctx.wrap === undefined ? { command, args } : ctx.wrap(command, args)
}

/** Waits for a child to serve, or stops it and rethrows. */
async function ready(child: Child, url: string, host: string, timeoutMs?: number): Promise<void> {
  try {
    await waitUntilServing(child, url, host, timeoutMs)
  } catch (err) {
    await child.stop(1000)
    throw err
  }
}

/** Starts the shared plain-HTTP upstream. The run owns it; it is stopped at the end of the run. */
export async function startSharedUpstream(tmpDir: string): Promise<{ port: number, child: Child }> {
  const port = await freePort()
  const child = spawnChild('upstream', process.execPath, [UPSTREAM_SCRIPT, '--port', String(port)], {
    logFile: join(tmpDir, 'upstream.log'),
    env: { ...process.env, NODE_ENV: 'production' },
  })
  await ready(child, `http://127.0.0.1:${port}/`, `localhost:${port}`)
  return { port, child }
}

const upstreamDirect: Scenario = {
  id: 'upstream',
  name: 'upstream direct (http)',
  client: 'autocannon',
  role: 'upstream',
  proxy: false,
  description: 'The bench upstream over plain HTTP keep-alive, no TLS, no proxy: the ceiling for every other row.',
  async start(ctx) {
    const { port, pid } = ctx.upstream
    return {
      url: `http://127.0.0.1:${port}/`,
      host: `localhost:${port}`,
      pids: [pid],
      sidePids: [],
      stop: async () => {}, // shared; stopped by the run
    }
  },
}

const nodeHttps: Scenario = {
  id: 'node-https',
  name: 'node:https serving the page itself',
  client: 'autocannon',
  proxy: false,
  description: 'The same page served by node:https directly: the cost of TLS in Node with nothing in between.',
  async start(ctx) {
    const port = await freePort()
    const child = nodeChild(ctx, 'node-https', UPSTREAM_SCRIPT, [
      '--port', String(port), '--cert', ctx.cert.certPath, '--key', ctx.cert.keyPath,
    ])
    const url = `https://127.0.0.1:${port}/`
    const host = `localhost:${port}`
    await ready(child, url, host, ctx.startTimeoutMs)
    return { url, host, pids: [child.pid], sidePids: [], info: `node ${process.version}`, stop: () => child.stop() }
  },
}

/** A proxy written as a single Node script (`script` takes --port, --upstream, --cert and --key). */
function nodeProxyScenario(id: string, name: string, script: string, description: string): Scenario {
  return {
    id,
    name,
    client: 'autocannon',
    proxy: true,
    description,
    async start(ctx) {
      const port = await freePort()
      const child = nodeChild(ctx, id, script, [
        '--port', String(port),
        '--upstream', `http://127.0.0.1:${ctx.upstream.port}`,
        '--cert', ctx.cert.certPath,
        '--key', ctx.cert.keyPath,
      ])
      const url = `https://127.0.0.1:${port}/`
      const host = `localhost:${port}`
      await ready(child, url, host, ctx.startTimeoutMs)
      return { url, host, pids: [child.pid], sidePids: [ctx.upstream.pid], stop: () => child.stop() }
    },
  }
}

const naiveProxy = nodeProxyScenario('naive', 'naive proxy (fastify + http-proxy + helmet)', NAIVE_PROXY_SCRIPT,
  'Fastify 5 over HTTPS with @fastify/helmet defaults and @fastify/http-proxy to the upstream.')

const nodeProxy = nodeProxyScenario('node-proxy', 'bare node:https + undici Pool proxy', NODE_PROXY_SCRIPT,
  'node:https in front of an undici Pool, no framework: fixed security headers, leak headers dropped, nothing else.')

/** Fills `{{NAME}}` placeholders; throws if the template names one that is not given. */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_match, key: string) => {
    const value = values[key]
    if (value === undefined) throw new Error(`template placeholder {{${key}}} has no value`)
    return value
  })
}

/**
 * The login form every login-workload row POSTs, urlencoded like a legacy form. Each request names a fresh account
 * (autocannon replaces `[<id>]`): fifty connections logging in to one account at once is a parallel guessing attack,
 * which the lockout rightly refuses after a handful of attempts in flight.
 */
export const LOGIN_POST: PostLoad = {
  path: '/login',
  body: 'username=member-[<id>]%40example.com&password=not-the-password',
  contentType: 'application/x-www-form-urlencoded',
}

function nginxScenario(id: string, name: string, client: LoadClient, workload: Workload = 'page'): Scenario {
  return {
    id,
    name,
    client,
    role: 'nginx',
    ...(workload === 'login' ? { workload, post: LOGIN_POST } : {}),
    proxy: true,
    description: 'nginx from the distribution with bench/nginx/nginx.conf.template: the same job as Rampart core.',
    async start(ctx) {
      const nginx = findExecutable('nginx', ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'])
      if (nginx === undefined) throw new TargetUnavailable('nginx not installed: apt-get install nginx')
      const prefix = join(ctx.tmpDir, `nginx-${id}`)
      await mkdir(prefix, { recursive: true })
      const port = await freePort()
      const user = userInfo()
      const conf = fillTemplate(await readFile(NGINX_TEMPLATE, 'utf8'), {
        // A root master would switch its workers to "nobody", who cannot enter the private temp directory.
        USER_DIRECTIVE: user.uid === 0 ? `user ${user.username};` : '# runs as the current user',
        PREFIX: prefix,
        PORT: String(port),
        UPSTREAM_PORT: String(ctx.upstream.port),
        CERT: ctx.cert.certPath,
        KEY: ctx.cert.keyPath,
      })
      const confPath = join(prefix, 'nginx.conf')
      await writeFile(confPath, conf)
      const cmd = wrapped(ctx, nginx, ['-p', `${prefix}/`, '-c', confPath, '-e', join(prefix, 'error.log')])
      const child = spawnChild(id, cmd.command, cmd.args, {
        logFile: join(ctx.tmpDir, `${id}.log`),
      })
      const url = `https://127.0.0.1:${port}/`
      const host = `localhost:${port}`
      try {
        await ready(child, url, host, ctx.startTimeoutMs)
      } catch (err) {
        const log = await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '')
        throw new Error(`${(err as Error).message}\n${log.slice(-1500)}`)
      }
      return {
        url, host, pids: [child.pid], sidePids: [ctx.upstream.pid], info: version(nginx, ['-v']),
        stop: () => child.stop(),
      }
    },
  }
}

export interface RampartVariant {
  readonly id: string
  readonly name: string
  readonly description: string
  /** Start a private redis-server for this variant and pass its URL to `fragment`. */
  readonly redis?: boolean
  /** `login`: the load POSTs `LOGIN_POST` instead of getting the page. */
  readonly workload?: Workload
  /** Config merged over the core config (objects merge, arrays and scalars replace). */
  fragment(env: { readonly redisUrl?: string }): Record<string, unknown>
}

/** Every response-hardening header turned off, no leak headers removed, cookies passed through. */
const HARDENING_OFF = {
  headers: {
    hsts: false, contentSecurityPolicy: false, xContentTypeOptions: false, xFrameOptions: false, referrerPolicy: false,
    permissionsPolicy: false, crossOriginOpenerPolicy: false, crossOriginResourcePolicy: false, xXssProtection: false,
    remove: [],
  },
  cookies: { enabled: false },
}

/** Threat detection and the abuse signals off (both are on by default), and no access log. */
const QUIET = {
  log: { accessLog: false },
  threats: { mode: 'off' },
  abuse: { notFound: { enabled: false }, authFailures: { enabled: false }, distinctUsernames: { enabled: false }, detections: { enabled: false } },
}

/** Every protection off: TLS termination and proxying only. */
const ALL_OFF = { ...HARDENING_OFF, ...QUIET }

/** One per-IP limit that is never reached, so a row prices a decision (and the RateLimit fields) on every request. */
const perIpLimit = (extra: Record<string, unknown> = {}): Array<Record<string, unknown>> =>
  [{ name: 'per-ip', key: 'ip', limit: 1_000_000_000, per: '1m', ...extra }]

/**
 * Every protection a production site enables. The header policy and cookie rewriting are on by default; so are the
 * abuse signals. Threats in detect mode, so the load is never refused.
 */
const allOn = (redisUrl: string | undefined): Record<string, unknown> => ({
  log: { accessLog: true, level: 'info' },
  store: { redis: redisUrl },
  rateLimits: perIpLimit({ localBatch: 100 }),
  threats: { mode: 'detect' },
  access: [{ pathPrefix: '/admin', allow: ['127.0.0.0/8'] }],
})

export const RAMPART_VARIANTS: readonly RampartVariant[] = [
  {
    id: 'rampart-off',
    name: 'rampart (all off)',
    description: 'Rampart with every protection off: TLS termination, routing by host, keep-alive proxying.',
    fragment: () => ALL_OFF,
  },
  {
    id: 'rampart-off-workers',
    name: 'rampart (all off, workers: auto)',
    description: 'Rampart all off with one worker per CPU under node:cluster (CPU of the primary and every worker counted).',
    fragment: () => ({ ...ALL_OFF, workers: 'auto' }),
  },
  {
    id: 'rampart-threats',
    name: 'rampart (threats)',
    description: 'Rampart all off plus threat detection in detect mode (path, query, cookies, User-Agent, Referer of every request inspected; nothing refused).',
    fragment: () => ({ ...ALL_OFF, threats: { mode: 'detect' } }),
  },
  {
    id: 'rampart-hardening',
    name: 'rampart (headers + cookies)',
    description: 'Rampart with the default header policy (HSTS, CSP, nosniff, frame options…; Server and X-Powered-By removed) and Set-Cookie rewriting, nothing else.',
    fragment: () => QUIET,
  },
  {
    // Exactly rampart-off plus one per-IP limit that is never reached, so the row prices a decision on every
    // request (and the RateLimit fields on every answer), not refusals. Compare with the Redis row below.
    id: 'rampart-ratelimit-memory',
    name: 'rampart (per-IP limit, memory store)',
    description: 'Rampart all off plus one per-IP rate limit counted in the in-process memory store, RateLimit fields on every answer.',
    fragment: () => ({ ...ALL_OFF, rateLimits: perIpLimit() }),
  },
  {
    id: 'rampart-ratelimit-redis',
    name: 'rampart (per-IP limit, Redis store)',
    description: 'Rampart all off plus the same per-IP rate limit counted in a private redis-server on loopback (one Lua script per request; its CPU is counted).',
    redis: true,
    fragment: ({ redisUrl }) => ({
      ...ALL_OFF,
      store: { redis: redisUrl },
      rateLimits: perIpLimit(),
    }),
  },
  {
    id: 'rampart-ratelimit-redis-batch',
    name: 'rampart (per-IP limit, Redis store, localBatch 100)',
    description: 'As the Redis row, with `localBatch: 100`: one Lua script reserves 100 requests\' worth, the next 99 pass locally (within a 1 s lease).',
    redis: true,
    fragment: ({ redisUrl }) => ({
      ...ALL_OFF,
      store: { redis: redisUrl },
      rateLimits: perIpLimit({ localBatch: 100 }),
    }),
  },
  {
    id: 'rampart-on',
    name: 'rampart (all on)',
    description: 'Rampart with every protection a production site would enable.',
    // The configuration a production site runs, so the row prices the whole gateway: the response header policy
    // (HSTS, CSP, nosniff, frame options, referrer policy; Server and X-Powered-By removed), Set-Cookie rewriting,
    // a per-IP rate limit counted in a private Redis with a local allowance of 100 (its CPU counted with Rampart's), threat detection in detect
    // mode, the abuse signals, the access log, and one access rule (a CIDR allow-list on /admin).
    redis: true,
    fragment: ({ redisUrl }) => allOn(redisUrl),
  },
  {
    // nginx runs `worker_processes auto`: this is Rampart in the same shape, for the req/s comparison.
    id: 'rampart-on-workers',
    name: 'rampart (all on, workers: auto)',
    description: 'Rampart all on with one worker per CPU under node:cluster, as nginx runs one per CPU (CPU of the primary, every worker and Redis counted).',
    redis: true,
    fragment: ({ redisUrl }) => ({ ...allOn(redisUrl), workers: 'auto' }),
  },
  {
    id: 'rampart-login',
    name: 'rampart (all on), login POSTs',
    description: 'Rampart all on plus login lockout on POST /login: each request buffers the form, reads the account state from Redis, and the outcome (read from status and body marker) is written back.',
    redis: true,
    workload: 'login',
    fragment: ({ redisUrl }) => ({
      ...allOn(redisUrl),
      // The bench page is a 200 without the marker: every login is a success, so each one also resets the
      // account's counter and issues a device cookie, the most work a login can cost.
      lockout: {
        logins: [{ method: 'POST', path: '/login', username: 'body.username' }],
        failure: { status: [401, 403], bodyContains: 'Invalid credentials' },
        // All the load comes from one address: the per-address lock would (rightly) stop it after 20 attempts.
        perIp: { maxFailures: 0 },
        deviceCookie: { secret: randomBytes(32).toString('hex') },
      },
    }),
  },
]

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Deep merge for config fragments: objects merge key by key; arrays and scalars in `over` replace. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const current = out[key]
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value
  }
  return out
}

/** The core Rampart config every variant starts from. */
export function rampartCoreConfig(port: number, upstreamPort: number, cert: BenchCertificate): Record<string, unknown> {
  return {
    listen: {
      https: { host: '127.0.0.1', port, http2: true },
      http: { enabled: false },
      admin: { enabled: false },
    },
    tls: {
      certificates: [{ hosts: ['localhost'], cert: cert.certPath, key: cert.keyPath }],
    },
    sites: [{ hosts: ['localhost'], upstream: `http://127.0.0.1:${upstreamPort}` }],
    log: { level: 'warn', accessLog: false },
  }
}

async function startRedis(ctx: BenchContext, id: string): Promise<BenchRedis> {
  const redis = await BenchRedis.create(ctx.tmpDir, `${id}-redis`)
  if (redis === undefined) throw new TargetUnavailable('redis-server not installed: apt-get install redis-server')
  await redis.start()
  return redis
}

function rampartScenario(variant: RampartVariant, client: LoadClient): Scenario {
  const h2 = client === 'h2load'
  return {
    id: h2 ? `${variant.id}-h2` : variant.id,
    name: h2 ? `${variant.name}, HTTP/2 (h2load)` : variant.name,
    client,
    ...(variant.workload === 'login' ? { workload: 'login' as const, post: LOGIN_POST } : {}),
    proxy: true,
    description: variant.description,
    async start(ctx) {
      if (!existsSync(RAMPART_CLI)) {
        throw new TargetUnavailable('not built: dist/src/bin.js is missing (npm run build)')
      }
      const id = h2 ? `${variant.id}-h2` : variant.id
      const redis = variant.redis === true ? await startRedis(ctx, id) : undefined
      try {
        const port = await freePort()
        const config = mergeConfig(
          rampartCoreConfig(port, ctx.upstream.port, ctx.cert),
          variant.fragment(redis === undefined ? {} : { redisUrl: redis.url }),
        )
        const configPath = join(ctx.tmpDir, `${id}.yaml`)
        await writeFile(configPath, stringify(config))
        const child = nodeChild(ctx, id, RAMPART_CLI, ['start', '--config', configPath])
        const url = `https://127.0.0.1:${port}/`
        const host = `localhost:${port}`
        await ready(child, url, host, ctx.startTimeoutMs)
        return {
          url,
          host,
          pids: redis?.pid === undefined ? [child.pid] : [child.pid, redis.pid],
          sidePids: [ctx.upstream.pid],
          stop: async () => {
            await child.stop()
            await redis?.stop()
          },
        }
      } catch (err) {
        await redis?.stop()
        throw err
      }
    },
  }
}

/** Every row, in the order they run and print. */
export const SCENARIOS: readonly Scenario[] = [
  upstreamDirect,
  nodeHttps,
  nodeProxy,
  naiveProxy,
  nginxScenario('nginx', 'nginx', 'autocannon'),
  ...RAMPART_VARIANTS.map((v) => rampartScenario(v, 'autocannon')),
  nginxScenario('nginx-login', 'nginx, login POSTs', 'autocannon', 'login'),
  nginxScenario('nginx-h2', 'nginx, HTTP/2 (h2load)', 'h2load'),
  ...RAMPART_VARIANTS.filter((v) => v.workload !== 'login').map((v) => rampartScenario(v, 'h2load')),
]
