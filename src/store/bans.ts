/**
 * Address bans shared by every instance: an abuse signal bans a client address for a while, and every instance
 * refuses it until the ban ends. Memory (one process) and Redis (shared) implementations of one small interface.
 *
 * Contract:
 * - Key: `<store.prefix>:ban:<subject>`, the subject being `ipSubject(ip)` (IPv4 as is, IPv6 grouped by /64, like
 *   the lockout). Value: the reason (the signal that banned). One key per ban, so Cluster needs no hash tag.
 * - `ban(ip, reason, ms, now)` is one atomic script in Redis: it sets the key with its TTL (`SET … PX`) unless a
 *   ban at least as long is already in force, so two instances banning at once never shorten each other's ban, and
 *   no ban key can live without a TTL. Resolves to the ban in force afterwards.
 * - `lookup(ip, now)` returns the ban in force or `undefined`. Memory: synchronous and exact. Redis: one script
 *   (GET + PTTL) per address at most every `cacheMs` (default 1 s): answers are cached locally, good or bad, and
 *   concurrent lookups of one address share one round trip, so a busy address costs Redis almost nothing. A ban
 *   set by another instance therefore reaches this one within `cacheMs`; a ban set here applies here at once.
 *   When Redis fails, a cached answer that says "banned" still holds until its end (stale-if-error); otherwise the
 *   promise rejects with a `RampartError` `RAMPART_ERR_STORE_UNAVAILABLE` and the caller applies its fail mode.
 * - `peek(ip, now)` is synchronous and answers from local knowledge only (the WebSocket upgrade check).
 * - `now` always comes from the caller (ms since the epoch); Redis TTLs are relative (PX), so clock skew between
 *   instances never makes a ban permanent.
 * Never blocks on a dead Redis: the store's client rejects at once while disconnected and within
 * `store.commandTimeout` otherwise.
 */
import type { Redis, Cluster } from 'ioredis'
import { ipSubject } from './keys.js'
import { RedisStore, withDeadline } from './redis.js'
import type { Store } from './types.js'
import type { StoreConfig } from '../config/sections/store.js'

export interface BanRecord {
  /** Why the address is banned (the abuse signal). */
  readonly reason: string
  /** Ms until the ban ends. */
  readonly remainingMs: number
}

export interface BanStore {
  readonly kind: 'memory' | 'redis'
  /** The raw key of an address's ban. */
  key(ip: string): string
  ban(ip: string, reason: string, durationMs: number, now: number): Promise<BanRecord>
  lookup(ip: string, now: number): BanRecord | undefined | Promise<BanRecord | undefined>
  peek(ip: string, now: number): BanRecord | undefined
  /** Ends a ban (admin use). True when one was in force. */
  lift(ip: string, now: number): Promise<boolean>
  /** Bans in force (admin use; scans keys, at most `limit`). `subject` is the address, or its /64 for IPv6. */
  list(now: number, limit?: number): Promise<BanListing[]>
}

export interface BanListing {
  readonly subject: string
  readonly reason: string
  readonly remainingMs: number
}

const MAX_REASON = 64

function cleanReason(reason: string): string {
  return reason.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, MAX_REASON) || 'unknown'
}

function banKey(prefix: string, ip: string): string {
  return `${prefix}:ban:${ipSubject(ip)}`
}

interface MemoryBan {
  until: number
  reason: string
}

/** Bans held in this process only. Bounded: beyond `maxKeys`, expired bans go first, then the oldest. */
export class MemoryBanStore implements BanStore {
  readonly kind = 'memory' as const
  private readonly bans = new Map<string, MemoryBan>()
  private readonly prefix: string
  private readonly maxKeys: number

  constructor(options: { prefix?: string; maxKeys?: number } = {}) {
    this.prefix = options.prefix ?? 'rampart'
    this.maxKeys = options.maxKeys ?? 100_000
  }

  get size(): number {
    return this.bans.size
  }

  key(ip: string): string {
    return banKey(this.prefix, ip)
  }

  async ban(ip: string, reason: string, durationMs: number, now: number): Promise<BanRecord> {
    const subject = ipSubject(ip)
    const known = this.bans.get(subject)
    if (known && known.until - now >= durationMs) return { reason: known.reason, remainingMs: known.until - now }
    this.bans.delete(subject)
    if (this.bans.size >= this.maxKeys) this.evict(now)
    const entry = { until: now + durationMs, reason: cleanReason(reason) }
    this.bans.set(subject, entry)
    return { reason: entry.reason, remainingMs: durationMs }
  }

  lookup(ip: string, now: number): BanRecord | undefined {
    return this.peek(ip, now)
  }

  peek(ip: string, now: number): BanRecord | undefined {
    if (this.bans.size === 0) return undefined
    const subject = ipSubject(ip)
    const b = this.bans.get(subject)
    if (b === undefined) return undefined
    if (now >= b.until) {
      this.bans.delete(subject)
      return undefined
    }
    return { reason: b.reason, remainingMs: b.until - now }
  }

  async lift(ip: string, now: number): Promise<boolean> {
    const subject = ipSubject(ip)
    const b = this.bans.get(subject)
    this.bans.delete(subject)
    return b !== undefined && now < b.until
  }

  async list(now: number, limit = 1000): Promise<BanListing[]> {
    const out: BanListing[] = []
    for (const [subject, b] of this.bans) {
      if (now < b.until) out.push({ subject, reason: b.reason, remainingMs: b.until - now })
      if (out.length >= limit) break
    }
    return out
  }

  private evict(now: number): void {
    for (const [k, b] of this.bans) if (now >= b.until) this.bans.delete(k)
    while (this.bans.size >= this.maxKeys) this.bans.delete(this.bans.keys().next().value!)
  }
}

/** KEYS[1] = ban key. ARGV = reason, ms. Keeps a ban at least as long; otherwise SET … PX. Returns {ms left, reason}. */
export const BAN_SET = `
local ms = tonumber(ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= ms then
  local current = redis.call('GET', KEYS[1])
  if current then return {ttl, current} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
return {ms, ARGV[1]}
`

/** KEYS[1] = ban key. Returns {ms left, reason}, or {-2, ''} when no ban. */
export const BAN_GET = `
local v = redis.call('GET', KEYS[1])
if not v then return {-2, ''} end
return {redis.call('PTTL', KEYS[1]), v}
`

type Reply = [number | string, string]

interface BanCommands {
  rampartBanSet(key: string, reason: string, ms: number): Promise<Reply>
  rampartBanGet(key: string): Promise<Reply>
}

type BanClient = (Redis | Cluster) & BanCommands

interface CachedBan {
  /** Ban end on the caller's clock; 0 when not banned. */
  until: number
  reason: string
  /** The answer may be used without asking Redis until then. */
  freshUntil: number
}

export interface RedisBanStoreOptions {
  /** An ioredis client (standalone, Sentinel or Cluster); not closed by the ban store. */
  readonly client: Redis | Cluster
  readonly prefix?: string
  /** Longest wait for one answer; default 100 ms (`store.commandTimeout`). */
  readonly commandTimeoutMs?: number
  /** How long a lookup's answer is reused; default 1000 ms. 0: always ask Redis. */
  readonly cacheMs?: number
  /** Addresses cached at most; default 10000. */
  readonly maxCached?: number
}

export class RedisBanStore implements BanStore {
  readonly kind = 'redis' as const
  private readonly client: BanClient
  private readonly prefix: string
  private readonly deadlineMs: number
  private readonly cacheMs: number
  private readonly maxCached: number
  private readonly cache = new Map<string, CachedBan>()
  private readonly inflight = new Map<string, Promise<BanRecord | undefined>>()

  constructor(options: RedisBanStoreOptions) {
    this.client = options.client as BanClient
    this.prefix = options.prefix ?? 'rampart'
    this.deadlineMs = (options.commandTimeoutMs ?? 100) + 5
    this.cacheMs = options.cacheMs ?? 1000
    this.maxCached = options.maxCached ?? 10_000
    this.client.defineCommand('rampartBanSet', { numberOfKeys: 1, lua: BAN_SET })
    this.client.defineCommand('rampartBanGet', { numberOfKeys: 1, lua: BAN_GET })
  }

  async list(_now: number, limit = 1000): Promise<BanListing[]> {
    // SCAN every primary (one node when standalone); then GET and PTTL each key. Admin use only.
    const cluster = (this.client as unknown as { nodes?: (role: string) => Redis[] }).nodes
    const nodes: Redis[] = typeof cluster === 'function' && (this.client as { isCluster?: boolean }).isCluster
      ? cluster.call(this.client, 'master') : [this.client as unknown as Redis]
    const pattern = `${this.prefix}:ban:*`
    const keys: string[] = []
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 200)
        cursor = next
        keys.push(...batch)
      } while (cursor !== '0' && keys.length < limit)
    }
    const out: BanListing[] = []
    for (const key of keys.slice(0, limit)) {
      const [reason, ttl] = await Promise.all([this.client.get(key), this.client.pttl(key)])
      if (reason !== null && ttl > 0) out.push({ subject: key.slice(this.prefix.length + 5), reason, remainingMs: ttl })
    }
    return out
  }

  key(ip: string): string {
    return banKey(this.prefix, ip)
  }

  async ban(ip: string, reason: string, durationMs: number, now: number): Promise<BanRecord> {
    const subject = ipSubject(ip)
    const clean = cleanReason(reason)
    // Enforced here at once, whatever Redis says or how long it takes.
    const known = this.cache.get(subject)
    if (!known || known.until < now + durationMs) this.remember(subject, now + durationMs, clean, now)
    const r = await this.call(() => this.client.rampartBanSet(this.key(ip), clean, durationMs))
    const ms = Number(r[0])
    const record = { reason: String(r[1]), remainingMs: ms }
    this.remember(subject, now + ms, record.reason, now)
    return record
  }

  lookup(ip: string, now: number): BanRecord | undefined | Promise<BanRecord | undefined> {
    const subject = ipSubject(ip)
    const c = this.cache.get(subject)
    if (c !== undefined && now < c.freshUntil) return c.until > now ? { reason: c.reason, remainingMs: c.until - now } : undefined
    const pending = this.inflight.get(subject)
    if (pending !== undefined) return pending
    const p = this.fetch(ip, subject, now, c).finally(() => this.inflight.delete(subject))
    this.inflight.set(subject, p)
    return p
  }

  peek(ip: string, now: number): BanRecord | undefined {
    const c = this.cache.get(ipSubject(ip))
    return c !== undefined && c.until > now ? { reason: c.reason, remainingMs: c.until - now } : undefined
  }

  async lift(ip: string): Promise<boolean> {
    this.cache.delete(ipSubject(ip))
    const n = await this.call(() => this.client.del(this.key(ip)))
    return n > 0
  }

  private async fetch(ip: string, subject: string, now: number, stale: CachedBan | undefined): Promise<BanRecord | undefined> {
    let r: Reply
    try {
      r = await this.call(() => this.client.rampartBanGet(this.key(ip)))
    } catch (err) {
      if (stale !== undefined && stale.until > now) return { reason: stale.reason, remainingMs: stale.until - now }
      throw err
    }
    const ttl = Number(r[0])
    if (ttl === -2) {
      this.remember(subject, 0, '', now)
      return undefined
    }
    // -1 (a key without TTL) cannot come from Rampart; honour it for one cache period.
    const ms = ttl === -1 ? Math.max(this.cacheMs, 1) : ttl
    this.remember(subject, now + ms, String(r[1]), now)
    return { reason: String(r[1]), remainingMs: ms }
  }

  private remember(subject: string, until: number, reason: string, now: number): void {
    if (this.cacheMs <= 0 && until === 0) return
    this.cache.delete(subject)
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(subject, { until, reason, freshUntil: now + this.cacheMs })
  }

  /** One command, bounded by the deadline, every failure mapped to `RAMPART_ERR_STORE_UNAVAILABLE`. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withDeadline(fn, this.deadlineMs)
  }
}

const forStore = new WeakMap<Store, BanStore>()

/**
 * The ban store that goes with a store: bans in the same Redis (on the store's own connection) when the store is
 * Redis, in memory otherwise. One per store object, so bans and their cache outlive a reload that keeps the store.
 */
export function banStoreFor(store: Store, config: Pick<StoreConfig, 'prefix' | 'commandTimeout' | 'maxKeys'>): BanStore {
  let bans = forStore.get(store)
  if (bans === undefined) {
    bans = store instanceof RedisStore
      ? new RedisBanStore({ client: store.client, prefix: config.prefix, commandTimeoutMs: config.commandTimeout })
      : new MemoryBanStore({ prefix: config.prefix, maxKeys: config.maxKeys })
    forStore.set(store, bans)
  }
  return bans
}
