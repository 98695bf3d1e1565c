/**
 * Config section `store`: where rate-limit and lockout counters live.
 *
 * No `redis` (or an empty string, e.g. from `${REDIS_URL:-}`): an in-memory store, right for one process. With
 * Redis, every instance shares the counts. `onStoreError` is the default for every protection's own
 * `onStoreError`: what to do with a request when the store does not answer within `commandTimeout`.
 */
import { Type, type Static } from '@sinclair/typebox'
import { Strict, Duration, FailMode } from '../types.js'

const Node = Strict({
  host: Type.String({ minLength: 1, description: 'Host name or address.' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port.' }),
})

export const RedisUrl = Type.String({
  pattern: '^(|rediss?://.+)$',
  description: 'Standalone Redis: `redis://[:password@]host:port[/db]`, or `rediss://` for TLS. Empty: no Redis.',
})

export const RedisSentinel = Strict({
  sentinels: Type.Array(Node, { minItems: 1, description: 'Sentinel addresses.' }),
  name: Type.String({ minLength: 1, description: 'Name of the monitored primary (`sentinel monitor <name> ...`).' }),
  password: Type.Optional(Type.String({ description: 'Password of the Redis servers.' })),
  sentinelPassword: Type.Optional(Type.String({ description: 'Password of the Sentinels, when they require one.' })),
  db: Type.Optional(Type.Integer({ minimum: 0, maximum: 15, description: 'Database number.' })),
})

export const RedisCluster = Strict({
  cluster: Type.Array(Node, { minItems: 1, description: 'Some cluster nodes; the others are discovered.' }),
  password: Type.Optional(Type.String({ description: 'Password of the cluster nodes.' })),
})

export const StoreSection = Strict({
  redis: Type.Optional(Type.Union([RedisUrl, RedisSentinel, RedisCluster], {
    description: 'A `redis://` URL, `{ sentinels, name }` or `{ cluster }`. Absent or empty: in-memory store (one process only).',
  })),
  prefix: Type.String({
    default: 'rampart', pattern: '^[A-Za-z0-9_.-]{1,32}$',
    description: 'First segment of every key: `<prefix>:<protection>:<name>:<subject>`. Lets several gateways share one Redis.',
  }),
  commandTimeout: Duration({
    default: '100ms',
    description: 'Longest wait for one Redis decision. Past it the protection applies its `onStoreError` choice.',
  }),
  connectTimeout: Duration({ default: '2s', description: 'Longest wait for one connection attempt; attempts repeat forever with backoff.' }),
  autoPipelining: Type.Boolean({
    default: true,
    description: 'Send the Redis commands of one event-loop turn in one write (ioredis auto-pipelining). Raises throughput under concurrency.',
  }),
  onStoreError: FailMode({
    default: 'open',
    description: 'Default for each protection: `open` lets a request through when the store fails, `closed` refuses it. Each choice is logged.',
  }),
  keySecret: Type.Optional(Type.String({
    minLength: 16,
    description: 'HMAC key for personal values in store keys (user names, e-mails). Without it they are hashed with plain SHA-256, which a dictionary can reverse. Use `${ENV_VAR}`.',
  })),
  maxKeys: Type.Integer({
    default: 100000, minimum: 1000,
    description: 'In-memory store only: most counters held. When full, expired then oldest counters are dropped.',
  }),
}, { default: {}, description: 'Shared store for rate limits and login lockout.' })

export type StoreConfig = Static<typeof StoreSection>
