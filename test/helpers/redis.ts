/**
 * Spawns throw-away `redis-server` processes for tests and benchmarks: loopback only, a free port, no persistence
 * (unless asked), a temporary working directory removed on stop. Never touches any Redis the machine already runs.
 *
 * `startRedis()` → one standalone server with `kill()` (SIGKILL, to simulate a crash) and `restart()` (same port,
 * same working directory). `startRedis({ args })` adds server arguments, e.g. `--appendonly yes` for persistence
 * that survives `restart()`, or `--enable-debug-command local` for `DEBUG SLEEP`.
 * `startRedisCluster(n)` → `n` primaries joined with `redis-cli --cluster create`, ready when every node reports
 * `cluster_state:ok`; `startRedisCluster(n, { replicas: r })` adds `r` replicas per primary (n × (1 + r) servers).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createServer, createConnection } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)
const HOST = '127.0.0.1'
const INSTALL_HINT = 'redis-server is required for these tests: install it with `apt-get install redis-server`'

export interface RedisHandle {
  readonly port: number
  readonly url: string
  /** Graceful stop (SIGTERM) and clean-up. Safe to call twice. */
  stop(): Promise<void>
  /** SIGKILL: the server dies without closing connections properly. */
  kill(): Promise<void>
  /** Starts the server again on the same port (after `kill()`). */
  restart(): Promise<void>
  /** SIGSTOP: the server keeps its connections open but answers nothing (a hung server). */
  pause(): void
  /** SIGCONT after `pause()`. */
  resume(): void
}

export interface RedisSentinelHandle {
  /** The monitored primary. */
  readonly primary: RedisHandle
  readonly sentinels: ReadonlyArray<{ host: string; port: number }>
  /** Name of the monitored primary. */
  readonly name: string
  stop(): Promise<void>
}

export interface RedisClusterHandle {
  readonly nodes: ReadonlyArray<{ host: string; port: number }>
  readonly servers: readonly RedisHandle[]
  stop(): Promise<void>
}

/** A port nobody listens on now: bind port 0, read the port, release it. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, HOST, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, HOST, () => srv.close(() => resolve(true)))
  })
}

/** Sends one inline command and returns the first reply line, or undefined when nothing answers. */
async function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: HOST, port })
    let data = ''
    const done = (v: string | undefined): void => {
      clearTimeout(timer)
      sock.destroy()
      resolve(v)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    sock.on('error', () => done(undefined))
    sock.on('connect', () => sock.write(`${command}\r\n`))
    sock.on('data', (chunk) => {
      data += chunk.toString('utf8')
      if (data.startsWith('$')) {
        const nl = data.indexOf('\r\n')
        const len = Number(data.slice(1, nl))
        if (data.length >= nl + 2 + len) done(data.slice(nl + 2, nl + 2 + len))
      } else if (data.includes('\r\n')) {
        done(data.slice(0, data.indexOf('\r\n')))
      }
    })
  })
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

// Servers still running when the test process exits (a failed assertion, a timeout) are killed with it.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL')
})

function spawnServer(port: number, dir: string, extra: readonly string[], config?: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const args = config
      ? [config, '--sentinel', '--port', String(port), '--bind', HOST, '--dir', dir, '--loglevel', 'warning']
      : ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no',
        '--dir', dir, '--protected-mode', 'yes', '--loglevel', 'warning', ...extra]
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    live.add(child)
    child.once('exit', () => live.delete(child))
    let stderr = ''
    child.stderr?.on('data', (c: Buffer) => { stderr += c.toString('utf8') })
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err)
    })
    child.once('spawn', () => {
      waitFor(`redis-server on port ${port}`, async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr.trim()}`)
        return (await rawCommand(port, 'PING')) === '+PONG'
      }, 10_000).then(() => resolve(child), reject)
    })
  })
}

async function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => child.once('exit', () => resolve()))
}

async function serverOn(port: number, dir: string, extra: readonly string[], ownsDir: boolean): Promise<RedisHandle> {
  let child: ChildProcess | undefined = await spawnServer(port, dir, extra)
  let stopped = false
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child
    child = undefined
    if (!c) return
    c.kill('SIGCONT')
    c.kill(signal)
    await waitExit(c)
  }
  return {
    port,
    url: `redis://${HOST}:${port}`,
    async stop() {
      if (stopped) return
      stopped = true
      await halt('SIGTERM')
      if (ownsDir) await rm(dir, { recursive: true, force: true })
    },
    async kill() {
      await halt('SIGKILL')
    },
    async restart() {
      await halt('SIGKILL')
      await waitFor(`port ${port} to be free`, () => portIsFree(port), 5000)
      child = await spawnServer(port, dir, extra)
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
  }
}

export interface RedisOptions {
  /** Extra `redis-server` arguments; they come last, so they override the defaults (`--appendonly yes`). */
  readonly args?: readonly string[]
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'rampart-redis-'))
  try {
    return await serverOn(await freePort(), dir, options.args ?? [], true)
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

/** A port whose cluster bus port (+10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 30000)
    if (taken.has(port) || taken.has(port + 10000)) continue
    if (await portIsFree(port) && await portIsFree(port + 10000)) {
      taken.add(port)
      taken.add(port + 10000)
      return port
    }
  }
  throw new Error('no free port pair for a Redis Cluster node')
}

export interface RedisClusterOptions {
  /** Replicas per primary (default 0). Which server ended up a replica: ask it (`ROLE`, `CLUSTER NODES`). */
  readonly replicas?: number
}

export async function startRedisCluster(n = 3, options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const replicas = options.replicas ?? 0
  const dir = await mkdtemp(join(tmpdir(), 'rampart-redis-cluster-'))
  const servers: RedisHandle[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const taken = new Set<number>()
    for (let i = 0; i < n * (1 + replicas); i++) {
      const port = await clusterPort(taken)
      servers.push(await serverOn(port, dir, [
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000',
      ], false))
    }
    try {
      await execFileP('redis-cli', [
        '--cluster', 'create', ...servers.map((s) => `${HOST}:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes',
      ], { timeout: 30_000 })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('redis-cli is required: install it with `apt-get install redis-server`')
      throw err
    }
    await waitFor('cluster_state:ok on every node', async () => {
      for (const s of servers) {
        const info = await rawCommand(s.port, 'CLUSTER INFO')
        if (!info?.includes('cluster_state:ok')) return false
      }
      return true
    }, 20_000)
    // Replicas attach after the slots are assigned: wait until every node knows all of them.
    await waitFor('every replica known to every node', async () => {
      for (const s of servers) {
        const nodes = await rawCommand(s.port, 'CLUSTER NODES')
        if ((nodes?.match(/[ ,]slave /g)?.length ?? 0) < n * replicas) return false
      }
      return true
    }, 20_000)
    return { nodes: servers.map((s) => ({ host: HOST, port: s.port })), servers, stop: stopAll }
  } catch (err) {
    await stopAll()
    throw err
  }
}

/** A primary and one Sentinel (`redis-server --sentinel`) monitoring it under the name `main`. */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const primary = await startRedis()
  const dir = await mkdtemp(join(tmpdir(), 'rampart-redis-sentinel-'))
  let sentinel: ChildProcess | undefined
  try {
    const port = await freePort()
    const config = join(dir, 'sentinel.conf')
    // Sentinel rewrites its config file, so it must be a writable file of its own.
    await writeFile(config, [
      `sentinel monitor main ${HOST} ${primary.port} 1`,
      'sentinel down-after-milliseconds main 1000',
      'sentinel failover-timeout main 2000',
      '',
    ].join('\n'))
    sentinel = await spawnServer(port, dir, [], config)
    await waitFor('the sentinel to know the primary', async () => {
      const reply = await rawCommand(port, 'SENTINEL get-master-addr-by-name main')
      return reply !== undefined && !reply.startsWith('*-1') && !reply.startsWith('-')
    }, 10_000)
    const child = sentinel
    return {
      primary,
      sentinels: [{ host: HOST, port }],
      name: 'main',
      async stop() {
        child.kill('SIGTERM')
        await waitExit(child)
        await primary.stop()
        await rm(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    sentinel?.kill('SIGKILL')
    await primary.stop()
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
