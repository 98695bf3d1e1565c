/**
 * Builds the store the configuration asks for: Redis when `store.redis` is set and not empty, otherwise memory.
 *
 * Contract: never waits for Redis. A Redis that is down at startup only means decisions fail (and protections apply
 * their `onStoreError`) until it answers; the client keeps reconnecting.
 */
import type { StoreConfig } from '../config/sections/store.js'
import { MemoryStore } from './memory.js'
import { RedisStore, type RedisConnection } from './redis.js'
import type { Store, StoreEvent } from './types.js'

export interface CreateStoreOptions {
  readonly onEvent?: (event: StoreEvent) => void
}

export function redisConnectionOf(config: Pick<StoreConfig, 'redis'>): RedisConnection | undefined {
  const r = config.redis
  if (r === undefined || r === '') return undefined
  return r
}

export function createStore(config: StoreConfig, options: CreateStoreOptions = {}): Store {
  const connection = redisConnectionOf(config)
  if (connection === undefined) return new MemoryStore({ prefix: config.prefix, maxKeys: config.maxKeys })
  return new RedisStore({
    connection,
    prefix: config.prefix,
    commandTimeoutMs: config.commandTimeout,
    connectTimeoutMs: config.connectTimeout,
    autoPipelining: config.autoPipelining,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  })
}
