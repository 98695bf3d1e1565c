/**
 * Child processes of a benchmark run: started in their own process group, remembered, and always stopped.
 *
 * Contract: `spawnChild()` starts a command detached into a new process group, so stopping it (SIGTERM to the
 * group, then SIGKILL after a grace period) also stops anything it forked, such as nginx workers or cluster
 * workers. Every child is registered until it exits; `stopAllChildren()` stops whatever is left and is what the
 * run calls on error, SIGINT and SIGTERM. A child's stdout and stderr go to its own log file, not through a pipe,
 * so a chatty target (an access log) costs the load generator, which shares this process, nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, openSync, closeSync, fstatSync, readSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import net from 'node:net'
import https from 'node:https'
import http from 'node:http'

const TAIL_BYTES = 4096

export interface Child {
  readonly name: string
  readonly pid: number
  readonly process: ChildProcess
  readonly logFile: string
  /** Last few KB of the child's output, for error messages. */
  output(): string
  exited(): boolean
  stop(graceMs?: number): Promise<void>
}

const live = new Set<Child>()

export function spawnChild(
  name: string,
  command: string,
  args: readonly string[],
  options: { logFile: string, env?: NodeJS.ProcessEnv, cwd?: string },
): Child {
  const fd = openSync(options.logFile, 'a')
  let proc: ChildProcess
  try {
    proc = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      cwd: options.cwd,
    })
  } finally {
    closeSync(fd) // the child holds its own copy
  }
  let spawnError = ''
  let exitedFlag = false
  const exitPromise = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      exitedFlag = true
      live.delete(child)
      resolve()
    })
    proc.once('error', (err) => {
      spawnError = err.message
      exitedFlag = true
      live.delete(child)
      resolve()
    })
  })
  const child: Child = {
    name,
    pid: proc.pid ?? -1,
    process: proc,
    logFile: options.logFile,
    output: () => `${readTail(options.logFile)}${spawnError === '' ? '' : `\n${spawnError}`}`.trim(),
    exited: () => exitedFlag,
    async stop(graceMs = 5000) {
      if (exitedFlag || proc.pid === undefined) return
      signalGroup(proc.pid, 'SIGTERM')
      const timer = setTimeout(() => signalGroup(proc.pid ?? -1, 'SIGKILL'), graceMs)
      await exitPromise
      clearTimeout(timer)
      // The leader is gone; make sure no forked process of its group outlives it.
      signalGroup(proc.pid, 'SIGKILL')
    },
  }
  if (proc.pid !== undefined) live.add(child)
  return child
}

/** The last `TAIL_BYTES` of a file, or '' when it cannot be read. */
export function readTail(file: string): string {
  let fd: number | undefined
  try {
    fd = openSync(file, 'r')
    const size = fstatSync(fd).size
    const length = Math.min(size, TAIL_BYTES)
    const buffer = Buffer.alloc(length)
    readSync(fd, buffer, 0, length, size - length)
    return buffer.toString('utf8')
  } catch {
    return ''
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return
  try {
    process.kill(-pid, signal)
  } catch {
    // The group no longer exists.
  }
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(2000)))
}

/** Synchronous last resort for `process.on('exit')`: no waiting is possible there. */
export function killAllChildrenNow(): void {
  for (const c of live) signalGroup(c.pid, 'SIGKILL')
}

/** A free TCP port on 127.0.0.1 (bound then released; loopback races are unlikely within a run). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface ProbeResult {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** One GET on a fresh connection. For https, the bench's self-signed certificate is accepted. */
export function probe(url: string, hostHeader: string, timeoutMs = 2000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const isHttps = target.protocol === 'https:'
    const options: https.RequestOptions = {
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      headers: { host: hostHeader },
      agent: false,
      timeout: timeoutMs,
      ...(isHttps ? { rejectUnauthorized: false, servername: hostHeader.split(':')[0] } : {}),
    }
    const req = (isHttps ? https : http).get(options, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

/**
 * Waits until `url` answers a GET (any status) or the child exits or `timeoutMs` passes. Throws with the child's
 * output tail so a target that fails to start says why.
 */
export async function waitUntilServing(child: Child, url: string, hostHeader: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  while (Date.now() < deadline) {
    if (child.exited()) {
      throw new Error(`${child.name} exited during startup (exit ${String(child.process.exitCode)}): ${child.output() || 'no output'}`)
    }
    try {
      await probe(url, hostHeader, 1000)
      return
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${child.name} did not serve ${url} within ${timeoutMs} ms (${lastError}): ${child.output() || 'no output'}`)
}

/** Finds an executable on PATH; `extraDirs` covers sbin directories that a non-root PATH often lacks. */
export function findExecutable(name: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}
