/**
 * The admin listener: separate from the public ones, on 127.0.0.1:9901 by default.
 *
 *   GET  /healthz                      liveness: the process answers (open by default)
 *   GET  /readyz                       readiness: certificates loaded, ≥ 1 healthy target per site, store answers;
 *                                      503 with the failed check named otherwise (open by default)
 *   GET  /metrics                      Prometheus text format
 *   GET  /lockouts[?account=&ip=&site=]  locked accounts and addresses (with failure counts)
 *   POST /lockouts/unlock  {"account"|"ip", "site"?}   lift a lock
 *   GET  /bans                         addresses banned by the abuse signals
 *   POST /bans/lift  {"ip"}            lift a ban
 *
 * Everything but the open probes needs `Authorization: Bearer <listen.admin.token>` (compared in constant time);
 * without a configured token those endpoints answer 403. Answers are JSON (metrics: text). Never proxied.
 */
import http from 'node:http'
import { timingSafeEqual, createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { Runtime } from '../server/runtime.js'
import type { RampartConfig } from '../config/schema.js'
import type { Store } from '../store/types.js'
import { listLocks, unlock } from '../lockout/admin.js'
import { banStoreFor } from '../store/bans.js'

/**
 * What the admin endpoints read. A single process serves it from its runtime; in a cluster the primary serves it
 * by asking every worker (readiness, metrics) and keeps its own store connection for lockout administration.
 */
export interface AdminSource {
  config(): RampartConfig
  readiness(): Promise<{ ready: boolean; checks: Record<string, ReadinessCheck> }>
  metrics(): Promise<{ text: string; contentType: string }>
  store(): Store
}

export function runtimeAdminSource(runtime: Runtime): AdminSource {
  return {
    config: () => runtime.loaded().config,
    readiness: async () => readiness(runtime),
    metrics: async () => ({ text: await runtime.metrics.registry.metrics(), contentType: runtime.metrics.registry.contentType }),
    store: () => runtime.store(),
  }
}

export interface AdminServer {
  readonly port: number
  close(): Promise<void>
}

export interface ReadinessCheck {
  readonly ok: boolean
  readonly detail: unknown
}

export function readiness(runtime: Runtime): { ready: boolean; checks: Record<string, ReadinessCheck> } {
  const now = Date.now()
  const loaded = runtime.loaded()
  const certs = loaded.certificates
  const checks: Record<string, ReadinessCheck> = {}
  const valid = certs.filter((c) => c.validTo.getTime() > now)
  checks['certificates'] = { ok: certs.length > 0 && valid.length === certs.length, detail: certs.map((c) => ({ hosts: c.hosts, validTo: c.validTo.toISOString(), expired: c.validTo.getTime() <= now })) }
  const sites: Record<string, unknown> = {}
  let upstreamsOk = true
  for (const site of runtime.state.plan.sites) {
    const healthy = site.balancer.states.filter((s) => site.balancer.isAvailable(s, now)).map((s) => s.label)
    if (healthy.length === 0) upstreamsOk = false
    sites[site.name] = { healthy, down: site.balancer.states.filter((s) => !site.balancer.isAvailable(s, now)).map((s) => s.label) }
  }
  checks['upstreams'] = { ok: upstreamsOk, detail: sites }
  const store = runtime.store()
  const status = store.status()
  checks['store'] = { ok: store.kind === 'memory' || status === 'ready', detail: { kind: store.kind, status } }
  return { ready: Object.values(checks).every((c) => c.ok), checks }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export async function startAdminServer(source: AdminSource, logger: Logger): Promise<AdminServer | undefined> {
  const cfg = source.config().listen.admin
  if (!cfg.enabled) return undefined
  const server = http.createServer({ maxHeaderSize: 8192, headersTimeout: 5000, requestTimeout: 10_000 }, (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', err }, 'admin request failed')
      if (!res.headersSent) send(res, 500, { error: 'internal error' })
    })
  })
  const send = (res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void => {
    const text = type === 'application/json' ? `${JSON.stringify(body, null, 2)}\n` : String(body)
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }
  const authorized = (req: http.IncomingMessage, probe: string | undefined): boolean | 'no-token' => {
    const current = source.config().listen.admin
    if (probe && (current.openProbes as readonly string[]).includes(probe)) return true
    if (!current.token) return 'no-token'
    const header = req.headers.authorization ?? ''
    const given = header.startsWith('Bearer ') ? header.slice(7) : ''
    return timingSafeEqual(digest(given), digest(current.token))
  }
  const readBody = (req: http.IncomingMessage): Promise<string> => new Promise((resolve, reject) => {
    let size = 0
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > 16 * 1024) req.destroy(new Error('body too large'))
      else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin')
    const path = url.pathname
    const probe = path === '/healthz' ? 'healthz' : path === '/readyz' ? 'readyz' : path === '/metrics' ? 'metrics' : undefined
    const auth = authorized(req, probe)
    if (auth === 'no-token') return send(res, 403, { error: 'set listen.admin.token to use this endpoint' })
    if (!auth) {
      res.setHeader('www-authenticate', 'Bearer realm="rampart-admin"')
      return send(res, 401, { error: 'missing or wrong bearer token' })
    }
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { status: 'ok' })
    if (req.method === 'GET' && path === '/readyz') {
      const r = await source.readiness()
      return send(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', failed: Object.keys(r.checks).filter((k) => !r.checks[k]!.ok), checks: r.checks })
    }
    if (req.method === 'GET' && path === '/metrics') {
      const m = await source.metrics()
      return send(res, 200, m.text, m.contentType)
    }
    const lockout = source.config().lockout
    const keySecret = source.config().store.keySecret
    if (req.method === 'GET' && path === '/lockouts') {
      const target = { account: url.searchParams.get('account') ?? undefined, ip: url.searchParams.get('ip') ?? undefined, scope: url.searchParams.get('site') ?? undefined }
      const entries = await listLocks(source.store(), target, { keySecret, now: Date.now() })
      return send(res, 200, { lockoutConfigured: lockout !== undefined, entries })
    }
    if (req.method === 'POST' && path === '/lockouts/unlock') {
      let body: { account?: unknown; ip?: unknown; site?: unknown }
      try {
        body = JSON.parse(await readBody(req)) as typeof body
      } catch {
        return send(res, 400, { error: 'expected a JSON body like {"account": "alice"} or {"ip": "203.0.113.7"}' })
      }
      const account = typeof body.account === 'string' ? body.account : undefined
      const ip = typeof body.ip === 'string' ? body.ip : undefined
      if (!account && !ip) return send(res, 400, { error: 'give "account" or "ip"' })
      const lifted = await unlock(source.store(), { account, ip, scope: typeof body.site === 'string' ? body.site : undefined },
        { keySecret, now: Date.now(), by: 'admin-api' })
      logger.info({ type: 'audit', event: 'login.unlock', by: 'admin-api', ip, accountGiven: account !== undefined, lifted: lifted.length }, 'lock lifted through the admin API')
      return send(res, 200, { lifted })
    }
    if (req.method === 'GET' && path === '/bans') {
      const bans = banStoreFor(source.store(), source.config().store)
      return send(res, 200, { store: bans.kind, bans: await bans.list(Date.now()) })
    }
    if (req.method === 'POST' && path === '/bans/lift') {
      let body: { ip?: unknown }
      try {
        body = JSON.parse(await readBody(req)) as typeof body
      } catch {
        return send(res, 400, { error: 'expected a JSON body like {"ip": "203.0.113.7"}' })
      }
      if (typeof body.ip !== 'string') return send(res, 400, { error: 'give "ip"' })
      const lifted = await banStoreFor(source.store(), source.config().store).lift(body.ip, Date.now())
      logger.info({ type: 'audit', event: 'ban.lift', by: 'admin-api', ip: body.ip, lifted }, 'ban lifted through the admin API')
      return send(res, 200, { lifted })
    }
    send(res, 404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics', '/lockouts', 'POST /lockouts/unlock', '/bans', 'POST /bans/lift'] })
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as { port: number }).port
  if (!cfg.token) logger.warn({ admin: `${cfg.host}:${port}` }, 'listen.admin.token is not set: only the open probes answer on the admin listener')
  logger.info({ admin: `${cfg.host}:${port}`, openProbes: cfg.openProbes }, 'admin listener bound')
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
