/**
 * A running Rampart: listeners, reload and shutdown.
 *
 * - start: load and check the config (every problem at once), build certificates and the plan, listen.
 * - reload (SIGHUP): re-read the config and certificates; if anything is wrong, keep running on the old ones and
 *   log every problem. Otherwise swap the plan and certificates in place: open connections continue, new
 *   requests and handshakes use the new ones. Listener addresses are fixed at start (changing them needs a restart;
 *   a reload says so).
 * - certificate files are watched (certbot renews by replacing files); a change triggers a certificate reload.
 * - shutdown (SIGTERM/SIGINT): stop accepting, let in-flight requests finish within the grace period, then close
 *   what is left and exit 0.
 */
import { watch, type FSWatcher } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import type { Http2Session } from 'node:http2'
import type { Socket } from 'node:net'
import { basename, dirname } from 'node:path'
import type { Logger } from 'pino'
import { loadConfigFile, type LoadedConfig } from '../config/load.js'
import { formatProblem, type ConfigProblem } from '../config/validate.js'
import { buildCertificateSet, newTicketKeys, readCertificates, type CertificateSet, type CertificateMaterial } from '../tls/certs.js'
import { buildGateway, type Gateway, type GatewayState } from './gateway.js'
import { compilePlan, type Plan } from './plan.js'
import { buildProtections, type BuiltProtections } from './protections.js'
import { applyDefaultContext, CONNECTION_REFUSED, type CertificateHolder, type ConnectionRefusal } from './tls-server.js'
import { createRedirectServer } from './redirect-server.js'
import { handleUpgrade } from '../proxy/websocket.js'
import { upgradeGate } from '../protections/access.js'
import { RampartError, ERRORS } from '../errors.js'
import { createStore } from '../store/create.js'
import { createMetrics, tlsFailureReason, type Metrics } from '../metrics/registry.js'
import { startHealthChecks, type HealthChecker } from '../upstream/health-checker.js'
import { startAdminServer, runtimeAdminSource, type AdminServer } from '../admin/server.js'
import type { Store, StoreEvent } from '../store/types.js'
import type { StoreConfig } from '../config/sections/store.js'

export interface RuntimeOptions {
  readonly configPath: string
  readonly logger: Logger
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Install SIGHUP/SIGTERM/SIGINT handlers (the CLI does; tests drive reload and close directly). */
  readonly handleSignals?: boolean
  /** Shared TLS ticket keys (a cluster passes the same keys to every worker). */
  readonly ticketKeys?: Buffer
  /** Metrics registry (a cluster worker passes its own; tests may pass one to read). */
  readonly metrics?: Metrics
  /** Run the admin listener here (false in cluster workers: the primary serves it for all of them). */
  readonly admin?: boolean
}

export interface Runtime {
  readonly httpsPort: number
  readonly httpPort: number | undefined
  readonly adminPort: number | undefined
  readonly gateway: Gateway
  readonly state: GatewayState
  readonly loaded: () => LoadedConfig
  /** The current store (for admin use: listing and lifting lockouts). */
  readonly store: () => Store
  readonly metrics: Metrics
  /** Re-reads config and certificates. Resolves to the problems found; on problems the old config stays. */
  reload(): Promise<{ ok: boolean; problems: readonly ConfigProblem[] }>
  /** Runs one round of active health checks now (they also run on their own interval). */
  checkHealth(): Promise<void>
  /** Re-reads certificates only (what a file change triggers). */
  reloadCertificates(): Promise<{ ok: boolean; problems: readonly string[] }>
  close(): Promise<void>
}

export class ConfigError extends RampartError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super('RAMPART_ERR_CONFIG_INVALID', problems.filter((p) => p.severity === 'error').map(formatProblem).join('\n'))
  }
}

export function logProblems(logger: Logger, problems: readonly ConfigProblem[]): void {
  for (const p of problems) {
    logger[p.severity === 'error' ? 'error' : 'warn']({ code: p.code, file: p.file, line: p.line, path: p.path }, formatProblem(p))
  }
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options
  const first = await loadConfigFile(options.configPath, { env: options.env ?? process.env })
  if (!first.ok) throw new ConfigError(first.problems)
  let loaded = first.loaded
  logProblems(logger, loaded.warnings)

  const ticketKeys = options.ticketKeys ?? newTicketKeys()
  const holder: CertificateHolder = {
    current: buildCertificateSet(loaded.certificates, loaded.config.tls, ticketKeys),
    ticketKeys,
  }
  // The store outlives reloads; a reload that changes `store` opens a new one and closes the old after the swap.
  let lastStoreLog = 0
  let metrics: Metrics | undefined
  const onStoreEvent = (e: StoreEvent): void => {
    metrics?.setStoreUp('redis', e.type === 'ready')
    if (e.type === 'ready') return void logger.info({ store: 'redis' }, 'store connected')
    const now = Date.now()
    if (now - lastStoreLog < 10_000) return
    lastStoreLog = now
    logger.warn({ code: 'RAMPART_ERR_STORE_CONNECTION', event: e.type, detail: e.message, retryInMs: e.delayMs }, ERRORS.RAMPART_ERR_STORE_CONNECTION.message)
  }
  const openStore = (c: StoreConfig): Store => createStore(c, { onEvent: onStoreEvent })
  let store = openStore(loaded.config.store)
  let storeKey = JSON.stringify(loaded.config.store)
  logger.info({ store: store.kind, onStoreError: loaded.config.store.onStoreError }, 'store')

  metrics = options.metrics ?? createMetrics()
  metrics.setCertificateExpiry(loaded.certificates)
  const storeUp = (): void => metrics.setStoreUp(store.kind, store.kind === 'memory' || store.status() === 'ready')

  let built: BuiltProtections = buildProtections(loaded.config, { logger, store, metrics })
  const withProtections = (plan: Plan, b: BuiltProtections): Plan => ({ ...plan, protections: b.set })
  const logProtections = (b: BuiltProtections): void => {
    for (const w of b.warnings) logger.warn({ code: 'RAMPART_ERR_HEADERS_INEFFECTIVE' }, w)
    logger.info({ protections: Object.fromEntries(b.set.all.map((p) => [p.name, p.describe?.() ?? {}])) }, 'protections')
  }
  logProtections(built)
  const state: GatewayState = { plan: withProtections(compilePlan(loaded.config).plan, built) }
  const gateway = buildGateway({ state, certs: holder, logger, metrics })
  const { app, server } = gateway
  const config = loaded.config

  // Connection tracking for a graceful shutdown: idle HTTP/1.1 sockets and HTTP/2 sessions are closed politely.
  const sessions = new Set<Http2Session>()
  server.on('session', (s: Http2Session) => {
    sessions.add(s)
    s.once('close', () => sessions.delete(s))
  })
  server.on('tlsClientError', (err: Error & { code?: string }, socket: Socket) => {
    metrics!.tlsHandshakeFailure(tlsFailureReason(err), (socket as Socket & { getProtocol?: () => string | null }).getProtocol?.() ?? 'unknown')
    logger.debug({ code: 'RAMPART_ERR_TLS_HANDSHAKE', reason: err.code ?? err.message, remoteIp: socket.remoteAddress },
      ERRORS.RAMPART_ERR_TLS_HANDSHAKE.message)
  })
  watchRefusals(server, 'https', logger, metrics!)
  // Upgrades bypass Fastify's hooks, so access rules and bans are asked here too (the current plan's, per upgrade).
  const gate = upgradeGate(state)
  server.on('upgrade', (req, socket, head) => handleUpgrade(req, socket, head, state, logger, gate))

  await app.ready()
  try {
    await app.listen({ host: config.listen.https.host, port: config.listen.https.port, listenTextResolver: (address) => `HTTPS listener bound: ${address.replace(/^http:/, 'https:')}` })
  } catch (e) {
    await app.close().catch(() => {})
    throw new RampartError('RAMPART_ERR_LIFECYCLE_LISTEN', `${config.listen.https.host}:${config.listen.https.port}: ${(e as Error).message}`)
  }
  const httpsPort = (server.address() as { port: number }).port

  let redirect: HttpServer | undefined
  let httpPort: number | undefined
  if (config.listen.http.enabled) {
    redirect = createRedirectServer({ state, logger, baseDir: loaded.baseDir, ownHeaders: () => built.headerPolicy.fallback(false).own })
    watchRefusals(redirect, 'http', logger, metrics!)
    try {
      await new Promise<void>((resolve, reject) => {
        redirect!.once('error', reject)
        redirect!.listen(config.listen.http.port, config.listen.http.host, () => {
          redirect!.off('error', reject)
          resolve()
        })
      })
    } catch (e) {
      await app.close().catch(() => {})
      throw new RampartError('RAMPART_ERR_LIFECYCLE_LISTEN', `${config.listen.http.host}:${config.listen.http.port}: ${(e as Error).message}`)
    }
    httpPort = (redirect.address() as { port: number }).port
  }

  let health: HealthChecker = startHealthChecks(state.plan, logger, metrics)
  void health.checkNow()

  const swapCertificates = (set: CertificateSet): void => {
    holder.current = set
    applyDefaultContext(server, loaded.config, holder)
  }

  let certReloading: Promise<{ ok: boolean; problems: readonly string[] }> | undefined
  const reloadCertificates = (): Promise<{ ok: boolean; problems: readonly string[] }> => {
    certReloading ??= (async () => {
      try {
        const read = await readCertificates(loaded.config.tls.certificates, loaded.baseDir, { expiryWarningMs: loaded.config.tls.expiryWarning })
        const errors = read.problems.filter((p) => p.severity === 'error').map((p) => p.message)
        if (errors.length > 0) {
          for (const m of errors) logger.error({ code: 'RAMPART_ERR_TLS_RELOAD' }, `${ERRORS.RAMPART_ERR_TLS_RELOAD.message}: ${m}`)
          return { ok: false, problems: errors }
        }
        if (sameMaterial(read.material, loaded.certificates)) return { ok: true, problems: [] }
        for (const p of read.problems) logger.warn({ code: p.code }, p.message)
        swapCertificates(buildCertificateSet(read.material, loaded.config.tls, ticketKeys))
        metrics!.setCertificateExpiry(read.material)
        loaded = { ...loaded, certificates: read.material }
        logger.info({ certificates: read.material.map((m) => ({ hosts: m.hosts, validTo: m.validTo.toISOString() })) }, 'certificates reloaded')
        return { ok: true, problems: [] }
      } catch (e) {
        logger.error({ code: 'RAMPART_ERR_TLS_RELOAD', err: e }, ERRORS.RAMPART_ERR_TLS_RELOAD.message)
        return { ok: false, problems: [(e as Error).message] }
      } finally {
        certReloading = undefined
      }
    })()
    return certReloading
  }

  const reload = async (): Promise<{ ok: boolean; problems: readonly ConfigProblem[] }> => {
    const next = await loadConfigFile(options.configPath, { env: options.env ?? process.env })
    if (!next.ok) {
      logger.error({ code: 'RAMPART_ERR_CONFIG_INVALID' }, 'reload refused: the new configuration has errors; the running configuration stays')
      logProblems(logger, next.problems)
      return { ok: false, problems: next.problems }
    }
    logProblems(logger, next.loaded.warnings)
    const previous = state.plan
    let nextBuilt: BuiltProtections
    const nextStoreKey = JSON.stringify(next.loaded.config.store)
    const nextStore = nextStoreKey === storeKey ? store : openStore(next.loaded.config.store)
    try {
      nextBuilt = buildProtections(next.loaded.config, { logger, store: nextStore, metrics })
    } catch (e) {
      if (nextStore !== store) void nextStore.close().catch(() => {})
      logger.error({ code: 'RAMPART_ERR_CONFIG_INVALID', err: { message: (e as Error).message } }, 'reload refused: the new configuration cannot be compiled; the running configuration stays')
      return { ok: false, problems: [] }
    }
    if (nextStore !== store) {
      const old = store
      store = nextStore
      storeKey = nextStoreKey
      logger.info({ store: store.kind }, 'store replaced')
      setTimeout(() => void old.close().catch(() => {}), 5_000).unref()
    }
    const { plan: compiled, retired } = compilePlan(next.loaded.config, previous)
    const plan = withProtections(compiled, nextBuilt)
    const oldBuilt = built
    built = nextBuilt
    health.stop()
    logProtections(nextBuilt)
    for (const p of oldBuilt.set.all) if (p.close && !nextBuilt.set.all.includes(p)) void p.close().catch(() => {})
    const certSet = buildCertificateSet(next.loaded.certificates, next.loaded.config.tls, ticketKeys)
    const listenBefore = JSON.stringify([loaded.config.listen, loaded.config.limits])
    loaded = next.loaded
    state.plan = plan
    health = startHealthChecks(plan, logger, metrics)
    void health.checkNow()
    swapCertificates(certSet)
    metrics!.setCertificateExpiry(next.loaded.certificates)
    rewatch()
    if (JSON.stringify([next.loaded.config.listen, next.loaded.config.limits]) !== listenBefore) {
      logger.warn('listener or limits settings changed: they take effect after a restart')
    }
    // Pools of upstreams no longer configured are closed once their in-flight requests are done.
    for (const t of retired) void t.pool.close().catch(() => {})
    logger.info({ sites: plan.sites.map((s) => s.name) }, 'configuration reloaded')
    return { ok: true, problems: next.loaded.warnings }
  }

  // Watch certificate files (and their folders: renewals often replace files by rename).
  let watchers: FSWatcher[] = []
  let debounce: NodeJS.Timeout | undefined
  const rewatch = (): void => {
    for (const w of watchers) w.close()
    watchers = []
    if (!loaded.config.tls.watch) return
    // Folders are watched (certbot swaps symlinks and renames files, which a file watch would lose), but only events
    // naming one of our files count: a log or anything else written next to a certificate must not reload it.
    const files = new Map<string, Set<string>>()
    for (const m of loaded.certificates) {
      for (const path of [m.certPath, m.keyPath]) {
        const names = files.get(dirname(path)) ?? new Set<string>()
        names.add(basename(path))
        files.set(dirname(path), names)
      }
    }
    for (const [dir, names] of files) {
      try {
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename !== null && !names.has(filename.toString())) return
          clearTimeout(debounce)
          debounce = setTimeout(() => void reloadCertificates(), 500)
          debounce.unref()
        })
        w.on('error', () => {})
        watchers.push(w)
      } catch (e) {
        logger.warn({ dir, err: (e as Error).message }, 'cannot watch certificate folder; SIGHUP still reloads')
      }
    }
  }
  rewatch()

  // Expiry warnings at start (logged by load) and twice a day after.
  const expiryTimer = setInterval(() => {
    const now = Date.now()
    for (const m of holder.current.material) {
      const left = m.validTo.getTime() - now
      if (left <= 0) logger.error({ code: 'RAMPART_ERR_TLS_EXPIRED', hosts: m.hosts }, `certificate ${m.certPath} has expired`)
      else if (left <= loaded.config.tls.expiryWarning) {
        logger.warn({ code: 'RAMPART_ERR_TLS_EXPIRING', hosts: m.hosts, validTo: m.validTo.toISOString() },
          `certificate ${m.certPath} expires in ${Math.ceil(left / 86_400_000)} days`)
      }
    }
  }, 12 * 3_600_000)
  expiryTimer.unref()

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const grace = loaded.config.shutdown.grace
      clearInterval(expiryTimer)
      clearTimeout(debounce)
      health.stop()
      await admin?.close()
      for (const w of watchers) w.close()
      logger.info({ graceMs: grace }, 'shutting down: no new connections, waiting for in-flight requests')
      const redirectClosed = redirect ? new Promise<void>((r) => redirect!.close(() => r())) : Promise.resolve()
      redirect?.closeIdleConnections()
      for (const s of sessions) s.close()
      const timer = setTimeout(() => {
        logger.warn({ code: 'RAMPART_ERR_LIFECYCLE_SHUTDOWN_TIMEOUT' }, ERRORS.RAMPART_ERR_LIFECYCLE_SHUTDOWN_TIMEOUT.message)
        for (const s of sessions) s.destroy()
        const h1 = server as unknown as { closeAllConnections?: () => void }
        h1.closeAllConnections?.()
        redirect?.closeAllConnections()
      }, grace)
      timer.unref()
      const idle = setInterval(() => {
        (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.()
      }, 100)
      idle.unref()
      await Promise.all([app.close(), redirectClosed])
      clearTimeout(timer)
      clearInterval(idle)
      await Promise.all([...new Set(state.plan.sites.flatMap((s) => s.targets))].map((t) => t.pool.close().catch(() => {})))
      await Promise.all(built.set.all.map((p) => p.close?.().catch(() => {})))
      await store.close().catch(() => {})
      logger.info('stopped')
    })()
    return closing
  }

  if (options.handleSignals) {
    process.on('SIGHUP', () => void reload())
    const stop = (signal: string) => {
      logger.info({ signal }, 'signal received')
      void close().then(() => {
        logger.flush()
        process.exit(0)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  }

  logger.info({
    https: `${config.listen.https.host}:${httpsPort}`, http: httpPort === undefined ? undefined : `${config.listen.http.host}:${httpPort}`,
    http2: config.listen.https.http2, sites: state.plan.sites.map((s) => ({ name: s.name, hosts: s.hosts, upstreams: s.targets.map((t) => t.origin) })),
  }, 'rampart listening')

  let admin: AdminServer | undefined
  const runtime: Runtime = {
    httpsPort, httpPort, gateway, state,
    get adminPort() { return admin?.port },
    loaded: () => loaded,
    store: () => store,
    metrics: metrics!,
    reload, reloadCertificates, close,
    checkHealth: () => health.checkNow(),
  }
  try {
    if (options.admin !== false) admin = await startAdminServer(runtimeAdminSource(runtime), logger)
  } catch (e) {
    await close()
    const a = config.listen.admin
    throw new RampartError('RAMPART_ERR_LIFECYCLE_LISTEN', `admin ${a.host}:${a.port}: ${(e as Error).message}`)
  }
  return runtime
}

/** Whether a fresh read found exactly the certificates and keys already served (a touch, or an unrelated event). */
function sameMaterial(a: readonly CertificateMaterial[], b: readonly CertificateMaterial[]): boolean {
  return a.length === b.length && a.every((m, i) => m.cert === b[i]!.cert && m.key === b[i]!.key)
}

/** How often a listener may log that its connection caps refused clients (each refusal is counted in metrics). */
const REFUSAL_LOG_EVERY_MS = 10_000

/** Counts connections refused by the caps, and warns at most every 10 s per listener with how many and the last address. */
function watchRefusals(server: NodeJS.EventEmitter, listener: string, logger: Logger, metrics: Metrics): void {
  let lastLog = 0
  let unlogged = 0
  server.on(CONNECTION_REFUSED, (r: ConnectionRefusal) => {
    metrics.connectionRefused(listener, r.cap)
    unlogged++
    const now = Date.now()
    if (now - lastLog < REFUSAL_LOG_EVERY_MS) return
    logger.warn({ code: 'RAMPART_ERR_HTTP_TOO_MANY_CONNECTIONS', listener, cap: r.cap, ip: r.ip, refused: unlogged },
      ERRORS.RAMPART_ERR_HTTP_TOO_MANY_CONNECTIONS.message)
    lastLog = now
    unlogged = 0
  })
}
