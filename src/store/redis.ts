/**
 * Redis store (ioredis 5): standalone URL, Sentinel or Cluster. Shared by every Rampart instance.
 *
 * Contract:
 * - One decision = one Lua script (`defineCommand`, EVALSHA with automatic EVAL after a restart emptied the script
 *   cache) = one round trip. Keys: `./keys.ts` (hash tags in Cluster mode).
 * - A dead or slow Redis fails fast and never queues: `enableOfflineQueue: false` rejects at once while
 *   disconnected, `commandTimeout` bounds a command on a live but stuck connection, and `maxRetriesPerRequest: 0`
 *   rejects commands caught by a disconnect instead of replaying them later (a decision is worthless once the
 *   request has moved on). Every rejection becomes a `RampartError` `RAMPART_ERR_STORE_UNAVAILABLE`.
 * - The client reconnects forever with capped exponential backoff, so the store recovers by itself when Redis comes
 *   back; nobody recreates it. Connection news goes to `onEvent` (the wiring logs it, rate-limited).
 * - `autoPipelining` (ioredis `enableAutoPipelining`) batches the commands issued in one event-loop tick into one
 *   write; see `bench/store-micro.ts` for its effect.
 */
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis'
import { RampartError } from '../errors.js'
import { makeKey, parseKey, type KeyLayout } from './keys.js'
import { RATE_LIMIT, LOCKOUT_CHECK, LOCKOUT_RECORD } from './lua.js'
import { toLockEntry, matchesList } from './lock-entries.js'
import type { LockoutLimits } from '../lockout/policy.js'
import type {
  Store, RateLimitQuery, RateLimitResult, LockoutCheckQuery, LockoutCheckResult, LockoutRecordQuery,
  LockoutRecordResult, LockEntry, LockoutListQuery, LockoutClearQuery, StoreStatus, StoreEvent,
} from './types.js'

export interface RedisNode {
  readonly host: string
  readonly port: number
}

export type RedisConnection =
  | string
  | { readonly sentinels: readonly RedisNode[]; readonly name: string; readonly password?: string; readonly sentinelPassword?: string; readonly db?: number }
  | { readonly cluster: readonly RedisNode[]; readonly password?: string }

export interface RedisStoreOptions {
  readonly connection: RedisConnection
  readonly prefix?: string
  readonly commandTimeoutMs?: number
  readonly connectTimeoutMs?: number
  readonly autoPipelining?: boolean
  /** Longest wait between reconnection attempts; default 2000 ms. */
  readonly maxReconnectDelayMs?: number
  readonly onEvent?: (event: StoreEvent) => void
}

type Reply = Array<number | string>

interface RampartCommands {
  rampartRateLimit(key: string, limit: number, windowMs: number, now: number, want: number): Promise<Reply>
  rampartLockoutCheck(k1: string, k2: string, k3: string, ...argv: Array<string | number>): Promise<Reply>
  rampartLockoutRecord(k1: string, k2: string, k3: string, ...argv: Array<string | number>): Promise<Reply>
}

type Client = (Redis | Cluster) & RampartCommands

/** Backoff: 50 ms, 100 ms, 200 ms … up to `max`, forever (never `null`, which would end the client). */
export function reconnectDelay(attempt: number, max: number): number {
  const ms = 50 * 2 ** Math.min(Math.max(attempt - 1, 0), 16)
  return ms < max ? ms : max
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  readonly client: Client
  private readonly layout: KeyLayout
  private readonly isCluster: boolean
  private readonly deadlineMs: number
  private everReady = false
  private closed = false

  constructor(options: RedisStoreOptions) {
    const commandTimeout = options.commandTimeoutMs ?? 100
    const connectTimeout = options.connectTimeoutMs ?? 2000
    const maxDelay = options.maxReconnectDelayMs ?? 2000
    const retryStrategy = (times: number): number => reconnectDelay(times, maxDelay)
    const emit = options.onEvent ?? (() => {})
    const conn = options.connection
    // ioredis's own timeout fires first when it can; see `call`.
    this.deadlineMs = commandTimeout + 5

    const base: RedisOptions = {
      enableOfflineQueue: false,
      commandTimeout,
      connectTimeout,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: options.autoPipelining ?? true,
      retryStrategy,
    }

    if (typeof conn === 'object' && 'cluster' in conn) {
      this.isCluster = true
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: false,
        enableAutoPipelining: options.autoPipelining ?? true,
        clusterRetryStrategy: retryStrategy,
        // A node that restarts without slot changes is reconnected to (ioredis's default drops it for good), and
        // the slot map is refreshed periodically so that failovers are picked up without a restart.
        clusterNodeRetryStrategy: retryStrategy,
        slotsRefreshInterval: 5000,
        // Fail fast instead of retrying elsewhere after a node closed or the cluster reported CLUSTERDOWN: the
        // protection's onStoreError decides, and the next decision tries again anyway.
        retryDelayOnFailover: 0,
        retryDelayOnClusterDown: 0,
        enableReadyCheck: true,
        scaleReads: 'master',
        slotsRefreshTimeout: Math.max(commandTimeout * 10, 1000),
        redisOptions: {
          commandTimeout,
          connectTimeout,
          maxRetriesPerRequest: 0,
          ...(conn.password ? { password: conn.password } : {}),
        },
      }
      this.client = new Cluster(conn.cluster.map((n) => ({ host: n.host, port: n.port })), clusterOptions) as Client
    } else if (typeof conn === 'object') {
      this.isCluster = false
      this.client = new Redis({
        ...base,
        sentinels: conn.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: conn.name,
        ...(conn.password ? { password: conn.password } : {}),
        ...(conn.sentinelPassword ? { sentinelPassword: conn.sentinelPassword } : {}),
        ...(conn.db !== undefined ? { db: conn.db } : {}),
        sentinelRetryStrategy: retryStrategy,
      }) as Client
    } else {
      this.isCluster = false
      this.client = new Redis(conn, base) as Client
    }
    this.layout = { prefix: options.prefix ?? 'rampart', hashTags: this.isCluster }

    this.client.defineCommand('rampartRateLimit', { numberOfKeys: 1, lua: RATE_LIMIT })
    this.client.defineCommand('rampartLockoutCheck', { numberOfKeys: 3, lua: LOCKOUT_CHECK })
    this.client.defineCommand('rampartLockoutRecord', { numberOfKeys: 3, lua: LOCKOUT_RECORD })

    // Without an 'error' listener ioredis prints every connection error to the console.
    this.client.on('error', (err: Error) => emit({ type: 'error', code: 'RAMPART_ERR_STORE_CONNECTION', message: err.message }))
    this.client.on('ready', () => {
      this.everReady = true
      emit({ type: 'ready' })
    })
    this.client.on('reconnecting', (delayMs: number) => emit({ type: 'reconnecting', delayMs }))
    this.client.on('end', () => emit({ type: 'end' }))
    if (this.isCluster) {
      this.client.on('node error', (err: Error) => emit({ type: 'error', code: 'RAMPART_ERR_STORE_CONNECTION', message: err.message }))
    }
  }

  key(protection: 'ratelimit' | 'lockout', name: string, subject: string): string {
    return makeKey(this.layout, protection, name, subject)
  }

  /** `ready`; `connecting` before the first connection; `down` once a connection was lost (reconnecting). */
  status(): StoreStatus {
    const s = this.client.status
    if (s === 'ready') return 'ready'
    if (!this.everReady && (s === 'connecting' || s === 'connect' || s === 'wait')) return 'connecting'
    return 'down'
  }

  /** Resolves when the client is ready (or rejects after `timeoutMs`). Startup uses it to log the first state. */
  async waitReady(timeoutMs: number): Promise<void> {
    if (this.client.status === 'ready') return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady)
        reject(new RampartError('RAMPART_ERR_STORE_UNAVAILABLE', `not ready after ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      const onReady = (): void => {
        clearTimeout(timer)
        resolve()
      }
      this.client.once('ready', onReady)
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.client.disconnect(false)
  }

  async pttl(key: string): Promise<number> {
    return this.call(() => this.client.pttl(key))
  }

  async rateLimit(q: RateLimitQuery): Promise<RateLimitResult> {
    const r = await this.call(() => this.client.rampartRateLimit(this.key('ratelimit', q.name, q.subject), q.limit, q.windowMs, q.now, q.want ?? 1))
    return { allowed: Number(r[0]) === 1, remaining: Number(r[1]), resetMs: Number(r[2]), granted: Number(r[3]) }
  }

  async lockoutCheck(q: LockoutCheckQuery): Promise<LockoutCheckResult> {
    const k = this.lockoutKeys(q.scope, q.account, q.ip, q.device)
    const r = await this.call(() => this.client.rampartLockoutCheck(k[0], k[1], k[2], ...limitArgs(q.now, q.limits, q.device !== undefined)))
    const reason = Number(r[2])
    return {
      allowed: Number(r[0]) === 1,
      via: Number(r[1]) === 1 ? 'device' : 'account',
      reason: reason === 1 ? 'account' : reason === 2 ? 'ip' : undefined,
      retryAfterMs: Number(r[3]),
      accountFailures: Number(r[4]),
      ipFailures: Number(r[5]),
    }
  }

  async lockoutRecord(q: LockoutRecordQuery): Promise<LockoutRecordResult> {
    const k = this.lockoutKeys(q.scope, q.account, q.ip, q.device)
    const r = await this.call(() => this.client.rampartLockoutRecord(
      k[0], k[1], k[2], ...limitArgs(q.now, q.limits, q.device !== undefined),
      q.ticket.via, q.ticket.counted ? 1 : 0, q.outcome,
    ))
    const n = (i: number): number => Number(r[i])
    return {
      accountFailures: n(0),
      ipFailures: n(1),
      deviceFailures: n(2),
      lockedAccount: n(3) === 1 ? { until: n(4), durationMs: n(5), level: n(6) } : undefined,
      lockedIp: n(7) === 1 ? { until: n(8), durationMs: n(9) } : undefined,
    }
  }

  async lockoutList(q: LockoutListQuery): Promise<LockEntry[]> {
    const scope = q.scope !== undefined ? (this.isCluster ? `{${q.scope}}` : q.scope) : '*'
    const pattern = `${this.layout.prefix}:lockout:${scope}:*`
    const nodes: Redis[] = this.isCluster ? (this.client as Cluster).nodes('master') : [this.client as Redis]
    const out: LockEntry[] = []
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await this.call(() => node.scan(cursor, 'MATCH', pattern, 'COUNT', 500))
        cursor = next
        for (const key of keys) {
          const parsed = parseKey(this.layout, key)
          if (!parsed || parsed.protection !== 'lockout') continue
          const [f, lu, lv] = await this.call(() => node.hmget(key, 'f', 'lu', 'lv'))
          const entry = toLockEntry(parsed.name, parsed.subject, { f: f ?? undefined, lu: lu ?? undefined, lv: lv ?? undefined }, q.now)
          if (entry && matchesList(entry, q)) out.push(entry)
        }
      } while (cursor !== '0')
    }
    return out
  }

  async lockoutClear(q: LockoutClearQuery): Promise<boolean> {
    const subject = q.kind === 'account' ? `acct:${q.subject}` : `ip:${q.subject}`
    const n = await this.call(() => this.client.del(this.key('lockout', q.scope, subject)))
    return n > 0
  }

  private lockoutKeys(scope: string, account: string, ip: string, device: string | undefined): [string, string, string] {
    return [
      this.key('lockout', scope, `acct:${account}`),
      this.key('lockout', scope, `ip:${ip}`),
      // Same slot as the others even when unused: Cluster refuses scripts whose keys span slots.
      this.key('lockout', scope, `dev:${device ?? '-'}`),
    ]
  }

  /**
   * Runs one command and maps any failure to `RAMPART_ERR_STORE_UNAVAILABLE`. The deadline is a safety net on top
   * of ioredis's own `commandTimeout`: in Cluster mode ioredis retries a command on other nodes after a connection
   * closed or CLUSTERDOWN, and such retries can outlast `commandTimeout` because its timer only starts once a node
   * accepts the command.
   */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withDeadline(fn, this.deadlineMs)
  }

}

function storeError(err: unknown): RampartError {
  if (err instanceof RampartError) return err
  return new RampartError('RAMPART_ERR_STORE_UNAVAILABLE', (err as Error)?.message ?? String(err), { cause: err })
}

function limitArgs(now: number, l: LockoutLimits, hasDevice: boolean): Array<number | string> {
  return [
    now, l.maxFailures, l.windowMs, l.lockMs, l.maxLockMs,
    l.ipMaxFailures, l.ipWindowMs, l.ipLockMs, l.deviceMaxFailures, hasDevice ? '1' : '0',
  ]
}

/**
 * Runs one Redis command with a hard deadline, mapping every failure to `RAMPART_ERR_STORE_UNAVAILABLE`. Shared by
 * every Redis-backed store (decisions, bans).
 */
export function withDeadline<T>(fn: () => Promise<T>, deadlineMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(new RampartError('RAMPART_ERR_STORE_UNAVAILABLE', `command timed out: no answer within ${deadlineMs} ms`))
    }, deadlineMs)
    const fail = (err: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(storeError(err))
    }
    let pending: Promise<T>
    try {
      pending = fn()
    } catch (err) {
      fail(err)
      return
    }
    pending.then((value) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(value)
    }, fail)
  })
}
