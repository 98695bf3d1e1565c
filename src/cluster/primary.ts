/**
 * The cluster primary: it validates the configuration, forks the workers, and supervises them. It serves no
 * traffic itself, except the admin listener, which it answers for all workers.
 *
 * - Crashed workers are restarted with exponential backoff (1 s doubling to 30 s; reset after a minute of uptime).
 * - SIGHUP: the primary validates the new configuration first. Invalid: every problem is logged and the workers
 *   keep the old one. Valid: each worker swaps it in place (open connections continue), so a reload fails no
 *   request. A changed worker count is applied by starting or stopping workers.
 * - SIGTERM/SIGINT: every worker drains within `shutdown.grace`; the primary exits 0 when all have exited (or kills
 *   what is left a few seconds after the grace period).
 * - TLS session ticket keys are made once here and shared, so sessions resume whichever worker a client reaches.
 */
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import client from 'prom-client'
import type { Logger } from 'pino'
import { loadConfigFile } from '../config/load.js'
import { logProblems, ConfigError } from '../server/runtime.js'
import type { RampartConfig } from '../config/schema.js'
import { newTicketKeys } from '../tls/certs.js'
import { startAdminServer, type AdminServer, type ReadinessCheck } from '../admin/server.js'
import { createStore } from '../store/create.js'
import type { Store } from '../store/types.js'
import { isRampartMessage, type FromWorker, type ToWorker } from './messages.js'

export function workerCount(config: RampartConfig): number {
  return config.workers === 'auto' ? Math.max(1, availableParallelism()) : config.workers
}

export interface PrimaryHandle {
  readonly workers: () => readonly Worker[]
  reload(): Promise<boolean>
  shutdown(): Promise<void>
}

export async function runPrimary(configPath: string, logger: Logger, options: { handleSignals?: boolean } = {}): Promise<PrimaryHandle> {
  const first = await loadConfigFile(configPath)
  if (!first.ok) throw new ConfigError(first.problems)
  let config = first.loaded.config
  logProblems(logger, first.loaded.warnings)
  const ticketKeys = newTicketKeys().toString('hex')
  let wanted = workerCount(config)
  let stopping = false
  const restarts = new Map<number, { delay: number; timer?: NodeJS.Timeout }>() // by slot
  const slots = new Map<number, Worker>()
  const startedAt = new Map<Worker, number>()

  const fork = (slot: number): Worker => {
    const w = cluster.fork({ RAMPART_TICKET_KEYS: ticketKeys, RAMPART_WORKER_SLOT: String(slot) })
    slots.set(slot, w)
    startedAt.set(w, Date.now())
    w.on('message', (m: unknown) => {
      if (isRampartMessage(m) && (m as FromWorker).type === 'rampart:listening') {
        logger.info({ worker: w.id, pid: w.process.pid, slot }, 'worker listening')
      }
    })
    w.on('exit', (code, signal) => {
      const lived = Date.now() - (startedAt.get(w) ?? Date.now())
      startedAt.delete(w)
      if (slots.get(slot) === w) slots.delete(slot)
      if (stopping || slot >= wanted) return
      const r = restarts.get(slot) ?? { delay: 1000 }
      if (lived > 60_000) r.delay = 1000
      logger.error({ code: 'RAMPART_ERR_LIFECYCLE_UNCAUGHT', worker: w.id, pid: w.process.pid, exitCode: code, signal, restartInMs: r.delay },
        'worker exited; starting a replacement')
      r.timer = setTimeout(() => {
        if (!stopping && !slots.has(slot)) fork(slot)
      }, r.delay)
      r.delay = Math.min(r.delay * 2, 30_000)
      restarts.set(slot, r)
    })
    return w
  }
  for (let i = 0; i < wanted; i++) fork(i)
  logger.info({ workers: wanted, pid: process.pid }, 'primary started')

  const live = (): Worker[] => [...slots.values()].filter((w) => w.isConnected())
  const send = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m)
  }

  // The admin listener answers for every worker: readiness is asked of each; metrics are aggregated.
  let adminStore: Store = createStore(config.store)
  const aggregator = new client.AggregatorRegistry()
  let readyzId = 0
  const askReadiness = (w: Worker): Promise<{ ready: boolean; checks: Record<string, ReadinessCheck> } | undefined> =>
    new Promise((resolve) => {
      const id = ++readyzId
      const timer = setTimeout(() => {
        w.off('message', onMessage)
        resolve(undefined)
      }, 2000)
      const onMessage = (m: unknown): void => {
        if (isRampartMessage(m) && (m as FromWorker).type === 'rampart:readyz' && (m as unknown as { id: number }).id === id) {
          clearTimeout(timer)
          w.off('message', onMessage)
          const r = m as Extract<FromWorker, { type: 'rampart:readyz' }>
          resolve({ ready: r.ready, checks: r.checks })
        }
      }
      w.on('message', onMessage)
      send(w, { type: 'rampart:readyz', id })
    })
  let admin: AdminServer | undefined
  try {
    admin = await startAdminServer({
      config: () => config,
      store: () => adminStore,
      metrics: async () => ({ text: await aggregator.clusterMetrics(), contentType: aggregator.contentType }),
      readiness: async () => {
        const workers = live()
        const answers = await Promise.all(workers.map(askReadiness))
        const checks: Record<string, ReadinessCheck> = {
          workers: { ok: workers.length > 0 && answers.every((a) => a !== undefined), detail: { running: workers.length, wanted } },
        }
        const first = answers.find((a) => a !== undefined)
        for (const key of Object.keys(first?.checks ?? {})) {
          checks[key] = {
            ok: answers.every((a) => a?.checks[key]?.ok === true),
            detail: answers.map((a) => a?.checks[key]?.detail),
          }
        }
        return { ready: Object.values(checks).every((c) => c.ok), checks }
      },
    }, logger)
  } catch (e) {
    logger.fatal({ code: 'RAMPART_ERR_LIFECYCLE_LISTEN', err: { message: (e as Error).message } }, 'admin listener could not bind')
    stopping = true
    for (const w of live()) w.kill('SIGTERM')
    throw e
  }

  const reload = async (): Promise<boolean> => {
    const next = await loadConfigFile(configPath)
    if (!next.ok) {
      logger.error({ code: 'RAMPART_ERR_CONFIG_INVALID' }, 'reload refused: the new configuration has errors; the running configuration stays')
      logProblems(logger, next.problems)
      return false
    }
    logProblems(logger, next.loaded.warnings)
    const storeChanged = JSON.stringify(next.loaded.config.store) !== JSON.stringify(config.store)
    config = next.loaded.config
    if (storeChanged) {
      const old = adminStore
      adminStore = createStore(config.store)
      void old.close().catch(() => {})
    }
    for (const w of live()) send(w, { type: 'rampart:reload' })
    const nextWanted = workerCount(config)
    if (nextWanted > wanted) for (let i = wanted; i < nextWanted; i++) fork(i)
    if (nextWanted < wanted) for (let i = nextWanted; i < wanted; i++) { const w = slots.get(i); if (w) send(w, { type: 'rampart:shutdown' }) }
    wanted = nextWanted
    logger.info({ workers: wanted }, 'configuration validated; workers reloading')
    return true
  }

  let shuttingDown: Promise<void> | undefined
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      stopping = true
      for (const r of restarts.values()) clearTimeout(r.timer)
      const workers = live()
      logger.info({ workers: workers.length, graceMs: config.shutdown.grace }, 'shutting down: workers drain in-flight requests')
      const exited = Promise.all(workers.map((w) => new Promise<void>((resolve) => {
        if (w.isDead()) return resolve()
        w.once('exit', () => resolve())
      })))
      for (const w of workers) send(w, { type: 'rampart:shutdown' })
      const killer = setTimeout(() => {
        for (const w of workers) if (!w.isDead()) w.kill('SIGKILL')
      }, config.shutdown.grace + 5000)
      killer.unref()
      await exited
      clearTimeout(killer)
      await admin?.close()
      await adminStore.close().catch(() => {})
      logger.info('stopped')
    })()
    return shuttingDown
  }

  if (options.handleSignals) {
    process.on('SIGHUP', () => void reload())
    const stop = (signal: string): void => {
      logger.info({ signal }, 'signal received')
      void shutdown().then(() => {
        logger.flush()
        process.exit(0)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  }
  return { workers: () => live(), reload, shutdown }
}
