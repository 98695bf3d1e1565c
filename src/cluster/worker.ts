/**
 * A cluster worker: one full gateway (the same runtime as a single process) sharing the listening sockets with the
 * other workers. The primary tells it to reload and to shut down; it never handles SIGHUP/SIGTERM itself, and it
 * ignores SIGINT (a terminal's Ctrl-C reaches the whole process group; the primary coordinates the shutdown).
 * An error that escapes every handler is logged and ends this worker only; the primary starts a new one.
 */
import cluster from 'node:cluster'
import client from 'prom-client'
import type { Logger } from 'pino'
import { startRuntime } from '../server/runtime.js'
import { readiness } from '../admin/server.js'
import { isRampartMessage, type FromWorker, type ToWorker } from './messages.js'

export async function runWorker(configPath: string, logger: Logger): Promise<void> {
  const keysHex = process.env['RAMPART_TICKET_KEYS']
  const runtime = await startRuntime({
    configPath, logger, handleSignals: false, admin: false,
    ...(keysHex ? { ticketKeys: Buffer.from(keysHex, 'hex') } : {}),
  })
  client.AggregatorRegistry.setRegistries([runtime.metrics.registry])
  const send = (m: FromWorker): void => {
    if (process.connected) process.send?.(m)
  }
  process.on('SIGINT', () => { /* the primary decides */ })
  process.on('SIGHUP', () => { /* the primary decides */ })
  process.on('message', (m: unknown) => {
    if (!isRampartMessage(m)) return
    const msg = m as ToWorker
    if (msg.type === 'rampart:reload') {
      void runtime.reload().then((r) => send({ type: 'rampart:reloaded', ok: r.ok }))
    } else if (msg.type === 'rampart:shutdown') {
      void runtime.close().then(() => {
        logger.flush()
        process.exit(0)
      })
    } else if (msg.type === 'rampart:readyz') {
      const r = readiness(runtime)
      send({ type: 'rampart:readyz', id: msg.id, ready: r.ready, checks: r.checks })
    }
  })
  process.on('disconnect', () => {
    // The primary is gone: stop cleanly rather than run unsupervised.
    void runtime.close().then(() => process.exit(0))
  })
  send({ type: 'rampart:listening', https: runtime.httpsPort })
  logger.info({ worker: cluster.worker?.id }, 'worker ready')
}
