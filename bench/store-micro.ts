/**
 * Store micro-benchmark: rate-limit decisions per second and time per decision, for the memory store and for the
 * Redis store with and without auto-pipelining, at concurrency 1 and 50. Also one lockout check per backend at
 * concurrency 50 (the larger script, three keys).
 *
 * Spawns its own redis-server on a free loopback port (never the machine's Redis) and stops it at the end.
 *
 *   node dist/bench/store-micro.js [--duration 2000] [--rounds 3] [--json]
 *
 * Every configuration runs `rounds` times, interleaved with the others so that machine noise spreads evenly; the
 * row with the median throughput is reported. Columns: decisions/s (throughput), µs/decision (wall time divided by
 * decisions: the cost seen by the process), mean and p99 latency of one call in µs (what one request waits).
 */
import { MemoryStore } from '../src/store/memory.js'
import { RedisStore } from '../src/store/redis.js'
import type { Store } from '../src/store/types.js'
import type { LockoutLimits } from '../src/lockout/policy.js'
import { startRedis } from '../test/helpers/redis.js'

interface Row {
  backend: string
  op: string
  concurrency: number
  decisions: number
  perSecond: number
  usPerDecision: number
  meanUs: number
  p99Us: number
}

const LIMITS: LockoutLimits = {
  maxFailures: 1_000_000, windowMs: 900_000, lockMs: 900_000, maxLockMs: 86_400_000,
  ipMaxFailures: 1_000_000, ipWindowMs: 900_000, ipLockMs: 900_000, deviceMaxFailures: 0,
}

type Op = (store: Store, i: number) => Promise<unknown>

const ops: Record<string, Op> = {
  rateLimit: async (store, i) => store.rateLimit({ name: 'bench', subject: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, limit: 1_000_000, windowMs: 60_000, now: Date.now() }),
  lockoutCheck: (store, i) => store.lockoutCheck({ scope: 'bench', account: `acct${i % 5000}`, ip: `10.0.${(i >> 8) & 255}.${i & 255}`, limits: LIMITS, now: Date.now() }),
}

async function measure(backend: string, store: Store, op: string, concurrency: number, durationMs: number): Promise<Row> {
  const fn = ops[op]!
  // Warm-up: JIT, connection, script cache.
  for (let i = 0; i < 500; i++) await fn(store, i)
  const latencies: number[] = []
  let next = 0
  const deadline = performance.now() + durationMs
  const start = performance.now()
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = next++
      const t0 = performance.now()
      await fn(store, i)
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = performance.now() - start
  latencies.sort((a, b) => a - b)
  const decisions = latencies.length
  const mean = latencies.reduce((a, b) => a + b, 0) / decisions
  return {
    backend, op, concurrency, decisions,
    perSecond: Math.round((decisions / elapsed) * 1000),
    usPerDecision: Number(((elapsed * 1000) / decisions).toFixed(2)),
    meanUs: Number((mean * 1000).toFixed(1)),
    p99Us: Number((latencies[Math.floor(decisions * 0.99)]! * 1000).toFixed(1)),
  }
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const durationMs = option(args, '--duration', 2000)
  const rounds = option(args, '--rounds', 3)
  const json = args.includes('--json')
  const redis = await startRedis()
  const runs = new Map<string, Row[]>()
  try {
    const backends: Array<[string, () => Promise<Store>]> = [
      ['memory', async () => new MemoryStore({ maxKeys: 2_000_000 })],
      ['redis, autoPipelining off', async () => {
        const s = new RedisStore({ connection: redis.url, autoPipelining: false, commandTimeoutMs: 1000 })
        await s.waitReady(5000)
        return s
      }],
      ['redis, autoPipelining on', async () => {
        const s = new RedisStore({ connection: redis.url, autoPipelining: true, commandTimeoutMs: 1000 })
        await s.waitReady(5000)
        return s
      }],
    ]
    const cases: Array<[string, number]> = [['rateLimit', 1], ['rateLimit', 50], ['lockoutCheck', 50]]
    for (let round = 0; round < rounds; round++) {
      for (const [name, make] of backends) {
        for (const [op, concurrency] of cases) {
          const store = await make()
          const row = await measure(name, store, op, concurrency, durationMs)
          await store.close()
          const key = `${name}|${op}|${concurrency}`
          runs.set(key, [...(runs.get(key) ?? []), row])
        }
      }
    }
  } finally {
    await redis.stop()
  }
  const rows = [...runs.values()].map((list) => [...list].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(list.length / 2)]!)
  if (json) {
    console.log(JSON.stringify({ node: process.version, durationMs, rounds, rows }, null, 2))
    return
  }
  console.log(`node ${process.version}, ${durationMs} ms per run, median of ${rounds} runs, loopback redis-server`)
  console.log(['backend'.padEnd(26), 'op'.padEnd(13), 'conc'.padStart(4), 'decisions/s'.padStart(12), 'µs/decision'.padStart(12), 'mean µs'.padStart(9), 'p99 µs'.padStart(9)].join(' '))
  for (const r of rows) {
    console.log([
      r.backend.padEnd(26), r.op.padEnd(13), String(r.concurrency).padStart(4), String(r.perSecond).padStart(12),
      r.usPerDecision.toFixed(2).padStart(12), r.meanUs.toFixed(1).padStart(9), r.p99Us.toFixed(1).padStart(9),
    ].join(' '))
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
