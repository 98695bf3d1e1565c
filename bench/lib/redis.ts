/**
 * A private redis-server for a bench target or the soak: one fixed loopback port for its whole life, so it can be
 * stopped and started again while Rampart keeps the same `store.redis` URL, the way a production Redis restarts
 * under a gateway.
 *
 * Contract: `start()` spawns `redis-server --bind 127.0.0.1 --port <port> --save '' --appendonly no` (nothing is
 * persisted, so a restart comes back empty) through `spawnChild` (own process group, stopped with the run) and
 * resolves once it answers PING, or throws within 10 s with its output. `stop()` sends SIGTERM and waits for the
 * exit. `command()` sends one inline command and returns the first reply line (`:42`, `+PONG`), or undefined when
 * nothing answers within the timeout. Never touches any other Redis.
 */
import net from 'node:net'
import { join } from 'node:path'
import { findExecutable, freePort, spawnChild, type Child } from './child.js'

const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 10_000

/** One inline command on a fresh connection; the first reply line, or undefined. */
export function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST)
    let data = ''
    const done = (reply: string | undefined): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reply)
    }
    const timer = setTimeout(() => done(undefined), timeoutMs)
    socket.on('error', () => done(undefined))
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8')
      const end = data.indexOf('\r\n')
      if (end >= 0) done(data.slice(0, end))
    })
  })
}

export class BenchRedis {
  #child: Child | undefined
  #starts = 0

  private constructor(private readonly executable: string, readonly port: number, private readonly dir: string, private readonly name: string) {}

  /**
   * Finds redis-server and reserves a free port; undefined when redis-server is not installed (the caller says
   * what to install). `name` names its processes and its log file in `dir`.
   */
  static async create(dir: string, name = 'redis'): Promise<BenchRedis | undefined> {
    const executable = findExecutable('redis-server', ['/usr/sbin', '/usr/local/bin'])
    return executable === undefined ? undefined : new BenchRedis(executable, await freePort(), dir, name)
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`
  }

  get pid(): number | undefined {
    return this.#child?.exited() === false ? this.#child.pid : undefined
  }

  async start(): Promise<void> {
    this.#starts += 1
    const child = spawnChild(`${this.name}-${this.#starts}`, this.executable, [
      '--bind', HOST, '--port', String(this.port), '--save', '', '--appendonly', 'no', '--dir', this.dir,
    ], { logFile: join(this.dir, `${this.name}.log`) })
    this.#child = child
    const deadline = Date.now() + START_TIMEOUT_MS
    while (await redisCommand(this.port, 'PING', 500) !== '+PONG') {
      if (child.exited() || Date.now() > deadline) {
        await child.stop(1000)
        throw new Error(`redis-server did not answer on port ${this.port} within ${START_TIMEOUT_MS} ms: ${child.output() || 'no output'}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** SIGTERM, then wait for the exit (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    await this.#child?.stop()
    this.#child = undefined
  }
}
