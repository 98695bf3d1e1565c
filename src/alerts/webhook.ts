/**
 * Webhook alert sink: delivers alert events as JSON POSTs, off the request path.
 *
 * Contract:
 * - `push(event)` never throws and never waits: it throttles (see `AlertThrottle`), queues and returns. Requests
 *   are never slowed down by alerting.
 * - The queue holds at most `queueSize` events; when full, the oldest is dropped and counted (`stats().dropped`,
 *   `onDropped`).
 * - One delivery at a time, in order. An attempt that fails (network error, timeout, 5xx, 408, 429) is retried up to
 *   `retries` times after `backoffMs`, then twice that, and so on (capped at `maxBackoffMs`); any other 4xx is final.
 *   A delivery that fails for good is counted and reported to `onFailed`, then the next one starts.
 * - A throttled summary is the latest event of its window with `count` set to how many events it stands for.
 * - With a `secret`, each POST carries `x-rampart-timestamp` and `x-rampart-signature` (see `signature.ts`).
 * - Time and timers come from `clock` (the globals by default), so tests drive windows and backoff with fake
 *   timers; the sender is injectable (undici `request` by default).
 */
import { request } from 'undici'
import { AlertThrottle } from './throttle.js'
import { alertKey, type AlertEvent } from './event.js'
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signPayload } from './signature.js'
import type { AlertWebhookConfig } from '../config/sections/alerts.js'

export interface WebhookRequest {
  readonly url: string
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
}

export type WebhookSender = (req: WebhookRequest) => Promise<{ readonly statusCode: number }>

/** POSTs with undici; the response body is read and discarded so the connection can be reused. */
export const undiciSender: WebhookSender = async (req) => {
  const res = await request(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
    signal: AbortSignal.timeout(req.timeoutMs),
  })
  await res.body.dump()
  return { statusCode: res.statusCode }
}

export interface AlertClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The global clock, looked up at each call so installed fake timers apply. */
export const systemClock: AlertClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const h = globalThis.setTimeout(fn, ms)
    ;(h as { unref?: () => void }).unref?.()
    return h
  },
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
}

export interface WebhookSinkOptions {
  readonly url: string
  readonly secret?: string | undefined
  readonly timeoutMs: number
  readonly retries: number
  readonly queueSize: number
  readonly minIntervalMs: number
  readonly backoffMs?: number
  readonly maxBackoffMs?: number
  readonly maxThrottleKeys?: number
  readonly sender?: WebhookSender
  readonly clock?: AlertClock
  readonly onDelivered?: (event: AlertEvent, attempts: number) => void
  readonly onFailed?: (event: AlertEvent, error: unknown, attempts: number) => void
  readonly onDropped?: (event: AlertEvent, droppedSoFar: number) => void
}

export interface WebhookStats {
  readonly queued: number
  readonly sent: number
  readonly failed: number
  readonly dropped: number
  /** Events counted into throttled summaries instead of being sent alone. */
  readonly suppressed: number
  readonly attempts: number
}

/** Runs a logging hook; a hook that throws must not stop alerting. */
function safely(fn: () => void): void {
  try {
    fn()
  } catch {
    // ignored on purpose
  }
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429
}

/** Sink options from the validated `alerts.webhook` config section, plus hooks, sender or clock. */
export function webhookOptions(config: AlertWebhookConfig, extra: Partial<WebhookSinkOptions> = {}): WebhookSinkOptions {
  return {
    url: config.url,
    secret: config.secret,
    timeoutMs: config.timeout,
    retries: config.retries,
    queueSize: config.queueSize,
    minIntervalMs: config.minInterval,
    ...extra,
  }
}

export class WebhookSink {
  private readonly queue: AlertEvent[] = []
  private readonly throttle: AlertThrottle<AlertEvent>
  private readonly sender: WebhookSender
  private readonly clock: AlertClock
  private sending = false
  private closed = false
  private flushTimer: unknown
  private flushAt: number | undefined
  private idleWaiters: Array<() => void> = []
  private counters = { sent: 0, failed: 0, dropped: 0, suppressed: 0, attempts: 0 }

  constructor(private readonly options: WebhookSinkOptions) {
    this.sender = options.sender ?? undiciSender
    this.clock = options.clock ?? systemClock
    this.throttle = new AlertThrottle<AlertEvent>(options.minIntervalMs, options.maxThrottleKeys ?? 10_000)
  }

  push(event: AlertEvent): void {
    if (this.closed) return
    try {
      const decision = this.throttle.offer(alertKey(event), event, this.clock.now())
      if (decision.summary) this.enqueue({ ...decision.summary.latest, count: decision.summary.count })
      if (decision.send) this.enqueue(event)
      else this.counters.suppressed++
      this.scheduleFlush()
    } catch {
      // Alerting must never break a request. A failure here is an internal bug; count it as a drop.
      this.counters.dropped++
    }
  }

  stats(): WebhookStats {
    return { queued: this.queue.length, ...this.counters }
  }

  /** Resolves when nothing is queued or being delivered. */
  idle(): Promise<void> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Stops accepting events, sends pending throttle summaries, and resolves when the queue has drained. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer)
      this.flushTimer = undefined
      for (const s of this.throttle.flushAll()) this.enqueue({ ...s.latest, count: s.count })
    }
    return this.idle()
  }

  private enqueue(event: AlertEvent): void {
    if (this.queue.length >= this.options.queueSize) {
      const oldest = this.queue.shift()!
      this.counters.dropped++
      const dropped = this.counters.dropped
      safely(() => this.options.onDropped?.(oldest, dropped))
    }
    this.queue.push(event)
    if (!this.sending) void this.pump()
  }

  private scheduleFlush(): void {
    const next = this.throttle.nextDue()
    if (next === undefined || this.closed) return
    if (this.flushAt !== undefined && this.flushAt <= next) return
    if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer)
    this.flushAt = next
    this.flushTimer = this.clock.setTimeout(() => this.flush(), Math.max(0, next - this.clock.now()))
  }

  private flush(): void {
    this.flushTimer = undefined
    this.flushAt = undefined
    try {
      for (const s of this.throttle.due(this.clock.now())) this.enqueue({ ...s.latest, count: s.count })
    } catch {
      this.counters.dropped++
    }
    this.scheduleFlush()
  }

  private async pump(): Promise<void> {
    this.sending = true
    try {
      while (this.queue.length > 0) await this.deliver(this.queue.shift()!)
    } finally {
      this.sending = false
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms))
  }

  private async deliver(event: AlertEvent): Promise<void> {
    const { url, secret, timeoutMs, retries } = this.options
    const base = this.options.backoffMs ?? 500
    const cap = this.options.maxBackoffMs ?? 30_000
    let lastError: unknown
    let attempts = 0
    let body: string
    try {
      body = JSON.stringify(event)
    } catch (err) {
      this.counters.failed++
      safely(() => this.options.onFailed?.(event, err, 0))
      return
    }
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.sleep(Math.min(cap, base * 2 ** (attempt - 1)))
      attempts++
      this.counters.attempts++
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'rampart-alerts' }
        if (secret) {
          const ts = Math.floor(this.clock.now() / 1000)
          headers[TIMESTAMP_HEADER] = String(ts)
          headers[SIGNATURE_HEADER] = signPayload(secret, ts, body)
        }
        const res = await this.sender({ url, body, headers, timeoutMs })
        if (res.statusCode >= 200 && res.statusCode < 300) {
          this.counters.sent++
          safely(() => this.options.onDelivered?.(event, attempts))
          return
        }
        lastError = new Error(`webhook answered ${res.statusCode}`)
        if (!retryable(res.statusCode)) break
      } catch (err) {
        lastError = err
      }
    }
    this.counters.failed++
    safely(() => this.options.onFailed?.(event, lastError, attempts))
  }
}
