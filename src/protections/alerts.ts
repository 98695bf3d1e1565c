/**
 * The alert channel of the protections: the webhook sink (`src/alerts/webhook.ts`) shared by threat detection and
 * abuse signals, wired to the log and the metrics.
 *
 * Contract:
 * - `acquireAlertChannel(config, ctx)` hands out a channel. Without `alerts.webhook` the channel is a no-op (the
 *   audit log line is the alert). With it, every channel of one process with the same logger and the same webhook
 *   settings shares one `WebhookSink`: one queue, one delivery loop, one throttle. A reload builds new protections,
 *   which acquire the sink before the old ones release it, so queued alerts and throttle windows survive the
 *   reload. The sink closes when its last channel is released (shutdown, or a reload that changed the webhook);
 *   closing sends the pending throttle summaries and waits at most `CLOSE_WAIT_MS` for delivery.
 * - `send(event)` never throws and never waits (the sink queues; see `WebhookSink.push`).
 * - Delivery failures (after all retries) and queue drops are logged as `RAMPART_ERR_ALERT_DELIVERY` and
 *   `RAMPART_ERR_ALERT_DROPPED`, at most once per `LOG_EVERY_MS` each with the number of lines held back, and
 *   counted in `rampart_protection_events_total{protection="alerts"}` (`delivered`, `failed`, `dropped`).
 * - The log names the webhook by origin only: a token in its path or query never reaches the log.
 * - Fails open: alerting can never refuse or delay a request.
 */
import type { Logger } from 'pino'
import type { RampartConfig } from '../config/schema.js'
import type { AlertWebhookConfig } from '../config/sections/alerts.js'
import type { AlertEvent } from '../alerts/event.js'
import { WebhookSink, webhookOptions, type WebhookStats } from '../alerts/webhook.js'
import { ERRORS } from '../errors.js'

/** Longest wait for pending alerts when the sink closes (shutdown must not hang on a dead receiver). */
export const CLOSE_WAIT_MS = 2000
/** Shortest interval between two log lines about failed or dropped alerts. */
export const LOG_EVERY_MS = 10_000

export interface AlertChannel {
  /** True when a webhook is configured. */
  readonly enabled: boolean
  send(event: AlertEvent): void
  stats(): WebhookStats | undefined
  /** Resolves when nothing is queued or being delivered. */
  idle(): Promise<void>
  /** Where alerts go, for `describe()`. */
  describe(): Record<string, unknown>
  /** Gives the channel back; the last release of a sink closes it. Idempotent. */
  release(): Promise<void>
}

export interface AlertContext {
  readonly logger: Logger
  readonly metrics?: { protectionEvent(protection: string, outcome: string): void } | undefined
}

interface SharedSink {
  readonly sink: WebhookSink
  readonly origin: string
  refs: number
}

// Per logger (one per runtime, kept across reloads), then per webhook settings.
const sinks = new WeakMap<Logger, Map<string, SharedSink>>()

const OFF: AlertChannel = Object.freeze({
  enabled: false,
  send: () => {},
  stats: () => undefined,
  idle: async () => {},
  describe: () => ({ webhook: 'off' }),
  release: async () => {},
})

function originOf(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'invalid'
  }
}

/** At most one line per interval; the lines held back are counted into the next. */
function throttledLog(interval: number): (write: (suppressed: number) => void) => void {
  let last = -Infinity
  let held = 0
  return (write) => {
    const t = performance.now()
    if (t - last < interval) {
      held++
      return
    }
    last = t
    const n = held
    held = 0
    write(n)
  }
}

function openSink(webhook: AlertWebhookConfig, ctx: AlertContext): SharedSink {
  const { logger } = ctx
  const origin = originOf(webhook.url)
  const event = (outcome: string): void => ctx.metrics?.protectionEvent('alerts', outcome)
  const failedLog = throttledLog(LOG_EVERY_MS)
  const droppedLog = throttledLog(LOG_EVERY_MS)
  const sink = new WebhookSink(webhookOptions(webhook, {
    onDelivered: () => event('delivered'),
    onFailed: (alert, error, attempts) => {
      event('failed')
      failedLog((suppressed) => logger.warn({
        code: 'RAMPART_ERR_ALERT_DELIVERY', webhook: origin, attempts, alert: alert.type, clientIp: alert.clientIp,
        suppressed, err: { message: (error as Error | undefined)?.message ?? String(error) },
      }, ERRORS.RAMPART_ERR_ALERT_DELIVERY.message))
    },
    onDropped: (alert, droppedSoFar) => {
      event('dropped')
      droppedLog((suppressed) => logger.warn({
        code: 'RAMPART_ERR_ALERT_DROPPED', webhook: origin, alert: alert.type, clientIp: alert.clientIp,
        droppedTotal: droppedSoFar, queueSize: webhook.queueSize, suppressed,
      }, ERRORS.RAMPART_ERR_ALERT_DROPPED.message))
    },
  }))
  return { sink, origin, refs: 0 }
}

export function acquireAlertChannel(config: RampartConfig, ctx: AlertContext): AlertChannel {
  const webhook = config.alerts.webhook
  if (webhook === undefined) return OFF
  const key = JSON.stringify(webhook)
  let byKey = sinks.get(ctx.logger)
  if (byKey === undefined) {
    byKey = new Map()
    sinks.set(ctx.logger, byKey)
  }
  let shared = byKey.get(key)
  if (shared === undefined) {
    shared = openSink(webhook, ctx)
    byKey.set(key, shared)
  }
  shared.refs++
  const mine = shared
  const map = byKey
  let released = false
  return {
    enabled: true,
    send: (event) => mine.sink.push(event),
    stats: () => mine.sink.stats(),
    idle: () => mine.sink.idle(),
    describe: () => ({
      webhook: mine.origin, signed: webhook.secret !== undefined, retries: webhook.retries, queueSize: webhook.queueSize,
      minIntervalMs: webhook.minInterval, failMode: 'open',
    }),
    async release() {
      if (released) return
      released = true
      if (--mine.refs > 0) return
      if (map.get(key) === mine) map.delete(key)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        mine.sink.close(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_WAIT_MS)
          timer.unref()
        }),
      ])
      clearTimeout(timer)
    },
  }
}
